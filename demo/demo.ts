/**
 * `deno task demo`: tinylet running ./manifests, two ways.
 *
 * - With a Docker engine (and not `--local`): the compose stack, `docker compose up --build`.
 * - Without one (or with `--local`): a private containerd in a temp dir (the test
 *   harness's), tinylet on ./manifests, and a live table of the pods. Drop a file into
 *   manifests/ or delete one and watch it act. Ctrl-C stops tinylet, removes the demo's
 *   pods and its containerd, and leaves nothing behind.
 *
 * Flags: `--local`, `--manifests DIR` (default ./manifests).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { age, table } from "../lib/cmd_pods.ts";
import { readStatusFile } from "../lib/status_file.ts";
import { missingPrerequisites, startContainerd } from "../tests/containerd_harness.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const INSTALL =
  "apt-get update && apt-get install -y containerd runc containernetworking-plugins busybox-static iproute2";

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

/** The agent's permission flags: exactly the compile task's. */
async function agentPermissions(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  return String(config.tasks.compile).split(/\s+/).filter((a) => a.startsWith("--allow-"));
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

async function localDemo(manifests: string): Promise<number> {
  const missing = await missingPrerequisites();
  if (missing.length > 0) {
    say("The local demo needs root and Debian's containerd, runc, CNI plugins and busybox-static:");
    for (const m of missing) say(`  - ${m}`);
    say(`Install them with:\n  sudo sh -c '${INSTALL}'\nthen run "sudo deno task demo" again.`);
    return 1;
  }
  // The example web pod's hostPath; removed at the end if the demo created it.
  const demoData = "/var/lib/tinylet-demo";
  const hadDemoData = await Deno.stat(demoData).then(() => true, () => false);
  say("No Docker engine (or --local): starting a private containerd for the demo...");
  const rc = await startContainerd();
  say(`containerd ${rc.version} is up in ${rc.startMs} ms (socket ${rc.socket}).`);
  say(`Its busybox is imported as ${rc.busyboxImage}, the name the example manifests use.`);
  say(
    "The agent runs with --insecure-manifest-permissions: the checkout belongs to a user, not root.",
  );
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
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
  const agent = new Deno.Command(Deno.execPath(), {
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
  const agentLog: string[] = [];
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s.pipeThrough(new TextDecoderStream())) {
      agentLog.push(...chunk.split("\n").filter(Boolean));
    }
  };
  const pumps = Promise.all([pump(agent.stdout), pump(agent.stderr)]);
  say(`Watching ${manifests}: add, edit or delete a file there. Ctrl-C stops everything.\n`);
  let shown = 0;
  let last = "";
  try {
    while (!controller.signal.aborted) {
      for (; shown < agentLog.length; shown++) {
        say(`  agent | ${agentLog[shown]!.replace(/^\S+ /, "")}`);
      }
      const status = await readStatusFile(`${root}/status.json`);
      const pods = status?.pods ?? [];
      const lines = render(pods);
      // Print the table when a pod's state changes, not when only its age does.
      const text = JSON.stringify(
        pods.map((p) => [p.namespace, p.name, p.ready, p.status, p.restarts]),
      );
      if (text !== last) {
        say(`\n${new Date().toISOString().slice(11, 19)} pods:`);
        for (const l of lines) say(`  ${l}`);
        last = text;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 500);
        controller.signal.addEventListener("abort", () => {
          clearTimeout(t);
          resolve();
        }, { once: true });
      });
    }
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    say("\nStopping: tinylet, then the demo's pods, then containerd...");
    try {
      agent.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await agent.status;
    await pumps;
    const down = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}/main.ts`, "down", "--all", ...common],
      stdout: "piped",
      stderr: "piped",
    }).output();
    for (const l of new TextDecoder().decode(down.stdout).split("\n").filter(Boolean)) {
      say(`  ${l}`);
    }
    await rc.stop();
    if (!hadDemoData) await Deno.remove(demoData, { recursive: true }).catch(() => {});
    say("Done: no process, mount, bridge or temp directory is left.");
  }
  return 0;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { local: { type: "boolean", default: false }, manifests: { type: "string" } },
    strict: true,
  });
  const manifests = values.manifests ? await Deno.realPath(values.manifests) : `${ROOT}/manifests`;
  if (
    !values.local && (await commandWorks("docker", ["info"])) &&
    (await commandWorks("docker", ["compose", "version"]))
  ) {
    return await composeDemo();
  }
  return await localDemo(manifests);
}

if (import.meta.main) Deno.exit(await main());
