/**
 * The `docker-registry` process of a private registry: choosing a free port,
 * waiting until it answers, and stopping it by its PID.
 *
 * @module
 */
import { signal } from "./containerd_process.ts";
import { errorMessage } from "./host_command.ts";
import { waitFor } from "./wait.ts";

const READY_TIMEOUT_MS = 20_000;

const STOP_GRACE_MS = 5_000;

/** How long one probe may take: a port another process holds may accept and never answer. */
const PROBE_TIMEOUT_MS = 2_000;

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (the system picks it).
 * Another process may take it before the registry binds it: callers retry.
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    return (listener.addr as Deno.NetAddr).port;
  } finally {
    listener.close();
  }
}

/**
 * Polls `https://<host>/v2/`, trusting only the PEM `ca`, until it answers
 * 401 (auth required): resolves `"ready"`, or the exit status when the
 * process ends first. Throws when it answers anything else, or after a
 * deadline.
 */
export async function waitForRegistry(
  host: string,
  ca: string,
  child: Deno.ChildProcess,
): Promise<"ready" | Deno.CommandStatus> {
  let exit: Deno.CommandStatus | undefined;
  child.status.then((s) => exit = s);
  const url = `https://${host}/v2/`;
  const client = Deno.createHttpClient({ caCerts: [ca] });
  try {
    const outcome = await waitFor(`the registry to answer on ${url}`, async () => {
      if (exit) return exit;
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), PROBE_TIMEOUT_MS);
      try {
        const response = await fetch(url, { client, signal: abort.signal });
        await response.body?.cancel();
        return response.status;
      } finally {
        clearTimeout(timer);
      }
    }, { timeoutMs: READY_TIMEOUT_MS, everyMs: 20 });
    if (typeof outcome !== "number") return outcome;
    if (outcome !== 401) {
      throw new Error(
        `The registry answered ${url} with ${outcome}, not 401: is its auth section in effect?`,
      );
    }
    return "ready";
  } finally {
    client.close();
  }
}

/** SIGTERMs the registry; SIGKILLs it when it has not exited after a grace period. */
export async function stopRegistry(child: Deno.ChildProcess): Promise<void> {
  signal(child, "SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), STOP_GRACE_MS);
  });
  try {
    if (await Promise.race([child.status.then(() => true), timeout])) return;
  } finally {
    clearTimeout(timer);
  }
  signal(child, "SIGKILL");
  await child.status;
}

/** The last `lines` lines of the log at `path` (or why it cannot be read). */
export async function logTail(path: string, lines = 20): Promise<string> {
  try {
    const text = await Deno.readTextFile(path);
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch (err) {
    return `(cannot read ${path}: ${errorMessage(err)})`;
  }
}
