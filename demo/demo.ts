/**
 * `deno task demo`: tinylet running ./manifests, two ways.
 *
 * - With a Docker engine (and not `--local`): the compose stack, `docker compose up --build`.
 * - Without one (or with `--local`): `local_demo.ts`, a private containerd in a temp dir (the
 *   test harness's), tinylet on ./manifests, and a live table of the pods. Drop a file into
 *   manifests/ or delete one and watch it act. Ctrl-C stops tinylet, removes the demo's
 *   pods and its containerd, and leaves nothing behind.
 *
 * The local demo runs in a session of its own, so the SIGINT a terminal sends to its whole
 * foreground process group on Ctrl-C reaches only this process (and `deno task`), never the
 * demo's containerd, agent or cleanup. This process relays one stop request (SIGTERM) on
 * SIGINT, SIGTERM or SIGHUP, and waits for the cleanup; if it dies first, the demo notices
 * that its parent is gone and cleans up all the same.
 *
 * Flags: `--local`, `--manifests DIR` (default ./manifests).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { STOP_SIGNALS } from "./local_demo.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

function say(line: string) {
  console.log(line);
}

async function commandWorks(cmd: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output();
    return out.success;
  } catch {
    return false;
  }
}

async function composeDemo(): Promise<number> {
  say("A Docker engine answers: running the compose stack (docker compose up --build).");
  say("The agent runs with --insecure-manifest-permissions: ./manifests belongs to you, not root.");
  const child = new Deno.Command("docker", {
    args: ["compose", "up", "--build"],
    cwd: ROOT,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  return (await child.status).code;
}

/**
 * Runs `local_demo.ts` in a new session and relays the first stop signal to it as SIGTERM.
 * Resolves to its exit code once it has cleaned up.
 */
async function localDemo(manifests: string): Promise<number> {
  const demo = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      `${ROOT}/demo/local_demo.ts`,
      "--manifests",
      manifests,
      "--parent",
      String(Deno.pid),
    ],
    cwd: ROOT,
    // setsid(2): out of the terminal's foreground process group.
    detached: true,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  let relayed = false;
  const relay = () => {
    if (relayed) return;
    relayed = true;
    try {
      demo.kill("SIGTERM");
    } catch {
      // It has exited already.
    }
  };
  // Never removed: a late copy of the signal (`deno task` forwards the one it got) must not
  // kill this process while it waits, nor turn the demo's exit code into 130.
  for (const s of STOP_SIGNALS) Deno.addSignalListener(s, relay);
  return (await demo.status).code;
}

/** The flags, or the reason they are refused. */
async function parseFlags(args: string[]): Promise<{ local: boolean; manifests: string } | string> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: { local: { type: "boolean", default: false }, manifests: { type: "string" } },
      strict: true,
    }));
  } catch (err) {
    return `Parse the demo's flags: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (values.manifests === undefined) {
    return { local: values.local, manifests: `${ROOT}/manifests` };
  }
  try {
    const manifests = await Deno.realPath(values.manifests);
    if (!(await Deno.stat(manifests)).isDirectory) {
      return `Open the manifest directory "${values.manifests}": it is not a directory`;
    }
    return { local: values.local, manifests };
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound
      ? "it does not exist"
      : err instanceof Error
      ? err.message
      : String(err);
    return `Open the manifest directory "${values.manifests}": ${why}`;
  }
}

async function main(): Promise<number> {
  const flags = await parseFlags(Deno.args);
  if (typeof flags === "string") {
    console.error(flags);
    return 2;
  }
  if (
    !flags.local && (await commandWorks("docker", ["info"])) &&
    (await commandWorks("docker", ["compose", "version"]))
  ) {
    return await composeDemo();
  }
  return await localDemo(flags.manifests);
}

if (import.meta.main) Deno.exit(await main());
