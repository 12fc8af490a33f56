/**
 * The local demo: a private containerd in a temp dir (the test harness's), tinylet on a
 * manifest directory, and a live table of the pods; then, on SIGINT, SIGTERM or SIGHUP, or
 * when the process that started it is gone, tinylet is stopped, the demo's pods are removed
 * and containerd is torn down, in that order.
 *
 * `deno task demo` runs this module in a session of its own (see `demo.ts`). A terminal's
 * Ctrl-C signals the whole foreground process group at once: `deno task`, the demo and
 * everything they started. In its own session the demo, its containerd, its agent and the
 * commands its cleanup runs (`tinylet down`, `runc`, `umount`, `ip`) are not in that group,
 * so none of them dies before the cleanup has used it; the foreground process relays the
 * stop request instead. Signals that arrive while the cleanup runs are ignored, and output
 * that can no longer be written (a closed terminal) never aborts it.
 *
 * Run by hand: `setsid deno run -A demo/local_demo.ts --manifests DIR [--parent PID]`; with
 * `--parent`, the demo also stops when its parent is no longer process PID. Without a session
 * of its own, a Ctrl-C in the terminal reaches its containerd and agent before its cleanup.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { age, table } from "../lib/cmd/pods.ts";
import { readStatusFile } from "../lib/agent/status_file.ts";
import { sleep, within } from "../lib/base/timer.ts";
import { type RealContainerd, startContainerd } from "../testing/containerd_harness.ts";
import { missingPrerequisites } from "../testing/host_prerequisites.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const INSTALL =
  "apt-get update && apt-get install -y containerd runc containernetworking-plugins busybox-static iproute2";
/** The signals that stop the demo: Ctrl-C, `kill`, a closed terminal. */
export const STOP_SIGNALS: readonly Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];
/** The example web pod's hostPath; removed at the end if the demo created it. */
const DEMO_DATA = "/var/lib/tinylet-demo";
/** How long tinylet may take to stop on SIGTERM before it is killed (it stops within 5 s). */
const AGENT_STOP_MS = 6_000;
/** How long `tinylet down --all` may take before it is stopped. */
const DOWN_TIMEOUT_MS = 120_000;
/** How often the demo checks that its parent still runs. */
const PARENT_CHECK_MS = 250;

/** Prints a line; a terminal that is gone must not abort the cleanup. */
function say(line: string): void {
  try {
    console.log(line);
  } catch {
    // Nowhere to write to any more: carry on.
  }
}

