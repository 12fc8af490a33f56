/**
 * Container log rotation. containerd writes each container's log to one file
 * in the CRI log format and never rotates it; kubelet does, and so does tinylet.
 *
 * Mirrors kubelet's `pkg/kubelet/logs/container_log_manager.go`: a log at or
 * over the size limit is renamed to `<log>.<YYYYMMDD-hhmmss>`, the runtime is
 * asked to reopen it (CRI `ReopenContainerLog`), a failed reopen renames the
 * file back so the next pass tries again, and the oldest rotated files are
 * deleted so that at most `maxFiles` files (the current one included) remain.
 * Unlike kubelet, tinylet does not gzip older rotated files.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { memoryBytes, parseQuantity, QuantityError } from "../manifest/quantity.ts";

/** When a container's log is rotated and how many of its files are kept. */
export interface RotationPolicy {
  /** A log of this many bytes or more is rotated (kubelet's `--container-log-max-size`). */
  maxSizeBytes: number;
  /**
   * The most files of one log kept on disk, the current file included, so at most
   * `maxFiles - 1` rotated files (kubelet's `--container-log-max-files`). At least 2.
   */
  maxFiles: number;
}

/** kubelet's defaults: rotate at 10Mi, keep 5 files (the current one and 4 rotated). */
export const DEFAULT_ROTATION: RotationPolicy = Object.freeze({
  maxSizeBytes: 10 * 1024 * 1024,
  maxFiles: 5,
});

/** A running container's log to watch. */
export interface ContainerLog {
  containerId: string;
  /** The absolute path of the log, as `ContainerStatus.logPath` gives it. */
  logPath: string;
}

/** One log that was rotated. */
export interface RotationResult {
  containerId: string;
  /** The path the log was renamed to: `<logPath>.<YYYYMMDD-hhmmss>`. */
  rotatedTo: string;
  /** The older rotated files deleted to respect `maxFiles`, oldest first. */
  removed: string[];
}

/** A container whose log could not be rotated or pruned this pass. */
export interface RotationError {
  containerId: string;
  /** Says what to do first; the file system or runtime error is its `cause`. */
  error: Error;
}

/**
 * Rotates every log of `logs` whose size is `policy.maxSizeBytes` or more
 * (kubelet rotates at the limit, not only above it). For each such log, in order:
 *
 * 1. renames `<log>` to `<log>.<timestamp>`, the timestamp being `now` in UTC in
 *    kubelet's format `20060102-150405` (kubelet uses the node's local time);
 * 2. calls `reopen(containerId)` so the runtime opens a fresh `<log>` (the
 *    executor's `rotateLogs` action passes the CRI `ReopenContainerLog` call,
 *    with a container already gone counting as reopened; this module makes no
 *    runtime call itself); tinylet never creates that file itself. If
 *    `reopen` rejects, the file is renamed back, as kubelet does, so the next
 *    pass rotates it again, and the container is reported in `errors`;
 * 3. deletes the oldest rotated files (files named `<basename>.` + anything in the
 *    log's directory, oldest by name) so that at most `maxFiles - 1` remain. The
 *    file just rotated is never deleted. kubelet prunes before renaming; tinylet
 *    prunes after a successful reopen, so a failed reopen deletes nothing.
 *
 * Rotated files are not compressed: kubelet gzips all but the newest rotated
 * file, tinylet keeps them as plain text.
 *
 * Skipped without error: a log with an empty path (the container has none), a
 * log file that does not exist yet (kubelet asks the runtime to reopen it;
 * tinylet waits for the runtime to create it), and a log whose rotated name
 * already exists because it was rotated earlier in the same second: it is left
 * for the next pass rather than overwriting the earlier file or inventing a new
 * name format.
 *
 * Logs are handled one after another; one container's failure never stops the
 * others. A container whose rotation succeeded but whose pruning failed appears
 * in both `rotated` and `errors`. Throws only for an invalid `policy` or `now`.
 */
export async function rotateLogs(
  logs: ContainerLog[],
  policy: RotationPolicy,
  reopen: (containerId: string) => Promise<void>,
  now: Date,
): Promise<{ rotated: RotationResult[]; errors: RotationError[] }> {
  checkPolicy(policy);
  const stamp = timestamp(now);
  const rotated: RotationResult[] = [];
  const errors: RotationError[] = [];
  for (const { containerId, logPath } of logs) {
    let rotatedTo: string | undefined;
    try {
      rotatedTo = await rotateOne(containerId, logPath, policy.maxSizeBytes, reopen, stamp);
    } catch (error) {
      errors.push({ containerId, error: asError(error) });
      continue;
    }
    if (rotatedTo === undefined) continue;
    const removed: string[] = [];
    try {
      await removeExcess(logPath, rotatedTo, policy.maxFiles - 1, removed);
    } catch (error) {
      errors.push({ containerId, error: asError(error) });
    }
    rotated.push({ containerId, rotatedTo, removed });
  }
  return { rotated, errors };
}

/**
 * Removes a container's log file and every rotated file of it (files named
 * `<basename>.` + anything in the same directory), for when a dead container
 * instance is removed. Files or a directory that are already gone are fine.
 * Tries every file and then throws an `AggregateError` of the failures.
 */
