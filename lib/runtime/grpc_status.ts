/**
 * How gRPC status codes and {@linkcode CriErrorKind}s map to each other, in one table read
 * both ways: the client turns a status into a kind, and a server (the fake served over
 * gRPC) turns a kind back into the status the client reads as that same kind.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import type { CriErrorKind } from "./errors.ts";

/** The gRPC status of each kind; every status not listed here is `Other`. */
const STATUS_OF_KIND: Readonly<Record<CriErrorKind, grpc.status>> = {
  NotFound: grpc.status.NOT_FOUND,
  Unavailable: grpc.status.UNAVAILABLE,
  DeadlineExceeded: grpc.status.DEADLINE_EXCEEDED,
  AlreadyExists: grpc.status.ALREADY_EXISTS,
  Cancelled: grpc.status.CANCELLED,
  Unimplemented: grpc.status.UNIMPLEMENTED,
  Other: grpc.status.UNKNOWN,
};

const KIND_OF_STATUS = new Map<number, CriErrorKind>(
  (Object.entries(STATUS_OF_KIND) as [CriErrorKind, grpc.status][])
    .filter(([kind]) => kind !== "Other")
    .map(([kind, code]) => [code, kind]),
);

/** The kind of a call that failed with gRPC status `code`; `Other` for the rest. */
export function kindOfStatus(code: number | undefined): CriErrorKind {
  return (code === undefined ? undefined : KIND_OF_STATUS.get(code)) ?? "Other";
}

/** The gRPC status a server answers for `kind`; `kindOfStatus` reads it back as `kind`. */
export function statusOfKind(kind: CriErrorKind): grpc.status {
  return STATUS_OF_KIND[kind];
}