/** The agent's permission flags: exactly the compile task's. */
async function agentPermissions(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  return String(config.tasks.compile).split(/\s+/).filter((a) => a.startsWith("--allow-"));
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function render(
  pods: {
    namespace: string;
    name: string;
    ready: string;
    status: string;
    restarts: number;
    createdAt: string | null;
  }[],
) {
  const now = Date.now();
  const rows = [["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]];
  for (const p of pods) {
    rows.push([p.namespace, p.name, p.ready, p.status, String(p.restarts), age(p.createdAt, now)]);
  }
  return pods.length === 0 ? ["(no pods yet)"] : table(rows);
}

/** Options of {@linkcode runLocalDemo}. */
export interface LocalDemoOptions {
  /** Absolute path of the manifest directory tinylet watches. */
  manifests: string;
  /** Stop when the parent process is no longer this PID (the process that started the demo). */
  parent?: number;
}

/**
 * Runs the local demo until a stop signal (or the parent's end), then tears everything down.
 * Resolves to the exit code: 0 when everything was removed, 1 otherwise.
 */
export async function runLocalDemo(options: LocalDemoOptions): Promise<number> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  // Installed before anything starts and kept until the cleanup is over: a second Ctrl-C, or
  // the copy of the signal that `deno task` forwards, must not kill the demo half-way.
  for (const s of STOP_SIGNALS) Deno.addSignalListener(s, stop);
  const parent = options.parent;
  const watch = parent === undefined ? undefined : setInterval(() => {
    if (Deno.ppid !== parent && !controller.signal.aborted) {
      say("\nThe process that started the demo is gone: stopping.");
      controller.abort();
    }
  }, PARENT_CHECK_MS);
  try {
    return await localDemo(options.manifests, controller.signal);
  } finally {
    clearInterval(watch);
    for (const s of STOP_SIGNALS) Deno.removeSignalListener(s, stop);
  }
}

async function localDemo(manifests: string, signal: AbortSignal): Promise<number> {
  const missing = await missingPrerequisites();
  if (missing.length > 0) {
    say("The local demo needs root and Debian's containerd, runc, CNI plugins and busybox-static:");
    for (const m of missing) say(`  - ${m}`);
    say(`Install them with:\n  sudo sh -c '${INSTALL}'\nthen run "sudo deno task demo" again.`);
    return 1;
  }
  const hadDemoData = await Deno.stat(DEMO_DATA).then(() => true, () => false);
  say("No Docker engine (or --local): starting a private containerd for the demo...");
  let rc: RealContainerd;
  try {
    // Not cancellable half-way: a stop request during start-up waits for it, then tears down.
    rc = await startContainerd();
  } catch (err) {
    say(errorMessage(err));
    return 1;
  }
  say(`containerd ${rc.version} is up in ${rc.startMs} ms (socket ${rc.socket}).`);
  let agent: Agent | undefined;
  const root = `${rc.dir}/tinylet`;
  const common = [
    "--socket",
    rc.socket,
    "--root",
    root,
    "--pod-log-root",
    `${rc.dir}/pod-logs`,
    "--instance",
    "demo",
  ];
  let failed = false;
  try {
    if (!signal.aborted) {
      say(`Its busybox is imported as ${rc.busyboxImage}, the name the example manifests use.`);
      say(
        "The agent runs with --insecure-manifest-permissions: the checkout belongs to a user, not root.",
      );
      agent = await startAgent(manifests, common);
      say(`Watching ${manifests}: add, edit or delete a file there. Ctrl-C stops everything.\n`);
      failed = !await watchPods(agent, `${root}/status.json`, signal);
    }
  } catch (err) {
    say(`Run the demo: ${errorMessage(err)}`);
    failed = true;
  }
  const code = await tearDown(rc, agent, common, hadDemoData);
  return failed ? 1 : code;
}

/** The agent process and the lines it printed so far. */
interface Agent {
  process: Deno.ChildProcess;
  log: string[];
  /** How many lines of {@linkcode Agent.log} were printed. */
  shown: number;
  pumps: Promise<unknown>;
}

/** Prints the agent's lines not printed yet, without their timestamps. */
function showAgentLog(agent: Agent): void {
  for (; agent.shown < agent.log.length; agent.shown++) {
    say(`  agent | ${agent.log[agent.shown]!.replace(/^\S+ /, "")}`);
  }
}

async function startAgent(manifests: string, common: string[]): Promise<Agent> {
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...(await agentPermissions()),
      `${ROOT}/main.ts`,
      ...common,
      "--manifests",
      manifests,
      "--insecure-manifest-permissions",
      "--log-format",
      "text",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const log: string[] = [];
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s.pipeThrough(new TextDecoderStream())) {
      log.push(...chunk.split("\n").filter(Boolean));
    }
  };
  return {
    process,
    log,
    shown: 0,
    pumps: Promise.all([pump(process.stdout), pump(process.stderr)]),
  };
}

/**
 * Prints the agent's lines and the pod table until `signal` aborts (true) or the agent exits
 * on its own (false).
 */
