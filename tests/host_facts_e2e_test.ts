/**
 * Host facts on a real containerd: the cgroup mode (a cgroup v1 host gets no `unified`, which
 * its runtime refuses) and the host's resolv.conf (a file kubelet refuses creates no sandbox;
 * once fixed, its settings reach the container).
 */
import assert from "node:assert/strict";
import { CGROUP_MOUNT_POINT, detectCgroupV2 } from "../lib/node/cgroups.ts";
import { connectCri } from "../lib/runtime/grpc.ts";
import type { ContainerConfig, Cri, PodSandboxConfig } from "../lib/runtime/cri.ts";
import { createLogger } from "../lib/base/log.ts";
import { Reconciler } from "../lib/reconcile/reconciler.ts";
import { readHostResolvConf } from "../lib/translate/dns.ts";
import { ManifestSource } from "../lib/manifest/source.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { startAgent } from "../testing/agent_process.ts";
import { agentFlags, denoRunArgs } from "../testing/agent_args.ts";
import { realRuntimeTest } from "../testing/containerd_harness.ts";
import { waitFor } from "../testing/wait.ts";

const decoder = new TextDecoder();

/** What statfs(2) says /sys/fs/cgroup is, as kubelet asks: `cgroup2fs` on a v2 host. */
async function statfsType(): Promise<string> {
  const out = await new Deno.Command("stat", { args: ["-f", "-c", "%T", CGROUP_MOUNT_POINT] })
    .output();
  assert.ok(out.success, decoder.decode(out.stderr));
  return decoder.decode(out.stdout).trim();
}

/** The OCI spec containerd made for container `id`. */
async function ociSpec(socket: string, id: string) {
  const out = await new Deno.Command("ctr", {
    args: ["--address", socket, "-n", "k8s.io", "containers", "info", id],
  }).output();
  assert.ok(out.success, decoder.decode(out.stderr));
  return JSON.parse(decoder.decode(out.stdout)).Spec as {
    linux: { resources: { unified?: Record<string, string>; memory?: { limit?: number } } };
  };
}

async function runningContainer(cri: Cri, instance: string, pod: string) {
  return await waitFor(`pod ${pod} running`, async () => {
    const [c] = await cri.listContainers({
      state: "CONTAINER_RUNNING",
      labelSelector: { "tinylet/instance": instance, [KEYS.podName]: pod },
    });
    return c;
  }, { timeoutMs: 30_000 });
}

