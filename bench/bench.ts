/**
 * `deno task bench`: what tinylet costs, measured on one private real containerd.
 *
 * 1. Cold start: N manifest files written at once → all N containers RUNNING, against a bare
 *    CRI client making only the four calls a pod needs (the runtime's own limit).
 * 2. Reaction: one file written to a converged agent → its container RUNNING.
 * 3. Teardown: N files deleted → all their sandboxes gone.
 * 4. Idle: the agent's CPU, RSS and CRI calls per pass with pods converged.
 * 5. A pass without a runtime: read, parse, translate and plan, in-process.
 *
 * Progress goes to stderr, the table to stdout. Benchmarks are not tests: a missed target is
 * reported, never an error. Flags: `--pods 1,20,50 --runs 3 --reaction-samples 10
 * --idle-seconds 30 --idle-pods 50 --pass-pods 100,500 --quick` (see BENCHMARKS.md).
 *
 * The modules beside this one hold each figure, the bare client, the agent wrapper, the table
 * and the flags; this one runs them in order on one private containerd and prints the report.
 *
 * @module
 */
import { connectCri, type GrpcCri } from "../lib/runtime/grpc.ts";
import { UsageError } from "../lib/cmd/cli.ts";
import { type RealContainerd, startContainerd } from "../testing/containerd_harness.ts";
import { type BenchOptions, parseBenchArgs, USAGE } from "./flags.ts";
import { describeMachine, loadAverage } from "./machine.ts";
import { Bench } from "./context.ts";
import { bareRun } from "./bare_client.ts";
import { coldStart } from "./cold_start.ts";
import { reaction } from "./reaction.ts";
import { idle } from "./idle.ts";
import { type PassResult, passWithoutRuntime } from "./pass_without_runtime.ts";
import { report } from "./report.ts";
import { pods } from "./stats.ts";
import { errorMessage, interrupt, progress } from "./run_control.ts";

async function run(options: BenchOptions): Promise<number> {
  const started = performance.now();
  const scratch = await Deno.makeTempDir({ prefix: "tinylet-bench-" });
  let rc: RealContainerd | undefined;
  let cri: GrpcCri | undefined;
  let bench: Bench | undefined;
  let code = 0;
  try {
    const pass: PassResult[] = [];
    for (const n of options.passPods) {
      progress(`pass without a runtime: ${pods(n)}`);
      pass.push(await passWithoutRuntime(scratch, n));
    }
    progress("starting a private containerd");
    rc = await startContainerd({ log: progress });
    cri = connectCri(rc.socket, { timeoutMs: 30_000 });
    const machine = await describeMachine(rc.version);
    bench = new Bench(rc, cri, options, machine.clockTicks);
    if (machine.loadAtStart > machine.cores / 2) {
      progress(
        `the machine is busy (load ${machine.loadAtStart} on ${machine.cores} cores): the figures will show it`,
      );
    }
    // One pod up and down before measuring: the first one pays for cold caches.
    await bareRun(bench, "warmup", "warmup", 1);
    const cold = await coldStart(bench);
    const react = await reaction(bench);
    const idleResult = await idle(bench);
    console.log(report({
      machine,
      options,
      cold,
      reaction: react,
      idle: idleResult,
      pass,
      loadAtEnd: await loadAverage(),
      totalSeconds: (performance.now() - started) / 1000,
    }));
  } catch (err) {
    console.error(`bench: failed: ${errorMessage(err)}`);
    for (const agent of bench?.agents ?? []) {
      console.error(`bench: agent "${agent.instance}" logged last:\n${agent.tail}`);
    }
    code = 1;
  } finally {
    for (const agent of bench?.agents ?? []) await agent.kill();
    cri?.close();
    if (rc) {
      progress("stopping the private containerd");
      try {
        await rc.stop();
      } catch (err) {
        console.error(`bench: ${errorMessage(err)}`);
        code = 1;
      }
    }
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
  return code;
}

/** Entry point: returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let options: BenchOptions | undefined;
  try {
    options = parseBenchArgs(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`bench: ${err.message}\n${USAGE}`);
    return 2;
  }
  if (!options) {
    console.log(USAGE);
    return 0;
  }
  const stop = () => {
    progress("interrupted: cleaning up");
    interrupt();
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    return await run(options);
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
