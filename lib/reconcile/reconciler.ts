/**
 * The reconciler: the pass and the loop that runs it, on one clock. A start, a file event or a
 * tick only says "look again": every pass re-reads the directory, lists the runtime, plans and
 * executes. Passes never overlap; bursts of events are coalesced.
 *
 * @module
 */
import { SYSTEM_CLOCK } from "../base/clock.ts";
import type { AgentState } from "./agent_state.ts";
import type { TimedEvent } from "./events.ts";
import { runLoop } from "./loop.ts";
import { type PassOptions, type PassResult, ReconcilePass } from "./pass.ts";
import type { Health } from "./reporting.ts";
import type { PodView } from "./status.ts";
import { DirectoryWatcher } from "./watcher.ts";

/** Everything the reconciler works with. */
export interface ReconcilerOptions extends PassOptions {
  /**
   * Run once by the loop, after the first pass that left the agent idle (nothing started, no
   * flight running or waiting); a failure is logged at debug and ignored.
   */
  onFirstIdle?: () => Promise<void>;
}

/** The agent's passes and its loop. */
export class Reconciler {
  readonly #o: ReconcilerOptions;
  readonly #pass: ReconcilePass;

  constructor(options: ReconcilerOptions) {
    this.#o = options;
    this.#pass = new ReconcilePass(options);
  }

  /**
   * One pass: read, list, plan, start the actions, report. Never throws for runtime or
   * manifest trouble. Each pod's actions run as one flight; with `detach`, the pass does not
   * wait for the flights (the loop does this, so a slow pod never delays the others); without,
   * it returns their results.
   */
  pass(signal?: AbortSignal, options: { detach?: boolean } = {}): Promise<PassResult> {
    return this.#pass.run(signal, options);
  }

  /** Runs passes until `signal` aborts: one at start, then on file events and every interval. */
  run(signal: AbortSignal): Promise<void> {
    const o = this.#o;
    const pass = this.#pass;
    return runLoop({
      clock: o.clock ?? SYSTEM_CLOCK,
      log: o.log,
      intervalMs: o.intervalMs,
      pass: (signal) => pass.run(signal, { detach: true }),
      flights: pass.flights,
      watch: (onEvent) => new DirectoryWatcher(o.source.dir, onEvent),
      onWatchEvent: () => o.metrics?.watchEvents.inc(),
      stopProbes: () => pass.stopProbes(),
      onStart: (poke) => {
        o.status?.start();
        pass.poke = poke;
        o.source.wakeWith?.(poke);
      },
      onStopped: () => {
        pass.poke = undefined;
        o.source.wakeWith?.(undefined);
        return this.publishStopped();
      },
      ...(o.onFirstIdle ? { onFirstIdle: o.onFirstIdle } : {}),
    }, signal);
  }

  /**
   * Checks the auto-update pods' images now, not at the end of `--auto-update-interval`
   * (the agent does so on SIGUSR1). Returns at once; the check runs beside
   * the passes and asks for one when it found an update.
   */
  checkImagesNow(): void {
    this.#pass.imageUpdates.checkNow();
  }

  /** Resolves when the auto-update check that runs now, if any, has finished. */
  imageChecksSettled(): Promise<void> {
    return this.#pass.imageUpdates.settled();
  }

  /** Stops the probes (when passes were run without `run`); resolves when they have unwound. */
  stop(): Promise<void> {
    return this.#pass.stopProbes();
  }

  /** The pods' status after the last pass. */
  get pods(): PodView[] {
    return this.#pass.pods;
  }

  /** Recent events of a pod (`namespace/name`), oldest first. */
  events(key: string): TimedEvent[] {
    return this.#pass.events(key);
  }

  /** What the agent knows now, as published. */
  state(): AgentState {
    return this.#pass.state();
  }

  /**
   * Whether the agent is healthy: the runtime answered, the manifest directory could be read
   * (it exists, unless `--manifest-url` makes it optional, and its permissions are accepted),
   * and a pass completed recently; and, when healthy, whether it is degraded (`--manifest-url`
   * fails: its pods run from the last good document).
   */
  health(): Health {
    return this.#pass.health();
  }

  /**
   * Publishes the agent's state as stopped. `run` does it when it ends; a caller that cannot
   * wait for that (it holds the process to a deadline) does it itself. It lands after every
   * write started before it, and no later write takes the stop out.
   */
  publishStopped(): Promise<void> {
    return this.#o.status?.stopped(this.#pass.state()) ?? Promise.resolve();
  }
}