realRuntimeTest(
  "Host facts: the cgroup mode and the host's resolv.conf, on a real containerd",
  async (t, rc) => {
    using cri = connectCri(rc.socket);
    const v2 = (await statfsType()) === "cgroup2fs";

    await t.step("the agent finds the cgroup mode statfs finds", async () => {
      assert.equal(await detectCgroupV2(), v2);
      console.log(`cgroup mode of this host: ${v2 ? "v2" : "v1"}`);
    });

    await t.step(
      "the agent gives a container memory.oom.group on cgroup v2 only, and it runs",
      async () => {
        const dir = `${rc.dir}/agent`;
        await Deno.mkdir(`${dir}/manifests`, { recursive: true });
        await Deno.writeTextFile(
          `${dir}/manifests/limited.yaml`,
          `name: limited
terminationGracePeriodSeconds: 1
containers:
  - name: app
    image: ${rc.busyboxImage}
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    resources:
      limits:
        memory: 64Mi
`,
        );
        await using agent = startAgent(agentFlags({
          socket: rc.socket,
          manifests: `${dir}/manifests`,
          instance: "cgroup-e2e",
          root: `${dir}/root`,
          podLogRoot: `${dir}/logs`,
        }));
        const c = await runningContainer(cri, "cgroup-e2e", "limited");
        const spec = await ociSpec(rc.socket, c.id);
        assert.equal(spec.linux.resources.memory?.limit, 64 * 1024 * 1024);
        assert.deepEqual(
          spec.linux.resources.unified,
          v2 ? { "memory.oom.group": "1" } : undefined,
        );
        if (v2) {
          const r = await cri.execSync(c.id, ["cat", "/sys/fs/cgroup/memory.oom.group"], 10);
          assert.equal(decoder.decode(r.stdout).trim(), "1");
        }
        await Deno.remove(`${dir}/manifests/limited.yaml`);
        await waitFor(
          "the pod gone",
          async () =>
            (await cri.listPodSandbox({ labelSelector: { "tinylet/instance": "cgroup-e2e" } }))
              .length === 0,
          { timeoutMs: 30_000 },
        );
        assert.equal(await agent.stop(), 0);
      },
    );

    await t.step(
      "the runtime itself: unified is refused at start on cgroup v1, applied on cgroup v2",
      async () => {
        const uid = crypto.randomUUID();
        const sandbox: PodSandboxConfig = {
          metadata: { name: "unified", namespace: "probe", uid, attempt: 0 },
          logDirectory: `${rc.dir}/probe-logs/${uid}`,
          linux: {
            securityContext: {
              namespaceOptions: { network: "NODE", pid: "CONTAINER", ipc: "POD" },
            },
          },
        };
        await Deno.mkdir(sandbox.logDirectory!, { recursive: true });
        const sandboxId = await cri.runPodSandbox(sandbox);
        try {
          const config: ContainerConfig = {
            metadata: { name: "with-unified", attempt: 0 },
            image: { image: rc.busyboxImage },
            command: ["sleep", "3600"],
            logPath: "with-unified.log",
            linux: { resources: { unified: { "memory.oom.group": "1" } } },
          };
          // containerd copies it into the OCI spec without looking at the host...
          const id = await cri.createContainer(sandboxId, config, sandbox);
          assert.deepEqual((await ociSpec(rc.socket, id)).linux.resources.unified, {
            "memory.oom.group": "1",
          });
          // ...and runc decides.
          if (v2) {
            await cri.startContainer(id);
            const r = await cri.execSync(id, ["cat", "/sys/fs/cgroup/memory.oom.group"], 10);
            assert.equal(decoder.decode(r.stdout).trim(), "1");
          } else {
            await assert.rejects(cri.startContainer(id), /cannot use unified on cgroup v1/);
          }
        } finally {
          await cri.stopPodSandbox(sandboxId);
          await cri.removePodSandbox(sandboxId);
        }
      },
    );

    await t.step(
      "a bare nameserver line creates no sandbox; once fixed, the pod runs with the file's settings",
      async () => {
        const dir = `${rc.dir}/dns`;
        await Deno.mkdir(`${dir}/manifests`, { recursive: true });
        const resolvConf = `${dir}/resolv.conf`;
        await Deno.writeTextFile(resolvConf, "nameserver 192.0.2.53\nnameserver\n");
        await Deno.writeTextFile(
          `${dir}/manifests/dns.yaml`,
          `name: dns
terminationGracePeriodSeconds: 1
containers:
  - name: app
    image: ${rc.busyboxImage}
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
`,
        );
        const lines: string[] = [];
        const reconciler = new Reconciler({
          cri,
          source: new ManifestSource(`${dir}/manifests`),
          log: createLogger({
            write: (l) => lines.push(l),
          }),
          socket: rc.socket,
          nodeName: "node1",
          readHostDns: () => readHostResolvConf(resolvConf),
          instance: "dns-e2e",
          root: `${dir}/root`,
          podLogRoot: `${dir}/logs`,
          parallel: 2,
          intervalMs: 2000,
        });
        try {
          const refused = await reconciler.pass();
          assert.match(
            refused.results[0]?.error?.message ?? "",
            /^Fix .*\/resolv\.conf: line 2: add an address to this "nameserver" line or remove it/,
          );
          assert.deepEqual(
            await cri.listPodSandbox({ labelSelector: { "tinylet/instance": "dns-e2e" } }),
            [],
          );
          assert.equal(reconciler.events("default/dns")[0]?.reason, "FailedCreatePodSandBox");

          await Deno.writeTextFile(
            resolvConf,
            "nameserver 192.0.2.53\nsearch corp.example\noptions ndots:3\n",
          );
          const fixed = await reconciler.pass();
          assert.deepEqual(fixed.results.map((r) => r.error?.message), [undefined]);
          const c = await runningContainer(cri, "dns-e2e", "dns");
          const r = await cri.execSync(c.id, ["cat", "/etc/resolv.conf"], 10);
          const inside = decoder.decode(r.stdout);
          assert.match(inside, /^nameserver 192\.0\.2\.53$/m);
          assert.match(inside, /^search corp\.example$/m);
          assert.match(inside, /^options ndots:3$/m);
          await Deno.remove(`${dir}/manifests/dns.yaml`);
          await reconciler.pass();
          assert.deepEqual(
            await cri.listPodSandbox({ labelSelector: { "tinylet/instance": "dns-e2e" } }),
            [],
          );
        } finally {
          await reconciler.stop();
        }
      },
    );

    await t.step(
      "the agent process reads /etc/resolv.conf: a bare nameserver line there starts no pod until it is fixed",
      async () => {
        // The agent gets its own mount namespace, where a file of ours is bound over
        // /etc/resolv.conf; the host's file is never touched.
        const dir = `${rc.dir}/etc-resolv`;
        await Deno.mkdir(`${dir}/manifests`, { recursive: true });
        const resolvConf = `${dir}/resolv.conf`;
        await Deno.writeTextFile(resolvConf, "nameserver 192.0.2.53\nnameserver\n");
        await Deno.writeTextFile(
          `${dir}/manifests/web.yaml`,
          `name: web
containers:
  - name: app
    image: ${rc.busyboxImage}
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
`,
        );
        const agentArgs = denoRunArgs(agentFlags({
          socket: rc.socket,
          manifests: `${dir}/manifests`,
          instance: "etc-resolv",
          root: `${dir}/root`,
          podLogRoot: `${dir}/logs`,
        })).map((a) => `'${a}'`).join(" ");
        const agent = new Deno.Command("unshare", {
          args: [
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            `mount --bind '${resolvConf}' /etc/resolv.conf && exec '${Deno.execPath()}' ${agentArgs}`,
          ],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
          env: { NO_COLOR: "1" },
        }).spawn();
        const output = agent.output();
        let stopped = false;
        const stop = async () => {
          if (!stopped) agent.kill("SIGTERM");
          stopped = true;
          const out = await output;
          return { code: out.code, log: decoder.decode(out.stderr) + decoder.decode(out.stdout) };
        };
        try {
          const statusFile = `${dir}/root/status.json`;
          const web = async () => {
            const status = JSON.parse(await Deno.readTextFile(statusFile));
            return (status.pods as { name: string; status: string; lastError: string | null }[])
              .find((p) => p.name === "web");
          };
          const refused = await waitFor("the refusal in the status file", async () => {
            const p = await web();
            return p?.lastError ? p : undefined;
          }, { timeoutMs: 30_000 });
          assert.equal(
            refused.lastError,
            `Fix /etc/resolv.conf: line 2: add an address to this "nameserver" line or remove it; until then no pod sandbox can be created`,
          );
          assert.deepEqual(
            await cri.listPodSandbox({ labelSelector: { "tinylet/instance": "etc-resolv" } }),
            [],
          );

          // Written in place (same inode), so the bind mount shows the new content.
          await Deno.writeTextFile(resolvConf, "nameserver 192.0.2.53\n");
          const c = await runningContainer(cri, "etc-resolv", "web");
          const r = await cri.execSync(c.id, ["cat", "/etc/resolv.conf"], 10);
          assert.match(decoder.decode(r.stdout), /^nameserver 192\.0\.2\.53$/m);
          await Deno.remove(`${dir}/manifests/web.yaml`);
          await waitFor(
            "the pod gone",
            async () =>
              (await cri.listPodSandbox({ labelSelector: { "tinylet/instance": "etc-resolv" } }))
                .length === 0,
            { timeoutMs: 30_000 },
          );
        } finally {
          const { code, log } = await stop();
          assert.equal(code, 0, log);
          const failures = log.split("\n").filter((l) =>
            l.includes("Failed to start pod default/web")
          );
          assert.equal(failures.length, 1, `reported once:\n${log}`);
        }
      },
    );
  },
);
