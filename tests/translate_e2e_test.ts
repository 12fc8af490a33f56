/**
 * Kubernetes Pod manifests, run unchanged on a real containerd: what the
 * containers see is what kubelet would have given them.
 */
import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import type { Cri, PodSandbox } from "../lib/runtime/cri.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { startAgent } from "../testing/agent_process.ts";
import { realRuntimeTest } from "../testing/containerd_harness.ts";
import { waitFor } from "../testing/wait.ts";

const decoder = new TextDecoder();
const INSTANCE = "translate-e2e";

function kubeadmPod(image: string, hostData: string): string {
  return `# A kubeadm-style static pod.
apiVersion: v1
kind: Pod
metadata:
  name: etcd-lite
  namespace: kube-system
  labels:
    component: etcd-lite
    tier: control-plane
spec:
  hostNetwork: true
  priorityClassName: system-node-critical
  terminationGracePeriodSeconds: 2
  securityContext:
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: main
      image: ${image}
      command: ["sh", "-c", "echo $(GREETING) > /data/hello.txt; trap 'exit 0' TERM; sleep 3600 & wait"]
      env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: GREETING
          value: "hello from $(POD_NAME)"
      resources:
        requests:
          cpu: 100m
          memory: 32Mi
        limits:
          cpu: 500m
          memory: 64Mi
      livenessProbe:
        exec:
          command: ["true"]
      volumeMounts:
        - name: data
          mountPath: /data
    - name: user
      image: ${image}
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
      securityContext:
        runAsUser: 1234
        runAsGroup: 2345
  volumes:
    - name: data
      hostPath:
        path: ${hostData}
        type: DirectoryOrCreate
`;
}

function sharedPod(image: string): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: shared
spec:
  terminationGracePeriodSeconds: 2
  hostAliases:
    - ip: 198.18.255.1
      hostnames: [db.internal]
  containers:
    - name: writer
      image: ${image}
      command: ["sh", "-c", "echo written > /cache/note; echo ip=$(MY_IP) > /cache/ip; trap 'exit 0' TERM; sleep 3600 & wait"]
      env:
        - name: MY_IP
          valueFrom:
            fieldRef:
              fieldPath: status.podIP
      volumeMounts:
        - name: cache
          mountPath: /cache
    - name: reader
      image: ${image}
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
      volumeMounts:
        - name: cache
          mountPath: /cache
          readOnly: true
        - name: scratch
          mountPath: /scratch
  volumes:
    - name: cache
      emptyDir: {}
    - name: scratch
      emptyDir:
        medium: Memory
        sizeLimit: 8Mi
