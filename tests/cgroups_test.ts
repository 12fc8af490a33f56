/**
 * cgroup v2: the mode as kubelet detects it, and what it changes. On a v2 host every container
 * gets `unified: { "memory.oom.group": "1" }`; on v1 none does. The mode never changes a
 * pod's identity, so a host that changes mode (or an upgrade to this code) restarts nothing.
 */
import { COMPILE_PERMISSIONS } from "../testing/agent_args.ts";
import assert from "node:assert/strict";
import { CGROUP_MOUNT_POINT, detectCgroupV2, isCgroupV2Mountinfo } from "../lib/node/cgroups.ts";
import { connectCri } from "../lib/runtime/grpc.ts";
import type { ContainerConfig, Cri } from "../lib/runtime/cri.ts";
import { createLogger } from "../lib/base/log.ts";
import { parseManifest } from "../lib/manifest/parse.ts";
import { Reconciler } from "../lib/reconcile/reconciler.ts";
import { ManifestSource } from "../lib/manifest/source.ts";
import { type TranslateOptions, translatePod } from "../lib/translate/desired_pod.ts";
import { buildContainerConfig } from "../lib/translate/container_config.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { serveCri } from "../testing/fake_cri_server.ts";

const IMAGE = "docker.io/library/busybox:1.35";

/** /proc/self/mountinfo of a systemd host in unified mode (Debian 12, Ubuntu 22.04, Fedora). */
const V2 = `22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
23 28 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
28 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
29 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;

/** A hybrid host, as this machine: a tmpfs at /sys/fs/cgroup, v1 controllers, cgroup2 aside. */
const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

/** A legacy host: v1 controllers only. */
const V1 = `25 21 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,memory
`;

const mountinfoCases: [string, string, boolean][] = [
  ["a unified host is v2", V2, true],
  ["a hybrid host is v1, its cgroup2 being elsewhere", HYBRID, false],
  ["a legacy host is v1", V1, false],
  ["no cgroup mount at all is v1", "28 1 8:1 / / rw - ext4 /dev/sda1 rw\n", false],
  ["an empty table is v1", "", false],
  [
    "the last mount at the path wins: cgroup2 over a tmpfs is v2",
    "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n" +
    "50 31 0:40 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
    true,
  ],
  [
    "the last mount at the path wins: a tmpfs over cgroup2 is v1",
    "29 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n" +
    "50 29 0:40 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n",
    false,
  ],
  [
    "several optional fields before the separator",
    "29 22 0:26 / /sys/fs/cgroup rw shared:9 master:3 propagate_from:2 - cgroup2 none rw\n",
    true,
  ],
  [
    "cgroup2 mounted elsewhere only is v1",
    "29 22 0:26 / /run/cgroup2 rw - cgroup2 cgroup2 rw\n",
    false,
  ],
  [
    "a mount point that only starts with the path does not count",
    "29 22 0:26 / /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw\n",
    false,
  ],
  ["a truncated line is skipped", "29 22 0:26 / /sys/fs/cgroup\n", false],
];

for (const [name, text, want] of mountinfoCases) {
  Deno.test(`isCgroupV2Mountinfo: ${name}`, () => {
    assert.equal(isCgroupV2Mountinfo(text), want);
  });
}

Deno.test("detectCgroupV2: an unreadable mount table counts as v1, as libcontainer assumes", async () => {
  assert.equal(
    await detectCgroupV2(() => Promise.reject(new Deno.errors.PermissionDenied("denied"))),
    false,
  );
  assert.equal(await detectCgroupV2(() => Promise.resolve(V2)), true);
});

Deno.test("detectCgroupV2 agrees with statfs of /sys/fs/cgroup on this host", async () => {
  // `stat -f` is statfs(2), what kubelet uses: type cgroup2fs is CGROUP2_SUPER_MAGIC.
  const out = await new Deno.Command("stat", { args: ["-f", "-c", "%T", CGROUP_MOUNT_POINT] })
    .output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const type = new TextDecoder().decode(out.stdout).trim();
  assert.equal(await detectCgroupV2(), type === "cgroup2fs", `statfs type ${type}`);
});

const POD = `apiVersion: v1
kind: Pod
metadata:
  name: oom
spec:
  initContainers:
    - name: init
      image: ${IMAGE}
    - name: sidecar
      image: ${IMAGE}
      restartPolicy: Always
  containers:
    - name: limited
      image: ${IMAGE}
      resources:
        limits:
          memory: 64Mi
    - name: unlimited
      image: ${IMAGE}
