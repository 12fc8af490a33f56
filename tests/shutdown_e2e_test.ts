/**
 * Stopping the agent is bounded on a real containerd: with exec probes and
 * postStart/preStop hooks that never end, an httpGet probe against a loopback
 * server that never answers and a pull from a registry that never answers all
 * in flight, containerd is frozen (SIGSTOP: every CRI call hangs). SIGTERM
 * must give exit 0 within 5 s with `stoppedAt` written, and the pods must
 * still run, untouched, once containerd is thawed.
 */
import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import type { Cri } from "../lib/runtime/cri.ts";
import { readStatusFile, statusFilePath } from "../lib/agent/status_file.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { startAgent } from "../testing/agent_process.ts";
import { agentFlags } from "../testing/agent_args.ts";
import { realRuntimeTest } from "../testing/containerd_harness.ts";
import { waitFor } from "../testing/wait.ts";

const INSTANCE = "shutdown-e2e";
const EXIT_WITHIN_MS = 5_000;
const GIVE_UP_AFTER_MS = 15_000;
/** The commands that never end, told apart in `ps` by their arguments. */
const PROBE_SLEEP = "3601";
const HOOK_SLEEP = "3602";
const MAIN = `trap 'exit 0' TERM; sleep 3600 & wait`;

/** A TCP server on loopback that accepts connections and never answers. */
function silentServer(): { port: number; accepted: () => number } & AsyncDisposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const loop = (async () => {
    try {
      for await (const conn of listener) conns.push(conn);
    } catch {
      // Closed.
    }
  })();
  return {
    port: listener.addr.port,
    accepted: () => conns.length,
    async [Symbol.asyncDispose]() {
      listener.close();
      await loop;
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // The client closed it.
        }
      }
    },
  };
}

/** The PID of the containerd whose config is `<dir>/config.toml`. */
async function containerdPid(dir: string): Promise<number> {
  const config = `${dir}/config.toml`;
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const args = await Deno.readTextFile(`/proc/${e.name}/cmdline`)
      .then((t) => t.split("\0"), (): string[] => []);
    if (args[0]?.endsWith("containerd") && args.includes(config)) return Number(e.name);
  }
  throw new Error(`Find containerd: no process runs with --config ${config}`);
}

/** The running containers of this test's agent, as `pod/container` → id. */
async function running(cri: Cri): Promise<Map<string, string>> {
  const list = await cri.listContainers({
    state: "CONTAINER_RUNNING",
    labelSelector: { "tinylet/instance": INSTANCE },
  });
  return new Map(list.map((c) => [`${c.labels[KEYS.podName]}/${c.metadata.name}`, c.id]));
}

/** The processes of a container, as `ps` prints them. */
async function ps(cri: Cri, id: string): Promise<string> {
  const r = await cri.execSync(id, ["ps", "-o", "args"], 10);
  return new TextDecoder().decode(r.stdout);
}

