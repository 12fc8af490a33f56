/**
 * Figures 1 and 3: N manifest files written at once until all N containers run, then deleted
 * until no sandbox is left; tinylet beside the bare client, runs rotated.
 *
 * @module
 */
import { type CallCounts, callsBetween, cpuSeconds } from "./agent.ts";
import { bareRun } from "./bare_client.ts";
import type { Bench } from "./context.ts";
import { manifest, podName, SETTLE_MS } from "./settings.ts";
import { ms, pods, range } from "./stats.ts";
import { progress, sleep } from "./run_control.ts";

/** The cold-start and teardown figures of one pod count. */
export interface ColdResult {
  pods: number;
  /** First write to the last container's StartedAt. */
  tinylet: number[];
  /** First call to the last container's StartedAt. */
  bare: number[];
  /** First call until the last StartContainer returned. */
  bareReturned: number[];
  /** The bare client while the bench polls, as it polls while timing tinylet (StartedAt). */
  barePolled: number[];
  teardown: number[];
  /** The bare client's removal: StopContainer (1 s grace), StopPodSandbox, RemovePodSandbox. */
  bareTeardown: number[];
  /** The CRI calls tinylet made from the first write until all ran (the last run). */
  calls: CallCounts;
  /** The CRI calls tinylet made from the deletes until 1 s after all were gone (the last run). */
  downCalls: CallCounts;
  /** The bare client's calls (the last unpolled run). */
  bareCalls: CallCounts;
  /** CPU seconds the agent used from the first write until 1 s after all ran. */
  agentCpu: number[];
}

/** Runs the cold start and teardown of every pod count, `--runs` times each. */
export async function coldStart(b: Bench): Promise<ColdResult[]> {
  const results: ColdResult[] = b.options.pods.map((pods) => ({
    pods,
    tinylet: [],
    bare: [],
    bareReturned: [],
    barePolled: [],
    teardown: [],
    bareTeardown: [],
    calls: { passes: 0, byMethod: new Map(), stats: new Map(), seconds: new Map() },
    downCalls: { passes: 0, byMethod: new Map(), stats: new Map(), seconds: new Map() },
    bareCalls: { passes: 0, byMethod: new Map(), stats: new Map(), seconds: new Map() },
    agentCpu: [],
  }));
  const kinds = ["tinylet", "bare", "bare-polled"] as const;
  for (let run = 1; run <= b.options.runs; run++) {
    for (const r of results) {
      const n = r.pods;
      // Rotate which goes first, so none always runs on a machine still busy from another.
      const order = kinds.map((_, i) => kinds[(i + run - 1) % kinds.length]!);
      for (const who of order) {
        if (who !== "tinylet") {
          const polled = who === "bare-polled";
          const { ms: returned, startedMs: t, calls, downMs } = await bareRun(
            b,
            `bare-${n}-${run}`,
            "bare",
            n,
            polled,
          );
          (polled ? r.barePolled : r.bare).push(t);
          if (!polled) {
            r.bareReturned.push(returned);
            r.bareCalls = calls;
            r.bareTeardown.push(downMs);
          }
          progress(
            `cold start ${pods(n)}, run ${run}/${b.options.runs}: bare client${
              polled ? " (polled)" : ""
            } ${ms(t)}`,
          );
        } else {
          const { up, down, calls, downCalls, cpu } = await tinyletColdRun(b, n, run);
          r.agentCpu.push(cpu);
          r.tinylet.push(up);
          r.teardown.push(down);
          r.calls = calls;
          r.downCalls = downCalls;
          progress(
            `cold start ${pods(n)}, run ${run}/${b.options.runs}: tinylet ${ms(up)}, teardown ${
              ms(down)
            }`,
          );
        }
        await sleep(SETTLE_MS);
      }
    }
  }
  return results;
}

async function tinyletColdRun(
  b: Bench,
  n: number,
  run: number,
): Promise<{ up: number; down: number; calls: CallCounts; downCalls: CallCounts; cpu: number }> {
  const instance = `cold-${n}-${run}`;
  const agent = await b.startAgent(instance, "60s");
  const d = b.dirs(instance);
  const files = range(n).map((i) => ({
    path: `${d.manifests}/${podName("cold", i)}.yaml`,
    text: manifest(podName("cold", i), b.rc.busyboxImage),
  }));
  try {
    const m0 = await agent.metrics();
    const cpu0 = await cpuSeconds(agent.pid, b.ticks);
    const up = await b.writeAndWait(instance, files, n, { agent });
    // Let the agent's last pass (the one a finished flight asks for) end first.
    await sleep(SETTLE_MS);
    const cpu = await cpuSeconds(agent.pid, b.ticks) - cpu0;
    const m1 = await agent.metrics();
    // A read's own calls are counted after its text: m1's first look at the new containers (a
    // ContainerStatus each for its start time, the pod stats asked) would land in the teardown's
    // counts. A second read takes them in; the teardown counts from it.
    const m2 = await agent.metrics();
    const down = await b.deleteAndWait(instance, files.map((f) => f.path));
    await sleep(SETTLE_MS);
    return {
      up,
      down,
      cpu,
      calls: callsBetween(m0, m1),
      downCalls: callsBetween(m2, await agent.metrics()),
    };
  } finally {
    await b.stopAgent(agent);
  }
}
