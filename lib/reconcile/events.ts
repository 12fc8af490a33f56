/**
 * The pods' recent events (a container started, a probe failed, a back-off), kept per pod with
 * their time, as `describe` lists them.
 *
 * @module
 */
import type { PodEvent } from "./executor_options.ts";

/** An event with its time, as `describe` lists them. */
export interface TimedEvent extends PodEvent {
  time: string;
}

/** How many events are kept per pod: the newest. */
export const EVENTS_KEPT = 20;

/** The last {@linkcode EVENTS_KEPT} events of each pod. */
export class EventStore {
  readonly #events = new Map<string, TimedEvent[]>();
  readonly #epochMs: () => number;

  /** `epochMs` gives the time stamped on each event. */
  constructor(epochMs: () => number) {
    this.#epochMs = epochMs;
  }

  /** Records `e` at the current time, dropping the pod's oldest past the limit. */
  add(e: PodEvent): void {
    const list = this.#events.get(e.pod) ?? [];
    list.push({ ...e, time: new Date(this.#epochMs()).toISOString() });
    if (list.length > EVENTS_KEPT) list.splice(0, list.length - EVENTS_KEPT);
    this.#events.set(e.pod, list);
  }

  /** Recent events of a pod (`namespace/name`), oldest first. */
  of(key: string): TimedEvent[] {
    return this.#events.get(key) ?? [];
  }

  /** A copy of every pod's events, as taken now. */
  snapshot(): Record<string, TimedEvent[]> {
    return Object.fromEntries([...this.#events].map(([pod, list]) => [pod, [...list]]));
  }
}