async function watchPods(agent: Agent, statusFile: string, signal: AbortSignal): Promise<boolean> {
  let exited = false;
  agent.process.status.then(() => exited = true);
  let last = "";
  while (!signal.aborted && !exited) {
    showAgentLog(agent);
    // The agent (root, as the demo) writes it atomically: a failed read only shows no pods yet.
    const status = await readStatusFile(statusFile).catch(() => undefined);
    const pods = status?.pods ?? [];
    // Print the table when a pod's state changes, not when only its age does.
    const text = JSON.stringify(
      pods.map((p) => [p.namespace, p.name, p.ready, p.status, p.restarts]),
    );
    if (text !== last) {
      say(`\n${new Date().toISOString().slice(11, 19)} pods:`);
      for (const l of render(pods)) say(`  ${l}`);
      last = text;
    }
    await sleep(500, signal);
  }
  showAgentLog(agent);
  if (signal.aborted) return true;
  const { code, signal: killedBy } = await agent.process.status;
  say(
    `Run tinylet: it exited on its own, ${
      killedBy ? `killed by ${killedBy}` : `with code ${code}`
    }`,
  );
  return false;
}

/**
 * Stops tinylet, removes the demo's pods, tears containerd down (which removes whatever the
 * pods left: shims, mounts, the bridge, the temp dir) and the web pod's data. Every step runs
 * even when one before it failed.
 */
async function tearDown(
  rc: RealContainerd,
  agent: Agent | undefined,
  common: string[],
  hadDemoData: boolean,
): Promise<number> {
  say("\nStopping: tinylet, then the demo's pods, then containerd...");
  const failures: string[] = [];
  if (agent) {
    try {
      await stopAgent(agent.process);
      await agent.pumps;
      showAgentLog(agent);
    } catch (err) {
      failures.push(`stop tinylet: ${errorMessage(err)}`);
    }
    try {
      const down = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${ROOT}/main.ts`, "down", "--all", ...common],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(DOWN_TIMEOUT_MS),
      }).output();
      for (const l of new TextDecoder().decode(down.stdout).split("\n").filter(Boolean)) {
        say(`  ${l}`);
      }
      if (!down.success) {
        const detail = new TextDecoder().decode(down.stderr).trim();
        // containerd's teardown removes the pods anyway: report, then carry on.
        say(`  tinylet down --all exited with code ${down.code}: ${detail}`);
      }
    } catch (err) {
      failures.push(`remove the demo's pods: ${errorMessage(err)}`);
    }
  }
  try {
    await rc.stop();
  } catch (err) {
    failures.push(errorMessage(err));
  }
  if (!hadDemoData) {
    try {
      await Deno.remove(DEMO_DATA, { recursive: true });
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) {
        failures.push(`remove "${DEMO_DATA}": ${errorMessage(err)}`);
      }
    }
  }
  if (failures.length > 0) {
    say(`Stop the demo: ${failures.join("; ")}`);
    return 1;
  }
  say("Done: no process, mount, bridge or temp directory is left.");
  return 0;
}

/** SIGTERM, then SIGKILL when tinylet has not stopped within {@linkcode AGENT_STOP_MS}. */
async function stopAgent(process: Deno.ChildProcess): Promise<void> {
  try {
    process.kill("SIGTERM");
  } catch {
    return; // Already gone.
  }
  if (await within(process.status, AGENT_STOP_MS)) return;
  say(`  tinylet did not stop within ${AGENT_STOP_MS / 1000} s of SIGTERM: killing it`);
  try {
    process.kill("SIGKILL");
  } catch {
    // Exited meanwhile.
  }
  await process.status;
}

function parseParent(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9][0-9]*$/.test(value)) {
    throw new Error(`Parse the flag --parent: "${value}" is not a process ID`);
  }
  return Number(value);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { manifests: { type: "string" }, parent: { type: "string" } },
    strict: true,
  });
  const manifests = await Deno.realPath(values.manifests ?? `${ROOT}/manifests`);
  const parent = parseParent(values.parent);
  return await runLocalDemo(parent === undefined ? { manifests } : { manifests, parent });
}

if (import.meta.main) Deno.exit(await main());
