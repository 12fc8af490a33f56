/**
 * What a pod on the real runtime shows from inside and around it, for end-to-end tests: a
 * command run in one of its containers through ExecSync (its env, files, modes and links), the
 * container's mount table, the host's mounts under a directory, the running pod of a name; and
 * around it, a manifest written as editors write it, the files on the host that hold a given
 * text, and a `tinylet` command run as a user runs it.
 *
 * @module
 */
import type { Container, Cri, PodSandbox } from "../lib/runtime/cri.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { MAIN } from "./agent_args.ts";
import { runOk } from "./host_command.ts";
import { waitFor } from "./wait.ts";

/** How a command ended and what it printed. */
export interface Output {
  code: number;
  out: string;
  err: string;
}

const utf8 = new TextDecoder();

/** Runs `cmd` in container `id` through ExecSync, with a deadline of `timeoutSeconds`. */
export async function execIn(
  cri: Cri,
  id: string,
  cmd: string[],
  timeoutSeconds = 10,
): Promise<Output> {
  const r = await cri.execSync(id, cmd, timeoutSeconds);
  return { code: r.exitCode, out: utf8.decode(r.stdout), err: utf8.decode(r.stderr) };
}

/** Runs `cmd` in container `id`; returns its stdout, throws with its exit code and stderr when it fails. */
export async function execOk(cri: Cri, id: string, cmd: string[]): Promise<string> {
  const r = await execIn(cri, id, cmd);
  if (r.code !== 0) {
    throw new Error(
      `Run ${JSON.stringify(cmd)} in container ${id}: exit code ${r.code}: ${r.err.trim()}`,
    );
  }
  return r.out;
}

/** The environment of container `id`, from `env` run in it. */
export async function envIn(cri: Cri, id: string): Promise<Record<string, string>> {
  return parseEnv(await execOk(cri, id, ["env"]));
}

/** The `NAME=VALUE` lines of `env` output, as a record. */
export function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return env;
}

/** The entries of `env` named in `want`'s keys, to compare with `want`. */
export function pick(env: Record<string, string>, want: Record<string, string>) {
  return Object.fromEntries(Object.keys(want).map((k) => [k, env[k]]));
}

/** Each file's content in container `id`, in order. */
export function catIn(cri: Cri, id: string, paths: string[]): Promise<string[]> {
  return Promise.all(paths.map((p) => execOk(cri, id, ["cat", p])));
}

/** Each file's permission bits in container `id` (`stat -L`: links followed), in octal. */
export function modesIn(cri: Cri, id: string, paths: string[]): Promise<string[]> {
  return Promise.all(
    paths.map(async (p) => (await execOk(cri, id, ["stat", "-L", "-c", "%a", p])).trim()),
  );
}

/** Where each link in container `id` points (`readlink`), in order. */
export function linksIn(cri: Cri, id: string, paths: string[]): Promise<string[]> {
  return Promise.all(paths.map(async (p) => (await execOk(cri, id, ["readlink", p])).trim()));
}

/** The names in directory `dir` of container `id` (`ls -A`), sorted. */
export async function namesIn(cri: Cri, id: string, dir: string): Promise<string[]> {
  return (await execOk(cri, id, ["ls", "-A", dir])).split("\n").filter(Boolean).sort();
}

/** One mount: its mount point, file system type and options. */
export interface MountEntry {
  target: string;
  fstype: string;
  options: string[];
}

/** Undoes the octal escapes (`\040` for a space) of the mount tables. */
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The entries of a `/proc/mounts` text (`SOURCE TARGET FSTYPE OPTIONS 0 0` per line). */
export function parseProcMounts(text: string): MountEntry[] {
  return text.split("\n").filter((l) => l.trim() !== "").map((line) => {
    const [, target = "", fstype = "", options = ""] = line.split(" ");
    return { target: unescapeMount(target), fstype, options: options.split(",") };
  });
}

/** The mounts container `id` sees, from its own `/proc/mounts`. */
export async function containerMounts(cri: Cri, id: string): Promise<MountEntry[]> {
  return parseProcMounts(await execOk(cri, id, ["cat", "/proc/mounts"]));
}