export async function removeLogFiles(logPath: string): Promise<void> {
  if (logPath === "") return;
  const failures: Error[] = [];
  const paths = [logPath];
  try {
    paths.push(...await rotatedFiles(logPath));
  } catch (error) {
    failures.push(asError(error));
  }
  for (const path of paths) {
    try {
      await Deno.remove(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      failures.push(
        new Error(`Check the permissions of "${path}": removing it failed`, { cause: error }),
      );
    }
  }
  if (failures.length > 0) {
    throw new AggregateError(
      failures,
      `Remove the remaining log files of "${logPath}" by hand: ${failures.length} could not be removed`,
    );
  }
}

/**
 * Parses a log size as kubelet's `--container-log-max-size` does: a byte count
 * ("1048576") or a Kubernetes quantity ("10Mi" is 10485760, "10M" is 10000000,
 * "512Ki" is 524288). Throws a {@linkcode QuantityError} for text that is not a
 * quantity, for a fraction of a byte (kubelet needs a whole number), and for
 * sizes below 1Ki (1024 bytes).
 */
export function parseLogSize(text: string): number {
  const advice = `Give the log size as a byte count or a quantity such as "10Mi" or "10M"`;
  let bytes: number;
  try {
    bytes = memoryBytes(text);
  } catch (error) {
    if (!(error instanceof QuantityError)) throw error;
    // Keep the quantity parser's reason, the part after its own advice.
    const colon = error.message.indexOf(": ");
    const reason = colon >= 0 ? error.message.slice(colon + 2) : `"${text}" is not one`;
    const wrapped = new QuantityError(`${advice}: ${reason}`);
    wrapped.cause = error; // QuantityError's constructor takes no options.
    throw wrapped;
  }
  // memoryBytes rounds up to a whole byte; kubelet refuses what is not one ("1.5").
  if (!Number.isInteger(parseQuantity(text))) {
    throw new QuantityError(`${advice}: "${text}" is not a whole number of bytes`);
  }
  if (bytes < 1024) {
    throw new QuantityError(
      `Give a log size of at least "1Ki" (1024 bytes): "${text}" is ${bytes} bytes`,
    );
  }
  return bytes;
}

// --- internals ---

/** Renames the log when it is due; returns the rotated path, or undefined when skipped. */
async function rotateOne(
  containerId: string,
  logPath: string,
  maxSizeBytes: number,
  reopen: (containerId: string) => Promise<void>,
  stamp: string,
): Promise<string | undefined> {
  if (logPath === "") return undefined;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(logPath);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new Error(
      `Check the permissions of "${logPath}": reading the size of the log of container "${containerId}" failed`,
      { cause: error },
    );
  }
  if (!info.isFile) {
    throw new Error(
      `Remove or replace "${logPath}": the log of container "${containerId}" is not a regular file`,
    );
  }
  if (info.size < maxSizeBytes) return undefined;

  const rotatedTo = `${logPath}.${stamp}`;
  if (await exists(rotatedTo)) return undefined;
  const dir = dirname(logPath);
  try {
    await Deno.rename(logPath, rotatedTo);
  } catch (error) {
    throw new Error(
      `Check the permissions of "${dir}": renaming the log of container "${containerId}" to "${rotatedTo}" failed`,
      { cause: error },
    );
  }
  try {
    await reopen(containerId);
  } catch (error) {
    try {
      await Deno.rename(rotatedTo, logPath);
    } catch (renameError) {
      throw new AggregateError(
        [error, renameError],
        `Rename "${rotatedTo}" back to "${logPath}" by hand: the runtime did not reopen the log of container "${containerId}" and renaming it back failed`,
      );
    }
    throw new Error(
      `Check the container runtime; the log is rotated again next pass: reopening the log of container "${containerId}" failed, so "${rotatedTo}" was renamed back to "${logPath}"`,
      { cause: error },
    );
  }
  return rotatedTo;
}

/**
 * Deletes the oldest rotated files of `logPath` until at most `keep` remain,
 * never `newest`. Appends each deleted path to `removed` as it goes, so the
 * caller knows what went before a failure.
 */
async function removeExcess(
  logPath: string,
  newest: string,
  keep: number,
  removed: string[],
): Promise<void> {
  const others = (await rotatedFiles(logPath)).filter((path) => path !== newest);
  const excess = others.length - (keep - 1);
  for (const path of others.slice(0, Math.max(0, excess))) {
    try {
      await Deno.remove(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw new Error(
        `Check the permissions of "${path}": removing this old rotated log failed`,
        { cause: error },
      );
    }
    removed.push(path);
  }
}

/** The rotated files of `logPath` (`<basename>.*` beside it), oldest first by name. */
async function rotatedFiles(logPath: string): Promise<string[]> {
  const dir = dirname(logPath);
  const prefix = `${basename(logPath)}.`;
  const paths: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.startsWith(prefix)) paths.push(join(dir, entry.name));
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw new Error(`Check the permissions of "${dir}": listing the rotated logs failed`, {
      cause: error,
    });
  }
  // The timestamps are fixed-width, so name order is age order.
  return paths.sort();
}

/** True when something, even a dangling symlink, is at `path`. */
async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** kubelet's rotated-log suffix "20060102-150405", in UTC. */
function timestamp(now: Date): string {
  if (Number.isNaN(now.getTime())) {
    throw new RangeError(`Pass a valid date as the rotation time: got "${now}"`);
  }
  const date = `${pad(now.getUTCFullYear(), 4)}${pad(now.getUTCMonth() + 1)}${
    pad(now.getUTCDate())
  }`;
  const time = `${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}`;
  return `${date}-${time}`;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

function checkPolicy({ maxSizeBytes, maxFiles }: RotationPolicy): void {
  if (!Number.isSafeInteger(maxSizeBytes) || maxSizeBytes < 1) {
    throw new RangeError(
      `Set maxSizeBytes to a whole number of bytes, 1 or more: got "${maxSizeBytes}"`,
    );
  }
  if (!Number.isSafeInteger(maxFiles) || maxFiles < 2) {
    throw new RangeError(
      `Set maxFiles to 2 or more, the current file counting as one: got "${maxFiles}"`,
    );
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
