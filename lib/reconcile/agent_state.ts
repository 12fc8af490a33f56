/**
 * What the agent knows of itself and its pods, as it publishes it after each pass and when it
 * stops, and where that goes (the agent layer writes it to the status file).
 *
 * @module
 */
import type { TimedEvent } from "./events.ts";
import type { PodView } from "./status.ts";

/** What the agent knows, as it publishes it. */
export interface AgentState {
  /** The pods' status after the last pass. */
  pods: PodView[];
  /** Why the runtime is unreachable; undefined while it answers. */
  runtimeError: string | undefined;
  /** Each pod's recent events. */
  events: Record<string, TimedEvent[]>;
}

/** Where the agent's state is published (the status file). */
export interface StatusSink {
  /** The loop starts: what is published no longer says the agent stopped. */
  start(): void;
  /** After a pass: publishes `state` (or not, when nothing changed). */
  publish(state: AgentState): Promise<void>;
  /** The agent stopped: publishes `state` as its last word. */
  stopped(state: AgentState): Promise<void>;
}
