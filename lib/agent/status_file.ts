/**
 * The status the agent publishes under `--root` for the operator commands:
 * what runs, why not, and whether the agent itself is alive.
 *
 * @module
 */
import type { TimedEvent } from "../reconcile/events.ts";
import type { PodView } from "../reconcile/status.ts";

/** The agent part of the status file. */
export interface AgentStatus {
  pid: number;
  instance: string;
  socket: string;
  manifests: string;
  /** Written at least every 10 s while the agent runs. */
  updatedAt: string;
  /** Set when the agent stopped cleanly. */
  stoppedAt: string | null;
  runtime: "reachable" | "unreachable";
  runtimeError: string | null;
}

/** `<root>/status.json`. */
export interface StatusFile {
  version: 1;
  agent: AgentStatus;
  pods: PodView[];
  events: Record<string, TimedEvent[]>;
}

/** An agent whose heartbeat is older than this is taken as not running. */
export const STALE_AFTER_MS = 30_000;

/** Where the status file of an agent with state root `root` lives. */
export function statusFilePath(root: string): string {
  return `${root}/status.json`;
}

/** The status file's mode: it holds probe output and error text, for root (the agent) alone. */
export const STATUS_FILE_MODE = 0o600;

/** The temp file every write goes through: one name, used by one write at a time. */
export function statusTempPath(file: string): string {
  return `${file}.tmp`;
}

/** Per status file, the end of the last write this process started: writes take turns. */
const writing = new Map<string, Promise<void>>();

/**
 * Writes the status file atomically, mode 0600. The content is taken at the call; writes to one
 * file take turns in the order they were called, so the last write called is the last to land.
 * Each goes through one temp file, {@linkcode statusTempPath}: whatever is there (the temp file of
 * a write cut short by an exit or a kill, a planted symlink, an older agent's 0644 temp file) is
 * removed, then the temp file is created exclusively (never through a symlink), mode 0600 from its
 * creation, written, and renamed over the file. An exit mid-write leaves at most that one temp
 * file, which the next write replaces; a status file left 0644 by an older agent is 0600 after the
 * next write.
 */
export function writeStatusFile(file: string, status: StatusFile): Promise<void> {
  const text = JSON.stringify(status, null, 2) + "\n";
  const write = (writing.get(file) ?? Promise.resolve()).then(() => writeNow(file, text));
  const turn = write.catch(() => {});
  writing.set(file, turn);
  void turn.then(() => {
    if (writing.get(file) === turn) writing.delete(file);
  });
  return write;
}

async function writeNow(file: string, text: string): Promise<void> {
  await Deno.mkdir(file.slice(0, file.lastIndexOf("/")) || "/", { recursive: true });
  const tmp = statusTempPath(file);
  await Deno.remove(tmp).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
  try {
    await Deno.writeTextFile(tmp, text, { createNew: true, mode: STATUS_FILE_MODE });
    await Deno.rename(tmp, file);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

/** The status file exists but cannot be read or understood. */
export class StatusFileError extends Error {
  readonly file: string;
  constructor(file: string, reason: string, options?: ErrorOptions) {
    super(`Cannot read the status file "${file}": ${reason}`, options);
    this.name = "StatusFileError";
    this.file = file;
  }
}

/** The system's reason without Deno's decoration: "Is a directory (os error 21): ..." → "is a directory". */
function osReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const reason = message.replace(/ \(os error \d+\).*$/s, "");
  return reason.charAt(0).toLowerCase() + reason.slice(1);
}

/**
 * Reads the status file: undefined when there is none. Throws {@linkcode StatusFileError} when
 * it exists but cannot be read (its mode 0600 keeps out every user but the agent's) or is not a
 * status file.
 */
export async function readStatusFile(file: string): Promise<StatusFile | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    if (err instanceof Deno.errors.PermissionDenied) {
      throw new StatusFileError(
        file,
        "permission denied (the agent writes it with mode 0600: run as root, or as the agent's user)",
        { cause: err },
      );
    }
    throw new StatusFileError(file, osReason(err), { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new StatusFileError(file, `it is not JSON (${osReason(err)})`, { cause: err });
  }
  const version = (parsed as { version?: unknown } | null)?.version;
  if (version !== 1) {
    throw new StatusFileError(
      file,
      `its version is ${
        JSON.stringify(version) ?? "missing"
      }, not 1 (written by another version of tinylet?)`,
    );
  }
  return parsed as StatusFile;
}

/**
 * Whether the agent with status file `file` runs, and what it published; never throws for the
 * file: one that cannot be read is said in the note (and the agent taken as not known to run).
 */
export async function readAgentState(
  file: string,
  now: number,
): Promise<{ status: StatusFile | undefined; running: boolean; note: string }> {
  try {
    const status = await readStatusFile(file);
    return { status, ...agentState(status, now) };
  } catch (err) {
    if (!(err instanceof StatusFileError)) throw err;
    return { status: undefined, running: false, note: err.message };
  }
}

/** Whether the agent that wrote `status` runs: a word, and a sentence for the user. */
export function agentState(
  status: StatusFile | undefined,
  now: number,
): { running: boolean; note: string } {
  if (!status) {
    return { running: false, note: "The agent has not run with this --root: no status file" };
  }
  if (status.agent.stoppedAt) {
    return {
      running: false,
      note: `The agent is not running: it stopped at ${status.agent.stoppedAt}`,
    };
  }
  const age = now - Date.parse(status.agent.updatedAt);
  if (age > STALE_AFTER_MS) {
    return {
      running: false,
      note: `The agent is not running: its last sign of life was ${Math.round(age / 1000)} s ago`,
    };
  }
  return { running: true, note: "" };
}
