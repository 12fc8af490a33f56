/**
 * The status file's heartbeat: after each pass the agent's state is written to the status
 * file when it changed, and at least every 10 s while the agent runs, passes or not (with a
 * long `--interval` an idle agent passes less often than the commands' 30 s staleness limit);
 * when the agent stops, once more with `stoppedAt`. Writes take turns, so the last one started
 * is the last to land.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { Logger } from "../base/log.ts";
import type { AgentState, StatusSink } from "../reconcile/agent_state.ts";
import { type StatusFile, writeStatusFile } from "./status_file.ts";

/** An unchanged status is written again after this long, so readers see the agent alive. */
export const HEARTBEAT_MS = 10_000;

/** Where the status goes and what it says of the agent. */
export interface HeartbeatOptions {
  /** The status file. */
  file: string;
  instance: string;
  /** The runtime socket. */
  socket: string;
  /** The manifest directory. */
  manifests: string;
  log: Logger;
  /** Its wall time stamps the writes. */
  clock: Clock;
  /** Writes the status file; defaults to {@linkcode writeStatusFile}. */
  write?: (file: string, status: StatusFile) => Promise<void>;
}

/** Publishes the agent's state to the status file. */
export class StatusHeartbeat implements StatusSink {
  readonly #o: HeartbeatOptions;
  /** The last status write started: the next one waits for it. */
  #writes: Promise<void> = Promise.resolve();
  #lastPublished = "";
  #lastPublishedAt = 0;
  /** When the agent stopped, once `stopped` said so. */
  #stoppedAt: number | undefined;
  /** The state last published, written again by the timer when no pass publishes it. */
  #last: AgentState | undefined;
  /** Cancels the timer that writes the last state again. */
  #cancelRefresh: (() => void) | undefined;

  constructor(options: HeartbeatOptions) {
    this.#o = options;
  }

  /** The agent (re)starts: writes no longer say it stopped. */
  start(): void {
    this.#stoppedAt = undefined;
  }

  /**
   * Writes the status file when the pods changed, and at least every {@linkcode HEARTBEAT_MS}.
   * The content is taken at the call. Never rejects: a failed write is logged. After `stopped`,
   * writes nothing.
   */
  publish(state: AgentState): Promise<void> {
    return this.#publish(state, false);
  }

  /**
   * Writes the status file with `stoppedAt`: the agent stopped. It lands after every write
   * started before it, and no later write takes `stoppedAt` out.
   */
  stopped(state: AgentState): Promise<void> {
    return this.#publish(state, true);
  }

  #publish(state: AgentState, stopped: boolean): Promise<void> {
    const o = this.#o;
    if (this.#stoppedAt !== undefined && !stopped) return Promise.resolve();
    this.#last = state;
    if (stopped) {
      this.#cancelRefresh?.();
      this.#cancelRefresh = undefined;
    }
    const now = o.clock.epochMs();
    if (stopped) this.#stoppedAt ??= now;
    const body = JSON.stringify(state.pods);
    if (!stopped && body === this.#lastPublished && now - this.#lastPublishedAt < HEARTBEAT_MS) {
      return Promise.resolve();
    }
    this.#lastPublished = body;
    this.#lastPublishedAt = now;
    // The next write comes HEARTBEAT_MS after this one at the latest, pass or not.
    this.#cancelRefresh?.();
    this.#cancelRefresh = stopped ? undefined : o.clock.schedule(() => {
      this.#cancelRefresh = undefined;
      if (this.#last) void this.#publish(this.#last, false);
    }, HEARTBEAT_MS);
    const status: StatusFile = {
      version: 1,
      agent: {
        pid: Deno.pid,
        instance: o.instance,
        socket: o.socket,
        manifests: o.manifests,
        updatedAt: new Date(now).toISOString(),
        stoppedAt: this.#stoppedAt !== undefined ? new Date(this.#stoppedAt).toISOString() : null,
        runtime: state.runtimeError === undefined ? "reachable" : "unreachable",
        runtimeError: state.runtimeError ?? null,
      },
      pods: state.pods,
      events: state.events,
    };
    const write = this.#writes.then(async () => {
      // Its turn came after the stop: the stopped write, queued behind it, replaces it anyway.
      if (!stopped && this.#stoppedAt !== undefined) return;
      try {
        await (o.write ?? writeStatusFile)(o.file, status);
      } catch (err) {
        o.log.warn(`Cannot write the status file ${o.file}: ${(err as Error).message}`);
      }
    });
    this.#writes = write;
    return write;
  }
}
