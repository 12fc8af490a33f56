/**
 * `tinylet down`: removes tinylet's pods gracefully, for uninstalling. Each chosen pod is
 * deleted through the planner's deletion and the executor; a pod whose removal failed is looked
 * at and tried again until a deadline. Warns when the agent is running, since it would start
 * the pods again.
 *
 * What it prints goes through `printableIo`, so names and messages from the runtime show their
 * control characters escaped.
 *
 * @module
 */
import type { AgentConfig, PodRef } from "./cli.ts";
import type { Io } from "./io.ts";
import { findPod, listOurs } from "./pods.ts";
import type { Cri } from "../runtime/cri.ts";
import { printableIo } from "../base/escape.ts";
import { execute } from "../reconcile/executor.ts";
import { ImagePuller } from "../node/images.ts";
import { silentLogger } from "../base/log.ts";
import { type ObservedState, Observer } from "../reconcile/observe.ts";
import { deletionOf } from "../reconcile/deletion_plan.ts";
import { readAgentState, statusFilePath } from "../agent/status_file.ts";
import { type Clock, SYSTEM_CLOCK } from "../base/clock.ts";

/** How long `down` keeps trying a pod whose removal failed. */
const DOWN_RETRY_MS = 10_000;
/** How often `down` tries such a pod again. */
const DOWN_RETRY_EVERY_MS = 250;

/** What `down` removes, and how long and on which clock it keeps trying. */
export interface DownOptions {
  /** The pods named on the command line. */
  pods: PodRef[];
  /** Every pod of this instance, named or not. */
  all: boolean;
  /** How long to keep trying a pod whose removal failed (default 10 000 ms). */
  retryForMs?: number;
  /** The clock of that window and of the waits between tries (default the system's). */
  clock?: Clock;
}

/** `tinylet down`: removes tinylet's pods gracefully, for uninstalling. */
export async function downCommand(
  config: AgentConfig,
  cri: Cri,
  options: DownOptions,
  raw: Io,
): Promise<number> {
  const io = printableIo(raw);
  const clock = options.clock ?? SYSTEM_CLOCK;
  const ours = await listOurs(cri, config.instance);
  const chosen = options.all
    ? ours
    : ours.filter((o) =>
      options.pods.some((p) =>
        p.namespace === o.sandbox.metadata.namespace && p.name === o.sandbox.metadata.name
      )
    );
  let code = 0;
  for (const p of options.pods) {
    if (!findPod(ours, p)) {
      io.err(`Pod ${p.namespace}/${p.name} not found`);
      code = 1;
    }
  }
  const observer = new Observer({ podLogRoot: config.podLogRoot });
  const deletions = (keys: Iterable<string>, state: ObservedState) =>
    [...keys].flatMap((key) =>
      (state.pods.get(key) ?? []).map((x) => deletionOf(x, "removed by tinylet down"))
    );
  const executorOptions = {
    cri,
    log: silentLogger,
    images: new ImagePuller({ cri, now: () => clock.epochMs() }),
    root: config.root,
    podLogRoot: config.podLogRoot,
    parallel: config.parallel,
  };
  // Per pod, in order: undefined once removed, else the last error. A pod whose removal failed
  // is looked at and tried again until the deadline: the runtime cannot remove a container it
  // is still starting (an agent stopped while a start was in flight), which ends on its own.
  const outcome = new Map<string, Error | undefined>();
  const deadline = clock.now() + (options.retryForMs ?? DOWN_RETRY_MS);
  let todo = deletions(
    chosen.map((o) => o.key),
    await observer.observe(cri, config.instance),
  );
  for (;;) {
    const failed = new Map<string, Error>();
    for (const r of await execute(todo, executorOptions)) {
      if (r.error && !failed.has(r.action.key)) failed.set(r.action.key, r.error);
      outcome.set(r.action.key, failed.get(r.action.key));
    }
    if (failed.size === 0 || clock.now() >= deadline) break;
    await new Promise<void>((r) => clock.schedule(r, DOWN_RETRY_EVERY_MS));
    const again = await observer.observe(cri, config.instance);
    for (const key of failed.keys()) if (!again.pods.has(key)) outcome.set(key, undefined);
    todo = deletions(failed.keys(), again);
  }
  for (const [key, error] of outcome) {
    if (error) {
      io.err(`Cannot remove pod ${key}: ${error.message}`);
      code = 1;
    } else {
      io.out(`pod ${key} removed`);
    }
  }
  const state = await readAgentState(statusFilePath(config.root), clock.epochMs());
  if (state.running && outcome.size > 0) {
    io.err(
      "The agent is running: it starts these pods again while their files exist. Remove the files, or stop the agent first",
    );
  }
  return code;
}
