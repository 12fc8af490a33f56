/**
 * The containerd process of a private instance: spawning it, waiting until its
 * socket and CRI answer, asking its version, and stopping it.
 *
 * @module
 */
import { connectCri } from "../lib/runtime/grpc.ts";
import type { RuntimeStatus } from "../lib/runtime/cri.ts";
import type { Tools } from "./host_prerequisites.ts";
import { errorMessage, runOk } from "./host_command.ts";
import type { Layout } from "./containerd_config.ts";
import { waitFor } from "./wait.ts";

const SOCKET_TIMEOUT_MS = 20_000;

const CRI_READY_TIMEOUT_MS = 20_000;

const STOP_GRACE_MS = 5_000;

/** The version `containerd --version` prints, e.g. `1.6.20~ds1`. */
export async function containerdVersion(tools: Tools): Promise<string> {
  const out = await runOk(tools.containerd, ["--version"]);
  // "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3"
  return out.trim().split(/\s+/)[2] ?? out.trim();
}

/** Runs containerd in the background, its output appended to the log file. */
export function spawnContainerd(tools: Tools, l: Layout): Deno.ChildProcess {
  // `exec` keeps the PID the one of containerd itself.
  const script = 'exec "$0" --config "$1" >>"$2" 2>&1';
  return new Deno.Command("/bin/sh", {
    args: ["-c", script, tools.containerd, l.config, l.log],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** Waits until containerd accepts connections on `socket`; throws when it exits first. */
export async function waitForSocket(
  socket: string,
  child: Deno.ChildProcess,
): Promise<void> {
  let exit: Deno.CommandStatus | undefined;
  child.status.then((s) => exit = s);
  const outcome = await waitFor(
    `containerd to accept connections on "${socket}"`,
    async () => {
      if (exit) return exit;
      const conn = await Deno.connect({ transport: "unix", path: socket });
      conn.close();
      return "ready";
    },
    { timeoutMs: SOCKET_TIMEOUT_MS, everyMs: 20 },
  );
  if (outcome !== "ready") {
    throw new Error(
      `containerd exited with code ${outcome.code} before serving its socket`,
    );
  }
}

/** Waits until the CRI answers and reports both the runtime and the network ready. */
export async function waitForCri(socket: string): Promise<void> {
  const cri = connectCri(socket, { timeoutMs: 2_000 });
  let last = "no answer";
  try {
    const outcome = await waitFor(
      "the CRI to report RuntimeReady and NetworkReady",
      async () => {
        try {
          last = notReady(await cri.status());
        } catch (err) {
          last = errorMessage(err);
          // The CRI plugin failed to load: waiting will not help.
          if (/unknown service runtime\.v1/.test(last)) return "absent";
          throw err;
        }
        return last === "" && "ready";
      },
      { timeoutMs: CRI_READY_TIMEOUT_MS, everyMs: 20 },
    );
    if (outcome === "absent") {
      throw new Error(
        "containerd does not serve the CRI (its log says why the cri plugin failed to load)",
      );
    }
  } catch (err) {
    throw new Error(`${errorMessage(err)} (last status: ${last})`, {
      cause: err,
    });
  } finally {
    cri.close();
  }
}

function notReady(status: RuntimeStatus): string {
  const wanted = ["RuntimeReady", "NetworkReady"];
  return wanted.flatMap((type) => {
    const c = status.conditions.find((c) => c.type === type);
    if (c?.status) return [];
    return [`${type} false${c ? `: ${c.reason} ${c.message}` : ""}`];
  }).join("; ");
}

/** Sends `sig` to the child; a child already gone is fine. */
export function signal(child: Deno.ChildProcess, sig: Deno.Signal): void {
  try {
    child.kill(sig);
  } catch {
    // Already exited.
  }
}

/** True when the child exits within `ms`; the timer never outlives the call. */
async function exitsWithin(
  child: Deno.ChildProcess,
  ms: number,
): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([child.status.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** SIGTERMs containerd; SIGKILLs it when it has not exited after a grace period. */
export async function stopContainerd(
  child: Deno.ChildProcess,
  log: (line: string) => void,
): Promise<void> {
  signal(child, "SIGTERM");
  if (await exitsWithin(child, STOP_GRACE_MS)) return;
  log(`containerd ignored SIGTERM for ${STOP_GRACE_MS} ms: SIGKILL`);
  signal(child, "SIGKILL");
  await child.status;
}
