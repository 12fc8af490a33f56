/**
 * The opt-in annotations users put on pods, under the prefix `tinylet.dev/`: their values are
 * checked, and an annotation that would have no effect on some container says so.
 *
 * - `tinylet.dev/auto-update: registry`: the agent checks the tags of the pod's running
 *   containers against their registry every `--auto-update-interval`, and replaces the pod
 *   when one names a new image.
 * - `tinylet.dev/rollback-window: DURATION`: the pod's rollback window, over
 *   `--rollback-window` (`0` turns rollback off for the pod).
 *
 * @module
 */
import { parseDurationNs } from "../base/duration.ts";
import type { Reporter } from "./reporter.ts";
import { q, records } from "./values.ts";
import type { FieldPath } from "./yaml.ts";
import type { Pod } from "./pod.ts";

/** The prefix of the annotations users set to opt into tinylet's features. */
export const OPT_IN_PREFIX = "tinylet.dev/";

/** The auto-update annotation, and the one policy it takes. */
export const AUTO_UPDATE_KEY = "tinylet.dev/auto-update";
const AUTO_UPDATE_VALUES = ["registry"];

/** The rollback window annotation: a duration from 1s, or `0` (off for the pod). */
export const ROLLBACK_WINDOW_KEY = "tinylet.dev/rollback-window";

/** The opt-in annotations tinylet knows. */
const KNOWN = [AUTO_UPDATE_KEY, ROLLBACK_WINDOW_KEY];

/**
 * The rollback window `value` of the annotation says, in milliseconds (0: off), or why it says
 * none: a Go duration (`90s`, `5m`) from 1s, or `0`.
 */
export function rollbackWindowOf(value: string): { ms: number } | { error: string } {
  let ns: bigint;
  try {
    ns = parseDurationNs(value);
  } catch (err) {
    return { error: (err as Error).message };
  }
  if (ns === 0n) return { ms: 0 };
  if (ns < 1_000_000_000n) return { error: `${q(value)} is negative or shorter than 1s` };
  if (ns > 2_147_483_647_000_000n) return { error: `${q(value)} is longer than 596h31m23.647s` };
  return { ms: Number(ns / 1_000_000n) };
}

/**
 * Checks the `tinylet.dev/` annotations of a pod: a value tinylet does not know is an error;
 * an unknown key, or auto-update of a container it cannot update, a warning.
 */
export function checkOptIn(
  r: Reporter,
  annotations: Record<string, string> | undefined,
  spec: Record<string, unknown>,
): void {
  if (!annotations) return;
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith(OPT_IN_PREFIX)) continue;
    const at: FieldPath = ["metadata", "annotations", key];
    if (!KNOWN.includes(key)) {
      r.warn(at, `Ignoring the annotation ${q(key)}: tinylet knows ${KNOWN.map(q).join(", ")}`);
      continue;
    }
    if (key === ROLLBACK_WINDOW_KEY) {
      const window = rollbackWindowOf(value);
      if ("error" in window) {
        r.error(
          at,
          `Set ${
            q(key)
          } to a duration from 1s, such as "5m", or to "0" (no rollback for this pod): ${window.error}`,
        );
      }
      continue;
    }
    if (!AUTO_UPDATE_VALUES.includes(value)) {
      r.error(
        at,
        `Set ${q(key)} to "registry" or remove it: ${q(value)} is not an auto-update policy`,
      );
      continue;
    }
    for (const list of ["initContainers", "containers"] as const) {
      for (const [c, i] of records(spec[list])) {
        const name = q(String(c.name));
        if (typeof c.image === "string" && c.image.includes("@")) {
          r.warn(
            ["spec", list, i, "image"],
            `Container ${name} is not auto-updated: its image is pinned by digest`,
          );
        } else if (c.imagePullPolicy === "Never") {
          r.warn(
            ["spec", list, i, "imagePullPolicy"],
            `Container ${name} is not auto-updated: its imagePullPolicy is Never`,
          );
        }
      }
    }
  }
}

/** The rollback window of `pod` in ms: its annotation's over `flagMs` (`--rollback-window`); 0: off. */
export function podRollbackWindow(pod: Pod, flagMs: number): number {
  const value = pod.metadata.annotations?.[ROLLBACK_WINDOW_KEY];
  if (value === undefined) return flagMs;
  const w = rollbackWindowOf(value);
  return "ms" in w ? w.ms : flagMs;
}