realRuntimeTest(
  "a stop is bounded on a real containerd frozen with probes, hooks and a pull in flight",
  async (t, rc) => {
    const dir = `${rc.dir}/shutdown`;
    const manifests = `${dir}/manifests`;
    await Deno.mkdir(manifests, { recursive: true, mode: 0o755 });
    using cri = connectCri(rc.socket);
    const image = rc.busyboxImage;
    await using probeTarget = silentServer();
    await using registry = silentServer();
    await Deno.writeTextFile(
      `${manifests}/probed.yaml`,
      `apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
    - name: c
      image: ${image}
      command: [sh, -c, "${MAIN}"]
      livenessProbe:
        exec: {command: [sleep, "${PROBE_SLEEP}"]}
        periodSeconds: 1
        timeoutSeconds: 600
      readinessProbe:
        httpGet: {port: ${probeTarget.port}, path: /never}
        periodSeconds: 1
        timeoutSeconds: 600
`,
    );
    for (const hook of ["postStart", "preStop"]) {
      await Deno.writeTextFile(
        `${manifests}/${hook.toLowerCase()}.yaml`,
        `apiVersion: v1
kind: Pod
metadata: {name: ${hook.toLowerCase()}}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 600
  containers:
    - name: c
      image: ${image}
      command: [sh, -c, "${MAIN}"]
      lifecycle:
        ${hook}: {exec: {command: [sleep, "${HOOK_SLEEP}"]}}
`,
      );
    }
    await Deno.writeTextFile(
      `${manifests}/pulling.yaml`,
      `name: pulling\nhostNetwork: true\ncontainers: [{name: c, image: "127.0.0.1:${registry.port}/never:1"}]\n`,
    );
    await using agent = startAgent(agentFlags({
      socket: rc.socket,
      manifests,
      instance: INSTANCE,
      root: `${dir}/root`,
      podLogRoot: `${dir}/logs`,
      interval: "500ms",
      logLevel: "debug",
    }));
    const pid = await containerdPid(rc.dir);
    let frozen = false;
    try {
      let ids = new Map<string, string>();
      await t.step("probes, hooks and the pull are in flight", async () => {
        ids = await waitFor(
          () => `the three pods running; the agent logged:\n${agent.lines.join("\n")}`,
          async () => {
            const ids = await running(cri);
            return ["probed/c", "poststart/c", "prestop/c"].every((k) => ids.has(k)) && ids;
          },
          { timeoutMs: 60_000 },
        );
        await Deno.remove(`${manifests}/prestop.yaml`);
        await waitFor(
          "the exec probe, the postStart hook and the preStop hook running in their containers",
          async () =>
            (await ps(cri, ids.get("probed/c")!)).includes(`sleep ${PROBE_SLEEP}`) &&
            (await ps(cri, ids.get("poststart/c")!)).includes(`sleep ${HOOK_SLEEP}`) &&
            (await ps(cri, ids.get("prestop/c")!)).includes(`sleep ${HOOK_SLEEP}`),
          { timeoutMs: 30_000 },
        );
        await waitFor(
          "the httpGet probe and the pull connected to their silent servers",
          () => probeTarget.accepted() > 0 && registry.accepted() > 0,
          { timeoutMs: 30_000 },
        );
      });

      await t.step(
        "SIGTERM with containerd frozen: exit 0 within 5 s, stoppedAt written",
        async () => {
          Deno.kill(pid, "SIGSTOP");
          frozen = true;
          // Wait until the loop is stuck in a runtime call: no pass has ended for 2 s.
          const passes = () => agent.lines.filter((l) => l.includes("Pass done")).length;
          let seen = passes();
          let since = performance.now();
          await waitFor("a pass stuck on the frozen runtime", () => {
            if (passes() !== seen) {
              seen = passes();
              since = performance.now();
            }
            return performance.now() - since > 2_000;
          }, { timeoutMs: 20_000 });
          const t0 = performance.now();
          let timer: ReturnType<typeof setTimeout> | undefined;
          const code = await Promise.race([
            agent.stop("SIGTERM"),
            new Promise<"timeout">((resolve) =>
              timer = setTimeout(() => resolve("timeout"), GIVE_UP_AFTER_MS)
            ),
          ]);
          clearTimeout(timer);
          const ms = Math.round(performance.now() - t0);
          assert.notEqual(code, "timeout", `the agent was still running ${ms} ms after SIGTERM`);
          assert.equal(code, 0, `exit code; the agent logged:\n${agent.lines.join("\n")}`);
          assert.ok(ms < EXIT_WITHIN_MS, `the agent exited ${ms} ms after SIGTERM`);
          const status = await readStatusFile(statusFilePath(`${dir}/root`));
          assert.ok(status?.agent.stoppedAt, `stoppedAt in ${JSON.stringify(status?.agent)}`);
        },
      );

      await t.step("thawed, containerd still runs every pod, untouched", async () => {
        Deno.kill(pid, "SIGCONT");
        frozen = false;
        assert.deepEqual(await running(cri), ids, "the same containers run");
        const sandboxes = await cri.listPodSandbox({
          state: "SANDBOX_READY",
          labelSelector: { "tinylet/instance": INSTANCE },
        });
        assert.deepEqual(
          sandboxes.map((s) => s.metadata.name).sort(),
          ["poststart", "prestop", "probed", "pulling"],
        );
      });

      await t.step(
        "the cancelled probe and hooks leave no process behind in the containers",
        async () => {
          await waitFor(
            "the cancelled execs to end",
            async () => {
              for (const id of ids.values()) {
                const list = await ps(cri, id);
                if (list.includes(`sleep ${PROBE_SLEEP}`) || list.includes(`sleep ${HOOK_SLEEP}`)) {
                  return false;
                }
              }
              return true;
            },
            { timeoutMs: 20_000 },
          );
        },
      );
    } finally {
      if (frozen) Deno.kill(pid, "SIGCONT");
    }
  },
);
