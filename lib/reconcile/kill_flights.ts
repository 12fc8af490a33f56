/**
 * Planned kills run on their own: each as a flight of its own under `kill/<containerId>`,
 * outside its pod's flight and the flights' slots, so a kill never waits for its pod's other
 * work (a pull, a hook, a deletion) and never runs twice at once for one container. A kill
 * whose stop failed backs off under its container's id, apart from its pod's failure backoff,
 * which kills never touch.
 *
 * @module
 */
import { Backoff, type BackoffPolicy } from "../base/backoff.ts";
import { type KillContainer, upkeepTarget } from "./actions.ts";
import type { ActionResult } from "./executor.ts";
import type { Flights } from "./flights.ts";
import type { KillRequest } from "./kills.ts";

/** What {@linkcode KillFlights.launch} started and held. */
export interface LaunchedKills {
  /** The kills started now. */
  launched: KillContainer[];
  /** Their flights, each resolving with its kill's result. */
  flights: Promise<ActionResult[]>[];
  /** When each kill held by its backoff may be tried again. */
  heldUntil: number[];
}

/** The kills' flights and their backoff. */
export class KillFlights {
  readonly #flights: Flights;
  readonly #backoff: Backoff;

  constructor(flights: Flights, policy: BackoffPolicy) {
    this.#flights = flights;
    this.#backoff = new Backoff(policy);
  }

  /**
   * Starts each of `kills` that may run at `now`: its previous try is not backing off, it is
   * not in flight, and its last flight did not end after `listedAfter` (a mark of the flights
   * taken before the listing the plan was made from: that listing may show the container
   * still running).
   */
  launch(
    kills: KillContainer[],
    now: number,
    listedAfter: number,
    signal: AbortSignal | undefined,
  ): LaunchedKills {
    const out: LaunchedKills = { launched: [], flights: [], heldUntil: [] };
    for (const k of kills) {
      const until = this.#backoff.until(k.containerId);
      if (until !== undefined && until > now) {
        out.heldUntil.push(until);
        continue;
      }
      const key = upkeepTarget(k);
      if (this.#flights.has(key) || this.#flights.endedSince(key, listedAfter)) continue;
      out.launched.push(k);
      out.flights.push(this.#flights.launch(key, [k], signal, { slot: false }));
    }
    return out;
  }

  /** Records kill results at `now`: a failed kill backs off, a kill that succeeded is forgotten. */
  record(results: ActionResult[], now: number): void {
    for (const r of results) {
      if (r.action.type !== "killContainer") continue;
      if (r.error) this.#backoff.fail(r.action.containerId, now, `${now}`);
      else this.#backoff.reset(r.action.containerId);
    }
  }

  /** When the kill of container `containerId` may be tried again; undefined when not backing off. */
  retryAt(containerId: string): number | undefined {
    return this.#backoff.until(containerId);
  }

  /** Forgets the backoff of each container that `asked` (the pending requests) no longer names. */
  prune(asked: readonly KillRequest[]): void {
    const ids = new Set(asked.map((k) => k.containerId));
    this.#backoff.prune((id) => ids.has(id));
  }
}
