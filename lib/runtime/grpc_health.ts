/**
 * The `grpc` probe's call: one `grpc.health.v1.Health/Check` in plaintext, with the
 * request and response encoded by hand (two one-field messages), so no health proto is
 * loaded.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { CriError } from "./errors.ts";
import { kindOfStatus } from "./grpc_status.ts";

/** The method a `grpc` probe calls (the standard gRPC health checking protocol). */
const HEALTH_CHECK_METHOD = "/grpc.health.v1.Health/Check";

/** `grpc.health.v1.HealthCheckResponse.ServingStatus`, by number. */
const HEALTH_STATUS_NAMES = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

/**
 * Calls `grpc.health.v1.Health/Check` for `service` ("" for the whole server) at
 * `address` (`host:port`, IPv6 in brackets), in plaintext, once, within `timeoutMs`
 * (`Infinity`: no deadline). Resolves to the serving status by name (`SERVING`,
 * `NOT_SERVING`, `SERVICE_UNKNOWN`, `UNKNOWN`, or the number of a value this client
 * does not know). Rejects with a {@linkcode CriError} whose `kind` is the gRPC code
 * (`Unavailable` when nothing answers, `Unimplemented` when the server has no health
 * service, `NotFound` for a service the server does not know, `DeadlineExceeded`). The
 * client is closed before the promise settles. `options.signal` cancels the call (kind
 * `Cancelled`); `options.userAgent` is the `user-agent` it announces.
 */
export function grpcHealthCheck(
  address: string,
  service: string,
  timeoutMs: number,
  options: { signal?: AbortSignal; userAgent?: string } = {},
): Promise<{ status: string }> {
  const method = HEALTH_CHECK_METHOD.slice(1);
  const { signal } = options;
  if (signal?.aborted) {
    return Promise.reject(
      new CriError("Cancelled", method, `${method}: cancelled`, { cause: signal.reason }),
    );
  }
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
    ...(options.userAgent ? { "grpc.primary_user_agent": options.userAgent } : {}),
  });
  return new Promise<{ status: string }>((resolve, reject) => {
    const onAbort = () => call.cancel();
    const call = client.makeUnaryRequest(
      HEALTH_CHECK_METHOD,
      encodeHealthCheckRequest,
      decodeHealthCheckResponse,
      service,
      new grpc.Metadata(),
      { deadline: Number.isFinite(timeoutMs) ? Date.now() + timeoutMs : Infinity },
      (err, res) => {
        signal?.removeEventListener("abort", onAbort);
        client.close();
        if (err || !res) {
          const detail = err?.details || err?.message || "no response";
          reject(
            new CriError(kindOfStatus(err?.code), method, `${method}: ${detail}`, { cause: err }),
          );
        } else {
          resolve(res);
        }
      },
    );
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** `HealthCheckRequest { string service = 1; }` on the wire. */
function encodeHealthCheckRequest(service: string): Buffer {
  const text = new TextEncoder().encode(service);
  if (text.length === 0) return Buffer.alloc(0); // proto3 omits default values
  const length: number[] = [];
  let n = text.length;
  while (n >= 0x80) {
    length.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  length.push(n);
  const out = Buffer.alloc(1 + length.length + text.length);
  out[0] = 0x0a; // field 1, length-delimited
  out.set(length, 1);
  out.set(text, 1 + length.length);
  return out;
}

/** `HealthCheckResponse { ServingStatus status = 1; }` from the wire; skips unknown fields. */
function decodeHealthCheckResponse(buf: Uint8Array): { status: string } {
  let i = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      const b = buf[i++];
      if (b === undefined) break;
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
    throw new Error("Decode HealthCheckResponse: truncated varint");
  };
  let status = 0;
  while (i < buf.length) {
    const key = varint();
    const wireType = key % 8;
    if (wireType === 0) {
      const v = varint();
      if (key === 0x08) status = v; // field 1, varint
    } else if (wireType === 1) i += 8;
    else if (wireType === 2) i += varint();
    else if (wireType === 5) i += 4;
    else throw new Error(`Decode HealthCheckResponse: unsupported wire type ${wireType}`);
  }
  if (i > buf.length) throw new Error("Decode HealthCheckResponse: truncated field");
  return { status: HEALTH_STATUS_NAMES[status] ?? String(status) };
}