`;
}

async function running(cri: Cri, namespace: string, name: string): Promise<PodSandbox> {
  return await waitFor(`pod ${namespace}/${name} running`, async () => {
    const [sb, ...more] = await cri.listPodSandbox({
      state: "SANDBOX_READY",
      labelSelector: {
        "tinylet/instance": INSTANCE,
        [KEYS.podName]: name,
        [KEYS.podNamespace]: namespace,
      },
    });
    if (!sb || more.length > 0) return undefined;
    const cs = await cri.listContainers({ podSandboxId: sb.id });
    return cs.length > 0 && cs.every((c) => c.state === "CONTAINER_RUNNING") && sb;
  }, { timeoutMs: 30_000 });
}

async function exec(cri: Cri, sandbox: PodSandbox, container: string, cmd: string[]) {
  const [c] = await cri.listContainers({
    podSandboxId: sandbox.id,
    labelSelector: { [KEYS.containerName]: container },
  });
  assert.ok(c, `container ${container}`);
  const r = await cri.execSync(c.id, cmd, 10);
  return {
    out: decoder.decode(r.stdout).trim(),
    err: decoder.decode(r.stderr).trim(),
    code: r.exitCode,
  };
}

/** Reads a cgroup file inside the container: v1 path first, then v2. */
async function cgroup(cri: Cri, sb: PodSandbox, v1: string, v2: string) {
  const r = await exec(cri, sb, "main", [
    "sh",
    "-c",
    `if [ -e /sys/fs/cgroup/cgroup.controllers ]; then echo v2 $(cat /sys/fs/cgroup/${v2}); else echo v1 $(cat /sys/fs/cgroup/${v1}); fi`,
  ]);
  assert.equal(r.code, 0, r.err);
  return r.out;
}

realRuntimeTest("Kubernetes Pod manifests run unchanged on a real containerd", async (t, rc) => {
  const dir = `${rc.dir}/translate`;
  const manifests = `${dir}/manifests`;
  const hostData = `${dir}/host/etcd-data`;
  await Deno.mkdir(manifests, { recursive: true });
  using cri = connectCri(rc.socket);
  await Deno.writeTextFile(`${manifests}/etcd.yaml`, kubeadmPod(rc.busyboxImage, hostData));
  await Deno.writeTextFile(`${manifests}/shared.yaml`, sharedPod(rc.busyboxImage));
  await using agent = startAgent([
    "--socket",
    rc.socket,
    "--manifests",
    manifests,
    "--instance",
    INSTANCE,
    "--root",
    `${dir}/root`,
    "--pod-log-root",
    `${dir}/logs`,
  ]);

  let etcd: PodSandbox | undefined;
  await t.step(
    "a kubeadm-style pod starts; a field tinylet does not apply is warned about",
    async () => {
      etcd = await running(cri, "kube-system", "etcd-lite");
      assert.equal(etcd.labels["component"], "etcd-lite");
      const status = await cri.podSandboxStatus(etcd.id);
      assert.equal(status.ip, "", "a host-network pod has no pod IP of its own");
      const warnings = agent.lines.filter((l) => l.includes("warning:"));
      assert.ok(
        warnings.some((l) =>
          l.includes("etcd.yaml:12:3: warning:") && l.includes("spec.priorityClassName")
        ),
        warnings.join("\n"),
      );
      assert.ok(
        !warnings.some((l) => l.includes("livenessProbe")),
        "the livenessProbe is run, not warned about",
      );
    },
  );

  await t.step(
    "the hostPath directory is created and what the container writes appears on the host",
    async () => {
      const text = await waitFor("hello.txt on the host", async () => {
        const t = await Deno.readTextFile(`${hostData}/hello.txt`).catch(() => "");
        return t !== "" && t;
      });
      assert.equal(text, "hello from etcd-lite\n");
      assert.equal((await Deno.stat(hostData)).mode! & 0o777, 0o755 & ~Deno.umask());
    },
  );

  await t.step("memory and cpu limits are in the container's cgroup", async () => {
    const mem = await cgroup(cri, etcd!, "memory/memory.limit_in_bytes", "memory.max");
    // 64Mi = 64 × 1024 × 1024.
    assert.match(mem, /^v[12] 67108864$/);
    const quota = await cgroup(cri, etcd!, "cpu/cpu.cfs_quota_us", "cpu.max");
    // 500m → quota 500 × 100000 / 1000 = 50000 per period of 100000.
    assert.ok(quota === "v1 50000" || quota === "v2 50000 100000", quota);
    const shares = await cgroup(cri, etcd!, "cpu/cpu.shares", "cpu.weight");
    // 100m → shares 100 × 1024 / 1000 = 102; on v2 the runtime turns that into
    // weight 1 + (102 - 2) × 9999 / 262142 = 4 (rounded down).
    assert.ok(shares === "v1 102" || shares === "v2 4", shares);
    console.log(`cgroup: ${mem}, ${quota}, ${shares}`);
  });

  await t.step("runAsUser and runAsGroup are the identity inside the container", async () => {
    const r = await exec(cri, etcd!, "user", ["sh", "-c", "echo $(id -u):$(id -g)"]);
    assert.equal(r.out, "1234:2345");
  });

  await t.step("env values expand references to earlier variables and field refs", async () => {
    const r = await exec(cri, etcd!, "main", ["sh", "-c", "echo $GREETING"]);
    assert.equal(r.out, "hello from etcd-lite");
  });

  await t.step(
    "containers share an emptyDir; a Memory emptyDir is a tmpfs of its size limit",
    async () => {
      const shared = await running(cri, "default", "shared");
      const note = await waitFor("the reader to see the writer's file", async () => {
        const r = await exec(cri, shared, "reader", ["cat", "/cache/note"]);
        return r.code === 0 && r.out;
      });
      assert.equal(note, "written");
      const ro = await exec(cri, shared, "reader", ["sh", "-c", "echo x > /cache/other"]);
      assert.notEqual(ro.code, 0, "a readOnly mount refuses writes");
      const df = await exec(cri, shared, "reader", ["sh", "-c", "grep ' /scratch ' /proc/mounts"]);
      assert.match(df.out, /^tmpfs \/scratch tmpfs .*size=8192k/);
      const status = await cri.podSandboxStatus(shared.id);
      const ip = await exec(cri, shared, "reader", ["cat", "/cache/ip"]);
      assert.equal(ip.out, `ip=${status.ip}`);
      const hosts = await exec(cri, shared, "reader", ["cat", "/etc/hosts"]);
      assert.match(hosts.out, new RegExp(`^${status.ip.replaceAll(".", "\\.")}\\tshared$`, "m"));
      assert.match(hosts.out, /^198\.18\.255\.1\tdb\.internal$/m);
    },
  );

  await t.step(
    "removing the files removes the pods and their state, not the hostPath data",
    async () => {
      const uid = etcd!.metadata.uid;
      await Deno.remove(`${manifests}/etcd.yaml`);
      await Deno.remove(`${manifests}/shared.yaml`);
      await waitFor(
        "the pods gone",
        async () =>
          (await cri.listPodSandbox({ labelSelector: { "tinylet/instance": INSTANCE } })).length ===
            0,
        {
          timeoutMs: 30_000,
        },
      );
      await assert.rejects(Deno.stat(`${dir}/root/pods/${uid}`), Deno.errors.NotFound);
      assert.equal(await Deno.readTextFile(`${hostData}/hello.txt`), "hello from etcd-lite\n");
    },
  );
  assert.equal(await agent.stop(), 0);
});
