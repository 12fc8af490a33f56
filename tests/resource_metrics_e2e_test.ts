/**
 * Resource metrics on a real containerd, with the agent as a process under the compile task's
 * permissions: a container spinning under a 500m CPU limit and an idle one show in `/metrics`
 * with kubelet's names and labels, their figures checked against the runtime's own answers and
 * the host's; the node and process metrics are there; a container over its 16Mi memory limit is
 * killed by the kernel, shown `OOMKilled` by `tinylet pods` and `describe`, and counted.
 */
import { tinylet as run } from "../testing/in_container.ts";
import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import type { Cri } from "../lib/runtime/cri.ts";
import { CriError, isNoPodCgroup } from "../lib/runtime/errors.ts";
import { realRuntimeTest } from "../testing/containerd_harness.ts";
import { startAgent } from "../testing/agent_process.ts";
import { COMPILE_PERMISSIONS } from "../testing/agent_args.ts";
import {
  familyOf,
  parsePrometheus,
  type PromFamily,
  sampleOf,
} from "../testing/prometheus_text.ts";
import { waitFor } from "../testing/wait.ts";

const INSTANCE = "resource-metrics-e2e";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Runs a tinylet command as shipped (the compile task's permissions). */
const tinylet = (args: string[]) => run(args, COMPILE_PERMISSIONS);

/** The id of the running (or, with `state`, exited) container `name` of pod `pod`. */
async function containerId(
  cri: Cri,
  pod: string,
  name: string,
  state: "CONTAINER_RUNNING" | "CONTAINER_EXITED" = "CONTAINER_RUNNING",
): Promise<string | undefined> {
  const list = await cri.listContainers({
    state,
    labelSelector: { "tinylet/instance": INSTANCE, "io.kubernetes.pod.name": pod },
  });
  return list.find((c) => c.metadata.name === name)?.id;
}

/** utime + stime of `pid` in seconds, and its VmRSS in bytes, from `/proc`. */
async function procOf(pid: number): Promise<{ cpuSeconds: number; rssBytes: number }> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const rssKb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
  return { cpuSeconds: (Number(f[11]) + Number(f[12])) / 100, rssBytes: rssKb * 1024 };
}

/** The root cgroup's CPU counter in core-nanoseconds, read directly. */
async function rootCpu(): Promise<number> {
  const v2 = await Deno.stat("/sys/fs/cgroup/cgroup.controllers").then(() => true, () => false);
  if (!v2) return Number(await Deno.readTextFile("/sys/fs/cgroup/cpuacct/cpuacct.usage"));
  const stat = await Deno.readTextFile("/sys/fs/cgroup/cpu.stat");
  return Number(/^usage_usec (\d+)$/m.exec(stat)?.[1]) * 1000;
}

const SPIN = `apiVersion: v1
kind: Pod
metadata:
  name: spin
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 0
  containers:
  - name: spinner
    image: IMAGE
    command: [sh, -c, "while :; do :; done"]
    resources:
      limits:
        cpu: 500m
  - name: idle
    image: IMAGE
    command: [sleep, "3600"]
`;

const OOM = `apiVersion: v1
kind: Pod
metadata:
  name: oom
spec:
  hostNetwork: true
  restartPolicy: Never
  terminationGracePeriodSeconds: 0
  containers:
  - name: hog
    image: IMAGE
    command: [sh, -c, "head -c 64m /dev/zero | tail"]
    resources:
      limits:
        memory: 16Mi
`;

const SPIN_LABELS = { container: "spinner", namespace: "default", pod: "spin" };
const IDLE_LABELS = { container: "idle", namespace: "default", pod: "spin" };
const POD_LABELS = { namespace: "default", pod: "spin" };