/**
 * The host's mounts at or under `dir`, from `/proc/self/mountinfo` (read with `cat`: Deno
 * reads `/proc` only with --allow-all). Options are the mount's own and its super block's.
 */
export async function hostMountsUnder(dir: string): Promise<MountEntry[]> {
  const text = await runOk("cat", ["/proc/self/mountinfo"]);
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    // ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER-OPTIONS
    const [left = "", right = ""] = line.split(" - ");
    const fields = left.split(" ");
    const target = unescapeMount(fields[4] ?? "");
    if (target !== dir && !target.startsWith(`${dir}/`)) continue;
    const [fstype = "", , superOptions = ""] = right.split(" ");
    const options = [...(fields[5] ?? "").split(","), ...superOptions.split(",")];
    out.push({ target, fstype, options });
  }
  return out;
}

/** A pod whose sandbox is ready and whose containers all run. */
export interface RunningPod {
  sandbox: PodSandbox;
  /** The latest instance of each of its containers. */
  containers: Container[];
  /** Its UID, as the sandbox's labels carry it. */
  uid: string;
}

/** Options of {@linkcode runningPod}. */
export interface RunningPodOptions {
  /** Give up after this many milliseconds (default 30 000). */
  timeoutMs?: number;
  /** Wait for a sandbox other than this one (the pod replaced). */
  notSandbox?: string;
  /** What to show when it times out (the agent's log). */
  log?: () => string;
}

/** Waits until the pod `name` (namespace `default`) of agent `instance` runs; returns it. */
export function runningPod(
  cri: Cri,
  instance: string,
  name: string,
  { timeoutMs = 30_000, notSandbox, log = () => "" }: RunningPodOptions = {},
): Promise<RunningPod> {
  return waitFor(() => `pod ${name} running; the agent logged:\n${log()}`, async () => {
    const sandboxes = await cri.listPodSandbox({
      state: "SANDBOX_READY",
      labelSelector: { "tinylet/instance": instance, [KEYS.podName]: name },
    });
    const sandbox = sandboxes.find((s) => s.id !== notSandbox);
    if (!sandbox) return undefined;
    // The latest instance of each container (a restarted one's exited instance may stay).
    const latest = new Map<string, Container>();
    for (const c of await cri.listContainers({ podSandboxId: sandbox.id })) {
      const seen = latest.get(c.metadata.name);
      if (!seen || seen.metadata.attempt < c.metadata.attempt) latest.set(c.metadata.name, c);
    }
    const containers = [...latest.values()];
    if (containers.length === 0 || containers.some((c) => c.state !== "CONTAINER_RUNNING")) {
      return undefined;
    }
    return { sandbox, containers, uid: sandbox.labels[KEYS.podUid] ?? "" };
  }, { timeoutMs, everyMs: 50 });
}

/**
 * Writes `text` to `file` with `mode`, as editors do: a dotfile (which the agent ignores)
 * renamed over the file.
 */
export async function writeAtomic(file: string, text: string, mode = 0o644): Promise<void> {
  const tmp = file.replace(/[^/]+$/, (base) => `.${base}.new`);
  await Deno.writeTextFile(tmp, text, { mode });
  await Deno.chmod(tmp, mode);
  await Deno.rename(tmp, file);
}

/** True when something (a link included) is at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * The regular files under `dir` whose bytes hold one of `needles` (as UTF-8), not looking
 * under the paths in `skip`; links are not followed.
 */
export async function filesHolding(
  dir: string,
  needles: string[],
  skip: string[] = [],
): Promise<string[]> {
  const found: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (skip.includes(path)) continue;
    if (e.isDirectory) found.push(...await filesHolding(path, needles, skip));
    else if (e.isFile) {
      const text = utf8.decode(await Deno.readFile(path));
      if (needles.some((n) => text.includes(n))) found.push(path);
    }
  }
  return found;
}

/**
 * Runs `tinylet <args>` as a user does, without colour: `deno run` of `main.ts` with
 * `permissions` (all by default).
 */
export async function tinylet(args: string[], permissions = ["-A"]): Promise<Output> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return { code: r.code, out: utf8.decode(r.stdout), err: utf8.decode(r.stderr) };
}
