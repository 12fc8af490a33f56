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

/** Writes the status file atomically (a temp file, then a rename). */
export async function writeStatusFile(file: string, status: StatusFile): Promise<void> {
  await Deno.mkdir(file.slice(0, file.lastIndexOf("/")) || "/", { recursive: true });
  const tmp = `${file}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(status, null, 2) + "\n");
  await Deno.rename(tmp, file);
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
