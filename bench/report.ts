/**
 * The bench's report: the machine, the settings, then one table section per figure group with
 * its targets and verdicts.
 *
 * @module
 */
import type { BenchOptions } from "./flags.ts";
import type { Machine } from "./machine.ts";
import type { ColdResult } from "./cold_start.ts";
import type { IdleResult, IdleWindow } from "./idle.ts";
import type { PassResult } from "./pass_without_runtime.ts";
import { describeCalls } from "./agent.ts";
import { Table } from "./table.ts";
import { median, ms, msSpread, percentile, pods, verdict } from "./stats.ts";
import { PARALLEL, PASS_SAMPLES, POLL_FRACTION, POLL_MAX_MS, POLL_MS, TARGET } from "./settings.ts";

/** Everything one run of the bench measured. */
export interface Results {
  machine: Machine;
  options: BenchOptions;
  /** The 1-minute load average when the bench ended. */
  loadAtEnd: number;
  cold: ColdResult[];
  reaction: { tinylet: number[]; bare: number[] };
  idle: IdleResult;
  pass: PassResult[];
  totalSeconds: number;
}

/** The report: the machine, then one section per figure group. */
export function report(r: Results): string {
  const o = r.options;
  const m = r.machine;
  const t = new Table();
  t.section(
    `Cold start: N files written at once -> all N containers RUNNING, to the last one's StartedAt (median of ${o.runs}; range in brackets)`,
  );
  for (const c of r.cold) {
    const ratio = median(c.tinylet) / median(c.bare);
    t.row(`${pods(c.pods)}: tinylet`, msSpread(c.tinylet));
    t.row(`${pods(c.pods)}: bare client`, msSpread(c.bare));
    t.row(
      `${pods(c.pods)}: bare client, to the last StartContainer's return`,
      msSpread(c.bareReturned),
    );
    t.row(`${pods(c.pods)}: bare client, bench polling meanwhile`, msSpread(c.barePolled));
    t.row(
      `${pods(c.pods)}: tinylet agent CPU meanwhile`,
      `${msSpread(c.agentCpu.map((s) => s * 1000))} CPU`,
    );
    t.row(
      `${pods(c.pods)}: ratio tinylet / bare`,
      ratio.toFixed(2),
      `<= ${TARGET.coldRatio.toFixed(2)}`,
      verdict(ratio <= TARGET.coldRatio),
    );
  }
  t.section(
    "Cold start: tinylet's CRI calls per pod (mean latency), first write to all running (last run)",
  );
  for (const c of r.cold) t.note(`${pods(c.pods)}: ${describeCalls(c.calls, c.pods)}`);
  t.section("Cold start: the bare client's CRI calls per pod (mean latency, last run)");
  for (const c of r.cold) t.note(`${pods(c.pods)}: ${describeCalls(c.bareCalls, c.pods)}`);
  const react = r.reaction;
  const bareP50 = median(react.bare);
  const limit = bareP50 + TARGET.reactionOverBareMs;
  t.section(
    `Reaction: one file written -> its container RUNNING, to its StartedAt (${react.tinylet.length} samples)`,
  );
  t.row(
    "tinylet p50",
    ms(median(react.tinylet)),
    `<= bare p50 + ${TARGET.reactionOverBareMs} ms = ${ms(limit)}`,
    verdict(median(react.tinylet) <= limit),
  );
  t.row("tinylet p95", ms(percentile(react.tinylet, 95)));
  t.row("bare client one pod p50", ms(bareP50));
  t.row("bare client one pod p95", ms(percentile(react.bare, 95)));
  t.section(`Teardown: N files deleted -> no sandbox left (median of ${o.runs})`);
  for (const c of r.cold) {
    t.row(`${pods(c.pods)}: tinylet`, msSpread(c.teardown));
    t.row(`${pods(c.pods)}: bare client`, msSpread(c.bareTeardown));
    t.row(
      `${pods(c.pods)}: ratio tinylet / bare`,
      (median(c.teardown) / median(c.bareTeardown)).toFixed(2),
    );
  }
  t.section(
    "Teardown: tinylet's CRI calls per pod (mean latency), deletes to 1 s after (last run)",
  );
  for (const c of r.cold) t.note(`${pods(c.pods)}: ${describeCalls(c.downCalls, c.pods)}`);
  const i = r.idle;
  const w = i.converged;
  const perPass = (x: IdleWindow, count: number) => x.passes > 0 ? count / x.passes : NaN;
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  const listsOf = (x: IdleWindow) =>
    (x.calls.get("ListPodSandbox") ?? 0) + (x.calls.get("ListContainers") ?? 0);
  // The passes' calls only: the stats calls of the /metrics reads are kept apart (bench/agent.ts).
  const callsOk = (x: IdleWindow) =>
    x.passes > 0 && sum(x.calls) === listsOf(x) &&
    perPass(x, sum(x.calls)) <= TARGET.idleListCallsPerPass + 1e-9;
  const callsPerPass = (x: IdleWindow) =>
    x.passes > 0 ? perPass(x, sum(x.calls)).toFixed(2) : "n/a (no pass)";
  // "ListContainerStats 1.00, ListPodSandboxStats 0.33": each method's calls over `over`.
  const byMethod = (m: Map<string, number>, over: number) => {
    const parts = [...m].sort().map(([method, count]) => `${method} ${(count / over).toFixed(2)}`);
    return parts.length > 0 ? parts.join(", ") : "none";
  };
  t.section(
    `Idle: ${pods(i.pods)} converged, --interval 2s, the ${
      w.seconds.toFixed(1)
    } s after the first ${i.first.seconds.toFixed(0)} s (${w.passes} passes)`,
  );
  t.row(
    "agent CPU",
    `${w.cpuPercent.toFixed(2)} % of a core`,
    `<= ${TARGET.idleCpuPercent} %`,
    verdict(w.cpuPercent <= TARGET.idleCpuPercent),
  );
  t.row(
    "agent RSS (VmRSS) at the end",
    `${(w.rssBytes / 1e6).toFixed(1)} MB`,
    `<= ${TARGET.rssMB} MB`,
    verdict(w.rssBytes / 1e6 <= TARGET.rssMB),
  );
  t.row("agent peak RSS (VmHWM), since start", `${(i.peakRssBytes / 1e6).toFixed(1)} MB`);
  t.row(
    "CRI calls per pass",
    callsPerPass(w),
    `${TARGET.idleListCallsPerPass} (the two lists; nothing changes)`,
    verdict(callsOk(w)),
  );
  for (const [method, count] of [...w.calls].sort()) {
    t.row(`  ${method} per pass`, perPass(w, count).toFixed(2));
  }
  t.row(
    "  left out: the stats calls of the /metrics read that opens the window",
    byMethod(w.stats, w.reads),
  );
  const sc = i.scraped;
  t.row(
    `agent CPU while /metrics is scraped every 15 s (${sc.scrapes} scrapes in ${
      sc.seconds.toFixed(0)
    } s)`,
    `${sc.cpuPercent.toFixed(2)} % of a core`,
    `<= ${TARGET.idleCpuPercent} %`,
    verdict(sc.cpuPercent <= TARGET.idleCpuPercent),
  );
  t.row(
    `  CRI calls per pass, stats calls left out (${sc.passes} passes)`,
    callsPerPass(sc),
    `${TARGET.idleListCallsPerPass} (the two lists)`,
    verdict(callsOk(sc)),
  );
  t.row(
    `  stats calls per scrape (the window's ${sc.scrapes} and the opening read)`,
    `${(sum(sc.stats) / sc.reads).toFixed(2)}: ${byMethod(sc.stats, sc.reads)}`,
  );
  t.row("  agent RSS (VmRSS) at its end", `${(sc.rssBytes / 1e6).toFixed(1)} MB`);
  const f = i.first;
  t.row(
    `first ${f.seconds.toFixed(0)} s after converging: CPU (${f.passes} passes)`,
    `${f.cpuPercent.toFixed(2)} % of a core`,
  );
  t.row(
    `first ${f.seconds.toFixed(0)} s after converging: CRI calls per pass`,
    callsPerPass(f),
  );
  const e = i.empty;
  t.row(
    `same agent before any pod: CPU (${e.passes} passes)`,
    `${e.cpuPercent.toFixed(2)} % of a core`,
  );
  t.row("same agent before any pod: RSS", `${(e.rssBytes / 1e6).toFixed(1)} MB`);
  t.row("same agent before any pod: CRI calls per pass", callsPerPass(e));
  t.section(
    `Pass without a runtime: read + parse + translate + plan, in-process (median of ${PASS_SAMPLES})`,
  );
  for (const p of r.pass) {
    const target = p.pods >= TARGET.passTargetPods ? `<= ${TARGET.passMs} ms` : "";
    const warm = median(p.warm);
    t.row(`${pods(p.pods)}: first (every file parsed)`, ms(median(p.cold)), "(at start only)");
    t.row(
      `${pods(p.pods)}: files changed in the last 2 s (read, not parsed)`,
      ms(median(p.recent)),
    );
    t.row(
      `${pods(p.pods)}: warm (unchanged files: stat only)`,
      ms(warm),
      target,
      target ? verdict(warm <= TARGET.passMs) : "",
    );
    t.row(`${pods(p.pods)}: whole Reconciler.pass() on the fake runtime`, ms(median(p.full)));
    if (p.actions !== 0) t.row(`${pods(p.pods)}: actions planned (expected 0)`, String(p.actions));
  }
  return [
    "tinylet benchmarks",
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memory} memory, Linux ${m.kernel}`,
    `Runtime: containerd ${m.containerd} (private instance, overlayfs or native snapshotter, CNI bridge)`,
    `Deno: ${m.deno}`,
    `Settings: --runs ${o.runs} --reaction-samples ${o.reactionSamples} --idle-seconds ${o.idleSeconds} --idle-pods ${o.idlePods}${
      o.quick ? " --quick" : ""
    }; agents with --parallel ${PARALLEL}; tinylet's starts are seen in its log, its removals by polling the CRI every ${POLL_MS} ms, or ${
      POLL_FRACTION * 100
    } % of the time elapsed when longer (at most ${POLL_MAX_MS} ms)`,
    `Agent: ${
      o.agent ?? "this tree's main.ts"
    } (the pass without a runtime runs this tree's code in-process, whichever agent)`,
    `Load average (1 min): ${m.loadAtStart} at the start, ${r.loadAtEnd} at the end; took ${
      Math.round(r.totalSeconds)
    } s`,
    "",
    t.render(),
  ].join("\n");
}
