/**
 * Pods' CPU counters summed from their containers', kept from going down as a counter must: a
 * container that goes (restarted under a new id, or exited) leaves what it used in its pod's
 * total, as the pod's own cgroup would keep it. A pod no longer listed is forgotten: its counter
 * starts again from its containers' sum, which Prometheus reads as a reset.
 *
 * @module
 */

/** One pod's containers, as the metrics sum them. */
export interface CountedPod {
  namespace: string;
  pod: string;
  containers: readonly { id: string; cpu?: { coreNanoSeconds: number } }[];
}

/** The pods' summed CPU counters, across scrapes. */
export class PodCounters {
  readonly #pods = new Map<string, { last: Map<string, number>; gone: number }>();

  /** Pod `p`'s CPU time in core-nanoseconds: its containers' now, plus those gone since. */
  total(p: CountedPod): number {
    const key = `${p.namespace}/${p.pod}`;
    const kept = this.#pods.get(key) ?? { last: new Map(), gone: 0 };
    const now = new Map<string, number>();
    for (const c of p.containers) if (c.cpu) now.set(c.id, c.cpu.coreNanoSeconds);
    for (const [id, ns] of kept.last) if (!now.has(id)) kept.gone += ns;
    kept.last = now;
    this.#pods.set(key, kept);
    let total = kept.gone;
    for (const ns of now.values()) total += ns;
    return total;
  }

  /** Forgets every pod but those of `keys` (`namespace/name`). */
  forget(keys: ReadonlySet<string>): void {
    for (const key of this.#pods.keys()) if (!keys.has(key)) this.#pods.delete(key);
  }
}
