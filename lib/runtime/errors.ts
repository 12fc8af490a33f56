/**
 * How a runtime call fails: one error class, {@linkcode CriError}, whose `kind` says what
 * kind of refusal it was (the gRPC status, reduced to what callers react to). Both the gRPC
 * client and the in-memory fake throw it. Callers ask the predicates here
 * ({@linkcode isNotFound}, {@linkcode isNoPodCgroup}), which find it inside the errors that
 * wrap it.
 *
 * @module
 */

/** What kind of refusal a runtime error is; decides how callers react. */
export type CriErrorKind =
  | "NotFound"
  | "Unavailable"
  | "DeadlineExceeded"
  | "AlreadyExists"
  | "Cancelled"
  | "Unimplemented"
  | "Other";

/** A runtime call that failed. The transport's own error is the `cause`. */
export class CriError extends Error {
  readonly kind: CriErrorKind;
  readonly method: string;
  constructor(
    kind: CriErrorKind,
    method: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.kind = kind;
    this.method = method;
    this.name = kind === "Other" ? "CriError" : `${kind}Error`;
  }
}

/**
 * The runtime error `err` is about: `err` itself, else the first found down its `cause` chain.
 * An `AggregateError` (a pull tried with several credentials) is looked into too, its members
 * from the last to the first, then its own `cause`: the last runtime error among the tries is
 * the refusal the user reads last, so its kind is the one callers react to (a later try that
 * failed without one is passed over). At most 32 errors are looked at.
 */
export function findCriError(err: unknown): CriError | undefined {
  const pending: unknown[] = [err];
  const seen = new Set<unknown>();
  while (pending.length > 0 && seen.size < 32) {
    const e = pending.pop();
    if (!(e instanceof Error) || seen.has(e)) continue;
    seen.add(e);
    if (e instanceof CriError) return e;
    // Popped last first: the members, from the last, then the cause.
    pending.push(e.cause);
    if (e instanceof AggregateError) pending.push(...e.errors);
  }
  return undefined;
}

/** True when the runtime error {@linkcode findCriError} finds in `err` is a NotFound. */
export function isNotFound(err: unknown): boolean {
  return findCriError(err)?.kind === "NotFound";
}

/** The stats methods whose refusal {@linkcode isNoPodCgroup} recognises. */
const POD_STATS_METHODS: ReadonlySet<string> = new Set(["PodSandboxStats", "ListPodSandboxStats"]);

/**
 * True when `err` is the runtime's refusal to measure a pod sandbox that has no cgroup parent
 * (all of tinylet's): a `PodSandboxStats` or `ListPodSandboxStats` error of kind `Other` that
 * says `cgroupPath is empty`. Its text has to be read because its kind cannot tell it:
 * containerd 1.6 answers with the gRPC code Unknown. The text is pinned by the runtime
 * contract (`testing/cri_contract_stats.ts`, which runs against the real containerd), so a
 * containerd that words it otherwise fails there first.
 */
export function isNoPodCgroup(err: unknown): boolean {
  const e = findCriError(err);
  return e !== undefined && e.kind === "Other" && POD_STATS_METHODS.has(e.method) &&
    e.message.includes("cgroupPath is empty");
}
