/**
 * Telling a user, in one line, why the runtime endpoint does not answer.
 *
 * @module
 */
import type { CallOptions, Cri, VersionInfo } from "./cri.ts";
import { CriError } from "./errors.ts";

/**
 * Asks the runtime at `socketPath` for its version. Rejects with one clear
 * line (a {@linkcode RuntimeUnreachableError}) when nothing answers there or
 * what answers is not a CRI `runtime.v1` runtime.
 */
export async function checkRuntime(
  cri: Cri,
  socketPath: string,
  opts?: CallOptions,
): Promise<VersionInfo> {
  try {
    return await cri.version(opts);
  } catch (err) {
    throw new RuntimeUnreachableError(
      socketPath,
      await describeEndpoint(socketPath, err),
      { cause: err },
    );
  }
}

/** The runtime endpoint is missing, refuses connections, or is not CRI. */
export class RuntimeUnreachableError extends Error {
  readonly socketPath: string;
  constructor(socketPath: string, reason: string, options?: ErrorOptions) {
    super(
      `Cannot reach the container runtime at "${socketPath}": ${reason} (is containerd running? see --socket)`,
      options,
    );
    this.name = "RuntimeUnreachableError";
    this.socketPath = socketPath;
  }
}

/** Says in a few words why the runtime at `socketPath` failed a call with `err`. */
export async function describeEndpoint(
  socketPath: string,
  err: unknown,
): Promise<string> {
  try {
    const info = await Deno.stat(socketPath);
    if (!info.isSocket) return "not a socket";
  } catch (statErr) {
    if (statErr instanceof Deno.errors.NotFound) return "no such socket";
    if (statErr instanceof Deno.errors.PermissionDenied) {
      return "permission denied (run as root, or as a user allowed to use the socket)";
    }
  }
  const detail = err instanceof Error ? err.message : String(err);
  if (err instanceof CriError && err.kind === "Unimplemented") {
    return "the endpoint does not serve the CRI runtime.v1 API";
  }
  if (/ECONNREFUSED/.test(detail)) return "nothing is listening on the socket";
  if (/EACCES|permission denied/i.test(detail)) {
    return "permission denied (run as root, or as a user allowed to use the socket)";
  }
  if (err instanceof CriError && err.kind === "DeadlineExceeded") {
    return "the runtime did not answer in time";
  }
  return detail;
}
