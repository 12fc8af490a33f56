/**
 * The bench's command line: its flags, their defaults, `--quick`, and the usage text.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { UsageError } from "../lib/cmd/cli.ts";

/** What one run of the bench measures. */
export interface BenchOptions {
  pods: number[];
  runs: number;
  reactionSamples: number;
  idleSeconds: number;
  idlePods: number;
  passPods: number[];
  quick: boolean;
  /** The `main.ts` the agents run: this tree's unless `--agent` names another. */
  agent?: string;
}

/** The bench's help text. */
export const USAGE = `Usage: deno task bench [flags]
  --pods LIST              cold-start and teardown sizes (default 1,20,50)
  --runs N                 repetitions for the medians (default 3)
  --reaction-samples N     samples of the reaction time (default 10)
  --idle-seconds S         length of the idle window (default 30)
  --idle-pods N            pods converged during the idle window (default 50)
  --pass-pods LIST         pods of the runtime-free pass (default 100,500)
  --agent PATH             bench the main.ts at PATH (another checkout of tinylet) instead of
                           this tree's, to compare two versions on one machine the same way
                           (the pass without a runtime is always this tree's code)
  --quick                  a small run for the smoke test: pods 2, runs 1, reaction samples 2,
                           idle 3 s with 2 pods, pass-pods 10 (flags given still win)
  -h, --help               print this help`;

function positiveInt(flag: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`Set ${flag} to a positive whole number: it is "${text}"`);
  }
  return n;
}

function intList(flag: string, text: string): number[] {
  const list = text.split(",").map((s) => positiveInt(flag, s.trim()));
  if (list.length === 0) throw new UsageError(`Give ${flag} at least one number`);
  return list;
}

/** The absolute path of `--agent`'s `main.ts`, which must be a file. */
function agentMain(text: string): string {
  let info: Deno.FileInfo | undefined;
  try {
    info = Deno.statSync(text);
  } catch {
    // Told below.
  }
  if (!info?.isFile) {
    throw new UsageError(
      `Set --agent to the main.ts of a checkout of tinylet: "${text}" is not a file`,
    );
  }
  return Deno.realPathSync(text);
}

/** Parses the bench's flags; `undefined` means help was asked for. */
export function parseBenchArgs(args: string[]): BenchOptions | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        pods: { type: "string" },
        runs: { type: "string" },
        "reaction-samples": { type: "string" },
        "idle-seconds": { type: "string" },
        "idle-pods": { type: "string" },
        "pass-pods": { type: "string" },
        agent: { type: "string" },
        quick: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return undefined;
  const quick = values.quick;
  const base: BenchOptions = quick
    ? {
      pods: [2],
      runs: 1,
      reactionSamples: 2,
      idleSeconds: 3,
      idlePods: 2,
      passPods: [10],
      quick,
    }
    : {
      pods: [1, 20, 50],
      runs: 3,
      reactionSamples: 10,
      idleSeconds: 30,
      idlePods: 50,
      passPods: [100, 500],
      quick,
    };
  if (values.pods !== undefined) base.pods = intList("--pods", values.pods);
  if (values.runs !== undefined) base.runs = positiveInt("--runs", values.runs);
  if (values["reaction-samples"] !== undefined) {
    base.reactionSamples = positiveInt("--reaction-samples", values["reaction-samples"]);
  }
  if (values["idle-seconds"] !== undefined) {
    base.idleSeconds = positiveInt("--idle-seconds", values["idle-seconds"]);
  }
  if (values["idle-pods"] !== undefined) {
    base.idlePods = positiveInt("--idle-pods", values["idle-pods"]);
  }
  if (values["pass-pods"] !== undefined) {
    base.passPods = intList("--pass-pods", values["pass-pods"]);
  }
  if (values.agent !== undefined) base.agent = agentMain(values.agent);
  return base;
}
