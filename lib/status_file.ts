/**
 * The status the agent publishes under `--root` for the operator commands:
 * what runs, why not, and whether the agent itself is alive.
 *
 * @module
 */
import type { TimedEvent } from "./reconciler.ts";
import type { PodView } from "./status.ts";

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

/**
 * Writes the status file atomically, mode 0600: the content goes to a temp file of its own (a
 * random name, created exclusively, so never through a planted symlink, an older 0644 file or a
 * concurrent write's temp file), mode 0600 from its creation, which is then renamed over the file.
 * A status file left 0644 by an older agent is replaced by a 0600 one on the next write, and the
 * older agent's temp file (`status.json.tmp`, 0644) is removed.
 */
export async function writeStatusFile(file: string, status: StatusFile): Promise<void> {
  await Deno.mkdir(file.slice(0, file.lastIndexOf("/")) || "/", { recursive: true });
  await Deno.remove(`${file}.tmp`).catch(() => {});
  const tmp = `${file}.${randomHex()}.tmp`;
  try {
    await Deno.writeTextFile(tmp, JSON.stringify(status, null, 2) + "\n", {
      createNew: true,
      mode: STATUS_FILE_MODE,
    });
    await Deno.rename(tmp, file);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

function randomHex(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(8)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/** Reads the status file; undefined when there is none or it cannot be read. */
export async function readStatusFile(file: string): Promise<StatusFile | undefined> {
  try {
    const parsed = JSON.parse(await Deno.readTextFile(file));
    return parsed?.version === 1 ? parsed as StatusFile : undefined;
  } catch {
    return undefined;
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
