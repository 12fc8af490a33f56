/**
 * What a pod's rollback state holds (`lib/node/rollback_state.ts` keeps it on disk), and the
 * check of a value read back: each part, each field, what a good value is. A field the check
 * does not know is left out, so a state written by a newer agent reads as what this one knows.
 *
 * @module
 */

/** An image a container ran: the id the runtime lists it by, and the repo digest to pin it. */
export interface RanImage {
  /** The image id (`sha256:…`), as `ListContainers` gives it. */
  id: string;
  /** Its repo digest (`host/app@sha256:…`), as `ContainerStatus` gives it: runs it again. */
  ref: string;
}

/** The last spec of a pod that ran its window whole. */
export interface LastGood {
  /** Its spec hash. */
  hash: string;
  /** The v1 Pod, as JSON, to run again on a rollback. */
  pod: unknown;
  /** When it became good, as an ISO 8601 time. */
  since: string;
  /**
   * The images its containers ran through the window, by container name: a later sandbox of
   * the same spec that runs others (an auto-update) is watched, and rolled back to these.
   */
  images?: Record<string, RanImage>;
}

/** An image that failed: the image as the spec names it (a tag), and the id it named. */
export interface FailedImage {
  image: string;
  id: string;
}

/** The spec that was rolled back: not tried again until the file's content changes. */
export interface RolledBack {
  /** The spec hash of the spec that failed. */
  hash: string;
  /** What failed (which container, exit code, reason or probe). */
  cause: string;
  /** When it was rolled back, as an ISO 8601 time. */
  at: string;
  /** The spec hash it was rolled back to (the last good spec). */
  from: string;
  /**
   * Set when the spec was the last good one and its new images failed (an auto-update), by
   * container name: the pod runs the last good images pinned by digest until a tag names
   * another image than the one that failed.
   */
  images?: Record<string, FailedImage>;
}

/** A replacement under watch: its window runs from `startedAt`. */
export interface Watching {
  /** The spec hash of the replacement. */
  hash: string;
  /** When its sandbox started, in epoch milliseconds. */
  startedAt: number;
  /** How long the watch lasts, in milliseconds. */
  windowMs: number;
  /**
   * Set when the spec is the last good one run with new images: their ids, by container. An
   * update asked for sets them before its sandbox exists (`startedAt` is then when it was asked).
   */
  images?: Record<string, string>;
  /**
   * Set when the spec failed its window with no last good spec to go back to: it runs as
   * declared and is not judged again (nor taken as good) until the file changes.
   */
  failed?: boolean;
}

/** What is kept of one pod identity; every part is optional. */
export interface RollbackState {
  lastGood?: LastGood;
  rolledBack?: RolledBack;
  watching?: Watching;
}

/** A check of one field: what a good value is, whether `v` is one, and its kept form. */
type FieldCheck = [what: string, ok: (v: unknown) => boolean, keep?: (v: unknown) => unknown];
const TEXT: FieldCheck = ["a non-empty string", (v) => typeof v === "string" && v !== ""];
const STRING: FieldCheck = ["a string", (v) => typeof v === "string"];
const TIME: FieldCheck = ["an ISO 8601 time", (v) => TEXT[1](v) && !isNaN(Date.parse(v as string))];
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * An optional map from container names to values that `fields` checks (or to strings, with
 * none): absent is fine; what is kept of each value is its known fields.
 */
function namesTo(what: string, fields?: Record<string, FieldCheck>): FieldCheck {
  const ok = (v: unknown) =>
    fields
      ? isObject(v) && Object.entries(fields).every(([f, [, check]]) => check(v[f]))
      : TEXT[1](v);
  return [
    `absent or an object of container names to ${what}`,
    (v) => v === undefined || (isObject(v) && Object.values(v).every(ok)),
    (v) =>
      v === undefined || !fields ? v : Object.fromEntries(
        Object.entries(v as Record<string, Record<string, unknown>>).map(([name, x]) => [
          name,
          Object.fromEntries(Object.keys(fields).map((f) => [f, x[f]])),
        ]),
      ),
  ];
}

/** Each part of a state and its fields, in the order they are written. */
const PARTS: Record<keyof RollbackState, Record<string, FieldCheck>> = {
  lastGood: {
    hash: TEXT,
    pod: ["an object (a v1 Pod)", isObject],
    since: TIME,
    images: namesTo("{id, ref}", { id: TEXT, ref: TEXT }),
  },
  rolledBack: {
    hash: TEXT,
    cause: STRING,
    at: TIME,
    from: TEXT,
    images: namesTo("{image, id}", { image: TEXT, id: TEXT }),
  },
  watching: {
    hash: TEXT,
    startedAt: ["a number", Number.isFinite],
    windowMs: ["a positive number", (v) => Number.isFinite(v) && (v as number) > 0],
    images: namesTo("image ids"),
    failed: ["absent or true", (v) => v === undefined || v === true],
  },
};

/**
 * What is wrong with `value` as a {@linkcode RollbackState} (the first problem, with its
 * field); undefined when it is one. Fields it does not know are left out of the state.
 */
export function rollbackStateProblem(value: unknown): string | undefined {
  if (!isObject(value)) return "it is not an object";
  for (const [part, fields] of Object.entries(PARTS)) {
    const v = value[part];
    if (v === undefined) continue;
    if (!isObject(v)) return `${part} is not an object`;
    for (const [field, [what, ok]] of Object.entries(fields)) {
      if (!ok(v[field])) return `${part}.${field} is not ${what}`;
    }
  }
  return undefined;
}

/** The state's own fields of a checked value, in a fixed order; absent ones stay absent. */
export function pickRollbackState(value: Record<string, unknown>): RollbackState {
  const state: Record<string, Record<string, unknown>> = {};
  for (const [part, fields] of Object.entries(PARTS)) {
    const v = value[part] as Record<string, unknown> | undefined;
    if (v === undefined) continue;
    state[part] = Object.fromEntries(
      Object.entries(fields).filter(([f]) => v[f] !== undefined)
        .map(([f, [, , keep]]) => [f, keep ? keep(v[f]) : v[f]]),
    );
  }
  return state as RollbackState;
}
