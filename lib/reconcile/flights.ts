/**
 * The flights: each pod's planned actions run as one flight, at most `parallel` at once, one
 * per pod. Planned flights that find no free slot wait in a queue that finishing flights take
 * from; a new plan replaces the queue. Work launched outside the slots (a kill, under a key of
 * its own) is a flight too, so it runs once per key and a stopping agent waits for it.
 *
 * @module
 */
import type { Action } from "./plan.ts";
import type { ActionResult } from "./executor.ts";

/** Runs one pod's actions in order and reports them; resolves with their results. */
export type Fly = (
  key: string,
  group: Action[],
  signal: AbortSignal | undefined,
) => Promise<ActionResult[]>;

/** The pods' flights in progress and those waiting for a slot. */
export class Flights {
  readonly #parallel: number;
  readonly #fly: Fly;
  readonly #running = new Map<string, Promise<ActionResult[]>>();
  /** The keys of the running flights that take a slot. */
  readonly #slotted = new Set<string>();
  /** Pods whose flight was running when a pass planned more for them. */
  readonly #wanted = new Set<string>();
  /** Planned flights waiting for a slot, in plan order. */
  readonly #queue = new Map<string, Action[]>();
  /** How many flights have ended. */
  #ended = 0;
  /** Per pod, the value of `#ended` its last flight ended with, until forgotten. */
  readonly #endedAt = new Map<string, number>();
  /**
   * Called when a flight ends. `later` when the pass it asks for may wait a little: flights
   * still wait for a slot, or other pods' flights still run and this one succeeded and left its
   * pod nothing to do next (no init container started, no kill). The last flight to end, a failed
   * one, and one after which its pod goes on ask for a pass at once.
   */
  onDone: ((later: boolean) => void) | undefined;

  constructor(parallel: number, fly: Fly) {
    this.#parallel = parallel;
    this.#fly = fly;
  }

  /** Whether every slot is taken. */
  get full(): boolean {
    return this.#slotted.size >= this.#parallel;
  }

  /** Whether no flight runs and none waits for a slot. */
  get idle(): boolean {
    return this.#running.size === 0 && this.#queue.size === 0;
  }

  /** Whether a flight of pod `key` is in progress. */
  has(key: string): boolean {
    return this.#running.has(key);
  }

  /** Whether a flight of pod `key` is in progress or waits in the queue for a slot. */
  pending(key: string): boolean {
    return this.#running.has(key) || this.#queue.has(key);
  }

  /** How many flights have ended so far: a mark to compare with {@linkcode endedSince}. */
  get ended(): number {
    return this.#ended;
  }

  /** Whether the last flight of pod `key` ended after `mark` was taken. */
  endedSince(key: string, mark: number): boolean {
    return (this.#endedAt.get(key) ?? 0) > mark;
  }

  /** Forgets the ends of flights that ended by `mark`. */
  forgetEndedBy(mark: number): void {
    for (const [key, ended] of this.#endedAt) if (ended <= mark) this.#endedAt.delete(key);
  }

  /**
   * Starts the flight of `key` (a pod's key; with `slot` false, a key of its own, and the
   * flight takes no slot).
   */
  launch(
    key: string,
    group: Action[],
    signal?: AbortSignal,
    { slot = true }: { slot?: boolean } = {},
  ): Promise<ActionResult[]> {
    if (slot) this.#slotted.add(key);
    const flight = this.#run(key, group, signal);
    this.#running.set(key, flight);
    return flight;
  }

  /** A pass planned more for pod `key` while its flight runs: its end asks for a pass at once. */
  want(key: string): void {
    this.#wanted.add(key);
  }

  /** Puts pod `key`'s flight in the queue, behind those already there. */
  enqueue(key: string, group: Action[]): void {
    this.#queue.set(key, group);
  }

  /** Empties the queue: the next pass plans those pods again. */
  clearQueue(): void {
    this.#queue.clear();
  }

  /** How many flights wait for a slot. */
  get queued(): number {
    return this.#queue.size;
  }

  /** Resolves when every flight in progress has ended. */
  settled(): Promise<unknown> {
    return Promise.allSettled([...this.#running.values()]);
  }

  /**
   * Starts queued flights while slots are free. A failed flight starts none (the runtime may
   * be in trouble: the next pass looks first), nor does a stopping agent.
   */
  #startQueued(ok: boolean, signal?: AbortSignal) {
    if (!ok || signal?.aborted) {
      this.#queue.clear();
      return;
    }
    for (const [key, group] of this.#queue) {
      if (this.full) break;
      this.#queue.delete(key);
      if (this.#running.has(key)) continue;
      void this.launch(key, group, signal);
    }
  }

  /** Runs one flight; then frees its slot, starts queued flights and says it ended. */
  async #run(key: string, group: Action[], signal?: AbortSignal): Promise<ActionResult[]> {
    let ok = false;
    try {
      const results = await this.#fly(key, group, signal);
      ok = results.every((r) => !r.error);
      return results;
    } finally {
      this.#running.delete(key);
      this.#slotted.delete(key);
      this.#endedAt.set(key, ++this.#ended);
      this.#startQueued(ok, signal);
      const wanted = this.#wanted.delete(key);
      const othersRun = ok && this.#slotted.size > 0 && !wanted && !goesOn(group);
      this.onDone?.(this.#queue.size > 0 || othersRun);
    }
  }
}

/**
 * Whether the pod has a next step soon after this flight: a kill (its container may restart),
 * a start of an init container (the next one starts when it has exited, or a sidecar has
 * started), or a created container started (it may be one of those), so the pass after it
 * should not wait for other pods' flights.
 */
function goesOn(group: Action[]): boolean {
  return group.some((a) =>
    a.type === "killContainer" || a.type === "startCreated" ||
    ((a.type === "createPod" || a.type === "startContainers") &&
      a.start.some((s) => a.pod.containers.find((c) => c.name === s.name)?.type !== "regular"))
  );
}

/** The actions of each pod, by key, in plan order: one flight's worth each. */
export function groupByPod(actions: Action[]): Map<string, Action[]> {
  const groups = new Map<string, Action[]>();
  for (const a of actions) groups.set(a.key, [...(groups.get(a.key) ?? []), a]);
  return groups;
}
