/**
 * A {@linkcode Cri} that counts and times every call into the agent's
 * metrics, by CRI method.
 *
 * @module
 */
import type { Cri } from "../runtime/cri.ts";
import { CriError } from "../runtime/errors.ts";
import type { AgentMetrics } from "../base/metrics.ts";

/** Wraps `cri` so each call is counted, timed and its errors classified. */
export function meteredCri(cri: Cri, metrics: AgentMetrics): Cri {
  return new Proxy(cri, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      if (prop === "close" || typeof prop !== "string") return value.bind(target);
      const method = prop[0]!.toUpperCase() + prop.slice(1);
      return async (...args: unknown[]) => {
        const t0 = performance.now();
        metrics.criCalls.inc({ method });
        try {
          return await value.apply(target, args);
        } catch (err) {
          metrics.criErrors.inc({ method, kind: err instanceof CriError ? err.kind : "Other" });
          throw err;
        } finally {
          metrics.criDuration.observe((performance.now() - t0) / 1000, { method });
        }
      };
    },
  });
}