realRuntimeTest(
  "resource metrics: a spinning and an idle container, the node and the agent in /metrics; an OOM kill shown and counted",
  async (t, rc) => {
    using cri = connectCri(rc.socket);
    const dir = await Deno.makeTempDir({ dir: rc.dir, prefix: "resource-metrics-" });
    const manifests = `${dir}/manifests`;
    await Deno.mkdir(manifests, { mode: 0o755 });
    await Deno.writeTextFile(`${manifests}/spin.yaml`, SPIN.replaceAll("IMAGE", rc.busyboxImage));
    const flags = [
      `--socket=${rc.socket}`,
      `--manifests=${manifests}`,
      `--instance=${INSTANCE}`,
      `--root=${dir}/root`,
      `--pod-log-root=${dir}/logs`,
    ];
    const port = freePort();
    const launched = Date.now() / 1000;
    await using agent = startAgent(
      [...flags, "--interval=1s", `--listen=127.0.0.1:${port}`, "--log-level=debug"],
      { permissions: COMPILE_PERMISSIONS },
    );
    const said = () => agent.lines.join("\n");
    const text = async () => await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const scrape = async () => parsePrometheus(await text());
    const ids = await waitFor(
      () => `both containers of pod spin running; the agent logged:\n${said()}`,
      async () => {
        const [spinner, idle] = [
          await containerId(cri, "spin", "spinner"),
          await containerId(cri, "spin", "idle"),
        ];
        return spinner && idle ? { spinner, idle } : undefined;
      },
      { timeoutMs: 30_000 },
    );
    let excerpt: string[] = [];

    await t.step(
      "the containers' CPU, working set and start time, as the runtime gives them",
      async () => {
        const before = (await cri.containerStats(ids.spinner)).cpu!;
        const first = await waitFor(
          "the spinner in /metrics",
          async () => {
            const f = await scrape().catch((err) => {
              throw new Error(`${err}\n${said()}`);
            });
            return familyOf(f, "container_cpu_usage_seconds_total").samples.length >= 2 && f;
          },
        );
        const after = (await cri.containerStats(ids.spinner)).cpu!;
        const cpu = sampleOf(first, "container_cpu_usage_seconds_total", SPIN_LABELS);
        // Between the runtime's own answers before and after the scrape.
        assert.ok(
          before.usageCoreNanoSeconds! / 1e9 <= cpu.value &&
            cpu.value <= after.usageCoreNanoSeconds! / 1e9,
          `${before.usageCoreNanoSeconds} ≤ ${cpu.value} s ≤ ${after.usageCoreNanoSeconds}`,
        );
        assert.ok(
          Math.floor(before.timestamp / 1e6) <= cpu.timestampMs! &&
            cpu.timestampMs! <= Math.floor(after.timestamp / 1e6),
          `${before.timestamp} ≤ ${cpu.timestampMs} ms ≤ ${after.timestamp}`,
        );
        // The rate over at least 5 s, from the text's own values and times.
        const second = await waitFor("5 s more of the spinner's counter", async () => {
          const f = await scrape();
          const s = sampleOf(f, "container_cpu_usage_seconds_total", SPIN_LABELS);
          return s.timestampMs! - cpu.timestampMs! >= 5_000 && f;
        }, { timeoutMs: 30_000, everyMs: 500 });
        const rate = (f: Map<string, PromFamily>, labels: Record<string, string>) => {
          const [a, b] = [first, f].map((x) =>
            sampleOf(x, "container_cpu_usage_seconds_total", labels)
          );
          return (b!.value - a!.value) / ((b!.timestampMs! - a!.timestampMs!) / 1000);
        };
        const spinRate = rate(second, SPIN_LABELS);
        const idleRate = rate(second, IDLE_LABELS);
        console.log(
          `resource metrics: spinner ${spinRate.toFixed(3)} core-s/s under a 500m limit, idle ${
            idleRate.toFixed(4)
          }`,
        );
        assert.ok(spinRate >= 0.4 && spinRate <= 0.6, `spinner at ${spinRate}`);
        assert.ok(idleRate >= 0 && idleRate < 0.02, `idle at ${idleRate}`);
        const cpuFamily = familyOf(second, "container_cpu_usage_seconds_total");
        assert.equal(cpuFamily.type, "counter");
        assert.deepEqual(
          cpuFamily.samples.map((s) => s.labels.container).sort(),
          ["idle", "spinner"],
        );
        for (const labels of [SPIN_LABELS, IDLE_LABELS]) {
          const ws = sampleOf(second, "container_memory_working_set_bytes", labels);
          assert.ok(ws.value > 0 && Number.isInteger(ws.value), `${JSON.stringify(ws)}`);
          assert.ok(Math.abs(ws.timestampMs! - Date.now()) < 10_000, JSON.stringify(ws));
        }
        // The idle container's working set against the runtime's answer just after.
        const idleWs = sampleOf(second, "container_memory_working_set_bytes", IDLE_LABELS).value;
        const runtimeWs = (await cri.containerStats(ids.idle)).memory!.workingSetBytes!;
        assert.ok(Math.abs(idleWs - runtimeWs) <= runtimeWs * 0.25, `${idleWs} vs ${runtimeWs}`);
        for (const [labels, id] of [[SPIN_LABELS, ids.spinner], [IDLE_LABELS, ids.idle]] as const) {
          const started = (await cri.containerStatus(id)).startedAt / 1e9;
          const s = sampleOf(second, "container_start_time_seconds", labels);
          assert.equal(s.timestampMs, undefined);
          assert.ok(Math.abs(s.value - started) < 1, `${s.value} vs startedAt ${started}`);
        }
      },
    );

    await t.step(
      "the pod is the sum of its containers: containerd 1.6 gives no pod stats",
      async () => {
        const refused = await cri.listPodSandboxStats({
          labelSelector: { "tinylet/instance": INSTANCE },
        })
          .then(() => undefined, (err: unknown) => err);
        assert.ok(refused instanceof CriError, `pod stats answered: ${refused}`);
        assert.match(refused.message, /cgroupPath is empty/);
        assert.ok(isNoPodCgroup(refused), `not told as the no-cgroup refusal: ${refused.kind}`);
        const f = await scrape();
        for (
          const [pod, container] of [
            ["pod_cpu_usage_seconds_total", "container_cpu_usage_seconds_total"],
            ["pod_memory_working_set_bytes", "container_memory_working_set_bytes"],
          ]
        ) {
          const sum = sampleOf(f, container!, SPIN_LABELS).value +
            sampleOf(f, container!, IDLE_LABELS).value;
          const p = sampleOf(f, pod!, POD_LABELS);
          assert.ok(Math.abs(p.value - sum) < 1e-9, `${pod} ${p.value} vs ${sum}`);
          assert.equal(familyOf(f, pod!).samples.length, 1);
        }
        assert.equal(sampleOf(f, "resource_scrape_error").value, 0);
      },
    );

    await t.step("the node's figures are the root cgroup's", async () => {
      const before = await rootCpu();
      const f = await scrape();
      const after = await rootCpu();
      const cpu = sampleOf(f, "node_cpu_usage_seconds_total");
      assert.ok(
        before / 1e9 <= cpu.value && cpu.value <= after / 1e9,
        `${before / 1e9} ≤ ${cpu.value} ≤ ${after / 1e9}`,
      );
      const ws = sampleOf(f, "node_memory_working_set_bytes").value;
      const total = Deno.systemMemoryInfo().total;
      assert.ok(ws > 0 && ws < total, `${ws} of ${total}`);
    });

    await t.step("the process metrics, under the shipped permissions", async () => {
      const f = await scrape();
      const proc = await procOf(agent.pid);
      const fds = sampleOf(f, "process_open_fds").value;
      const rss = sampleOf(f, "process_resident_memory_bytes").value;
      const cpu = sampleOf(f, "process_cpu_seconds_total").value;
      const start = sampleOf(f, "process_start_time_seconds").value;
      assert.ok(fds > 0, `process_open_fds ${fds}`);
      assert.ok(rss > 10_000_000, `process_resident_memory_bytes ${rss}`);
      assert.ok(Math.abs(rss - proc.rssBytes) < proc.rssBytes * 0.2, `${rss} vs ${proc.rssBytes}`);
      assert.ok(cpu > 0 && cpu <= proc.cpuSeconds + 0.02, `${cpu} vs ${proc.cpuSeconds}`);
      assert.ok(start >= launched - 1 && start <= launched + 10, `${start} vs ${launched}`);
    });

    await t.step(
      "a container over its memory limit is OOMKilled in pods and describe, and counted",
      async () => {
        await Deno.writeTextFile(`${manifests}/oom.yaml`, OOM.replaceAll("IMAGE", rc.busyboxImage));
        const hog = await waitFor(
          () => `the hog exited; the agent logged:\n${said()}`,
          () => containerId(cri, "oom", "hog", "CONTAINER_EXITED"),
          { timeoutMs: 30_000 },
        );
        const status = await cri.containerStatus(hog);
        assert.equal(status.reason, "OOMKilled", JSON.stringify(status));
        const pods = await waitFor("tinylet pods showing OOMKilled", async () => {
          const r = await tinylet(["pods", ...flags]);
          return /^default +oom +0\/1 +OOMKilled +0 /m.test(r.out) && r;
        });
        console.log(pods.out.trimEnd());
        const describe = await tinylet(["describe", "default/oom", ...flags]);
        assert.equal(describe.code, 0, describe.out + describe.err);
        assert.match(describe.out, /State: {10}Terminated\n {6}Reason: {7}OOMKilled\n/);
        assert.match(describe.out, /Exit Code: {4}137\n/);
        const counted = await waitFor("the OOM kill counted", async () => {
          const f = await scrape();
          const s = familyOf(f, "container_oom_events_total").samples;
          return s.length > 0 && f;
        });
        assert.deepEqual(familyOf(counted, "container_oom_events_total").samples, [
          {
            name: "container_oom_events_total",
            labels: { container: "hog", namespace: "default", pod: "oom" },
            value: 1,
          },
        ]);
        excerpt = (await text()).split("\n").filter((l) =>
          /^(# TYPE )?(container_|pod_|node_|process_|resource_scrape_error)/.test(l)
        );
      },
    );

    console.log(`/metrics excerpt:\n${excerpt.join("\n")}`);
    assert.equal(await agent.stop(), 0, said());
  },
);