`;

const BASE: TranslateOptions = {
  instance: "default",
  podLogRoot: "/var/log/pods",
  root: "/var/lib/tinylet",
  nodeName: "node1",
  hostDns: { servers: [], searches: [], options: [] },
};

async function translated(options: TranslateOptions) {
  const m = parseManifest("/etc/tinylet/manifests/oom.yaml", POD);
  const pod = await translatePod(m.pods[0]!.pod, "/etc/tinylet/manifests/oom.yaml", options);
  const facts = { podIPs: ["198.18.0.5"], attempt: 0 };
  const configs = Object.fromEntries(
    pod.containers.map((c) => [c.name, buildContainerConfig(pod, c.name, facts)]),
  );
  return { pod, configs };
}

Deno.test("on cgroup v2 every container gets memory.oom.group 1, with or without a memory limit", async () => {
  const { configs } = await translated({ ...BASE, cgroupV2: true });
  for (const name of ["init", "sidecar", "limited", "unlimited"]) {
    assert.deepEqual(configs[name]?.linux?.resources?.unified, { "memory.oom.group": "1" }, name);
  }
  assert.equal(configs["limited"]?.linux?.resources?.memoryLimitInBytes, 64 * 1024 * 1024);
});

Deno.test("on cgroup v1, and when the mode is not given, no container gets unified", async () => {
  for (const options of [{ ...BASE, cgroupV2: false }, BASE]) {
    const { configs } = await translated(options);
    for (const [name, c] of Object.entries(configs)) {
      assert.ok(c.linux?.resources, name);
      assert.equal("unified" in c.linux.resources, false, name);
    }
  }
});

Deno.test("the cgroup mode changes no hash: spec hash, UID and container hashes are the same", async () => {
  const v1 = await translated({ ...BASE, cgroupV2: false });
  const v2 = await translated({ ...BASE, cgroupV2: true });
  assert.equal(v2.pod.hash, v1.pod.hash);
  assert.equal(v2.pod.uid, v1.pod.uid);
  assert.deepEqual(v2.pod.containers.map((c) => c.hash), v1.pod.containers.map((c) => c.hash));
  assert.deepEqual(
    Object.values(v2.configs).map((c) => c.annotations),
    Object.values(v1.configs).map((c) => c.annotations),
  );
  assert.deepEqual(v2.pod.sandbox, v1.pod.sandbox);
});

function reconcilerOn(
  dir: string,
  cri: Cri,
  detectCgroupV2: () => Promise<boolean>,
): Reconciler {
  return new Reconciler({
    cri,
    source: new ManifestSource(`${dir}/manifests`),
    log: createLogger({ write: () => {} }),
    socket: `${dir}/cri.sock`,
    nodeName: "node1",
    readHostDns: () => Promise.resolve({ servers: [], searches: [], options: [] }),
    detectCgroupV2,
    instance: "default",
    root: `${dir}/root`,
    podLogRoot: `${dir}/logs`,
    parallel: 4,
    intervalMs: 2000,
  });
}

Deno.test("pods started under cgroup v1 are kept by an agent that finds cgroup v2, which asks once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-cgroup-" });
  try {
    await Deno.mkdir(`${dir}/manifests`);
    await Deno.writeTextFile(`${dir}/manifests/oom.yaml`, POD);
    const cri = new FakeCri({ images: [IMAGE] });
    const before = reconcilerOn(dir, cri, () => Promise.resolve(false));
    // The init container first; once it has finished, the sidecar and the regular containers.
    await before.pass();
    const [init] = await cri.listContainers({ labelSelector: { [KEYS.containerName]: "init" } });
    assert.ok(init);
    cri.exitContainer(init.id, 0);
    await before.pass();
    await before.stop();
    const created = cri.calls.filter((c) => c.method === "CreateContainer");
    assert.equal(created.length, 4, "init, sidecar and the two regular containers start");
    for (const c of created) {
      const config = (c.arg as { config: ContainerConfig }).config;
      assert.equal(config.linux?.resources?.unified, undefined, config.metadata.name);
    }

    let asked = 0;
    const after = reconcilerOn(dir, cri, () => {
      asked++;
      return Promise.resolve(true);
    });
    cri.calls.length = 0;
    const r1 = await after.pass();
    const r2 = await after.pass();
    await after.stop();
    assert.deepEqual([...r1.actions, ...r2.actions], [], "nothing to do: no pod is restarted");
    const changing = /^(Run|Stop|Remove|Create|Start)/;
    assert.deepEqual(cri.methods().filter((m) => changing.test(m)), []);
    assert.equal(asked, 1, "the mode is detected once");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("on cgroup v2 the agent's CreateContainer carries unified over gRPC to the runtime", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-cgroup-" });
  try {
    await Deno.mkdir(`${dir}/manifests`);
    await Deno.writeTextFile(
      `${dir}/manifests/web.yaml`,
      `name: web\ncontainers:\n  - name: web\n    image: ${IMAGE}\n`,
    );
    const fake = new FakeCri({ images: [IMAGE] });
    await using _server = await serveCri(fake, `${dir}/cri.sock`);
    using cri = connectCri(`${dir}/cri.sock`);
    const r = reconcilerOn(dir, cri, () => Promise.resolve(true));
    const result = await r.pass();
    await r.stop();
    assert.deepEqual(result.results.map((x) => x.error?.message), [undefined]);
    // What the fake received was decoded from the wire by the gRPC server.
    const create = fake.calls.find((c) => c.method === "CreateContainer");
    const config = (create?.arg as { config: ContainerConfig }).config;
    assert.deepEqual(config.linux?.resources?.unified, { "memory.oom.group": "1" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the mount table is read under the shipped permissions, not only under --allow-all", async () => {
  // Deno refuses /proc under plain read permission: the cgroup mode would always read as v1.
  const script = `import { readMountinfo } from ${
    JSON.stringify(new URL("../lib/node/mount_table.ts", import.meta.url).href)
  };
const text = await readMountinfo();
console.log(text.split("\\n").some((l) => l.split(" ")[4] === "/sys/fs/cgroup"));`;
  // `deno eval` would run with every permission: a file, run as the agent is.
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(file, script);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...COMPILE_PERMISSIONS, file],
    stdout: "piped",
    stderr: "piped",
  }).output().finally(() => Deno.remove(file));
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "true");
});
