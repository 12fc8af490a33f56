/**
 * How a runtime call fails: one error class, {@linkcode CriError}, whose `kind` says what
 * kind of refusal it was (the gRPC status, reduced to what callers react to). Both the gRPC
 * client and the in-memory fake throw it.
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

function findCriError(err: unknown): CriError | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 8; depth++) {
    if (e instanceof CriError) return e;
    e = e instanceof Error ? e.cause : undefined;
  }
  return undefined;
}

/** True when `err`, or an error in its `cause` chain, is a CRI NotFound. */
export function isNotFound(err: unknown): boolean {
  return findCriError(err)?.kind === "NotFound";
}
