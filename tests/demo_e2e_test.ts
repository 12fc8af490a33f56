/**
 * `deno task demo --local` as a new user runs it, stopped as a terminal stops it: Ctrl-C is
 * SIGINT to the whole foreground process group (`deno task`, the demo, and everything in that
 * group), during start-up, while pods start, and when idle. Afterwards no process, shim,
 * mount, bridge, cached CNI result or temp directory of the demo may be left.
 *
 * Each run gets a private TMPDIR: the demo's temp dir is created inside it, and every process
 * the demo starts inherits it, so `TMPDIR=<it>` in a process's environment marks it as the
 * demo's, even after it was reparented.
 */
import assert from "node:assert/strict";
import { missingPrerequisites } from "../testing/host_prerequisites.ts";
import { waitFor } from "../testing/wait.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const DEMO_DATA = "/var/lib/tinylet-demo";
const CNI_RESULTS = "/var/lib/cni/results";
const missing = await missingPrerequisites();
const CI = Deno.env.get("CI") === "true";
if (missing.length > 0 && !CI) console.log(`Skipping the demo test: ${missing.join("; ")}`);

/** One `deno task demo --local`, leader of its own process group. */
interface DemoRun {
  child: Deno.ChildProcess;
  /** The TMPDIR the demo runs with (and the mark of its processes). */
  tmp: string;
  manifests: string;
  output: () => string;
  pumps: Promise<unknown>;
  /** Closes the terminal: stops reading the output, so that writing it fails (EPIPE). */
  hangUp: () => void;
  exit: Deno.CommandStatus | undefined;
  /** The demo's shims and the processes they run (containers), as "pid start-time". */
  seen: Set<string>;
  /** The IDs of the demo's sandboxes (one shim each). */
  sandboxes: Set<string>;
  /** Stops recording {@linkcode DemoRun.seen}. */
  untrack: () => Promise<void>;
}

async function startDemo(files: Record<string, string>): Promise<DemoRun> {
  const tmp = await Deno.makeTempDir({ prefix: "tinylet-demo-tmp-" });
  const manifests = await Deno.makeTempDir({ prefix: "tinylet-demo-manifests-" });
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${manifests}/${name}`, text);
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "demo", "--local", "--manifests", manifests],
    cwd: ROOT,
    // setsid(2): `deno task` leads a new process group, as a shell's foreground job does.
    detached: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", TMPDIR: tmp },
  }).spawn();
  let output = "";
  const terminal = new AbortController();
  const run: DemoRun = {
    child,
    tmp,
    manifests,
    output: () => output,
    pumps: Promise.all([child.stdout, child.stderr].map(async (s) => {
      try {
        const text = s.pipeThrough(new TextDecoderStream(), { signal: terminal.signal });
        for await (const c of text) output += c;
      } catch (err) {
        if (!terminal.signal.aborted) throw err;
      }
    })),
    hangUp: () => terminal.abort(),
    exit: undefined,
    seen: new Set(),
    sandboxes: new Set(),
    untrack: () => Promise.resolve(),
  };
  child.status.then((s) => run.exit = s);
  run.untrack = track(run);
  return run;
}

/**
 * Records, every 100 ms until stopped, the demo's shims (their arguments name its temp dir)
 * and their children: a container whose shim was killed lives on reparented, naming nothing.
 */
function track(run: DemoRun): () => Promise<void> {
  let tracking = true;
  const done = (async () => {
    while (tracking) {
      const procs = await processes();
      const shimProcs = procs.filter((p) =>
        p.args.includes(run.tmp) && p.args.includes("containerd-shim")
      );
      for (const p of shimProcs) {
        const id = / -id ([0-9a-f]+)/.exec(p.args)?.[1];
        if (id) run.sandboxes.add(id);
      }
      const shims = new Set(shimProcs.map((p) => p.pid));
      for (const p of procs) {
        if (shims.has(p.pid) || shims.has(p.ppid)) run.seen.add(`${p.pid} ${p.start}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return () => {
    tracking = false;
    return done;
  };
}

/** The names in a directory; none when it does not exist. */
async function entries(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
}

/** What the demo's CNI config names: its bridge and its network. */
interface Network {
  bridge: string;
  name: string;
}

/** The networks of the containerd temp dirs under the run's TMPDIR. */
async function networksOf(tmp: string): Promise<Network[]> {
  const found: Network[] = [];
  for (const dir of await entries(tmp)) {
    try {
      for (const f of await entries(`${tmp}/${dir}/cni/conf`)) {
        const conf = JSON.parse(await Deno.readTextFile(`${tmp}/${dir}/cni/conf/${f}`));
        found.push({ name: conf.name, bridge: conf.plugins[0].bridge });
      }
    } catch {
      // Not written yet, or half-written.
    }
  }
  return found;
}

/** Ctrl-C in a terminal: SIGINT to every process of the foreground process group. */
function ctrlC(run: DemoRun): string {
  const seen = run.output();
  Deno.kill(-run.child.pid, "SIGINT");
  return seen;
}

/** A process on this host, from /proc. */
interface Proc {
  pid: number;
  ppid: number;
  /** Start time, in clock ticks after boot: with the PID, names one process. */
  start: string;
  pgrp: number;
  session: number;
  args: string;
  cwd: string;
  environ: string[];
}

async function processes(): Promise<Proc[]> {
  const procs: Proc[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${e.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const [args, environ, cwd] = await Promise.all([
        Deno.readTextFile(`/proc/${e.name}/cmdline`),
        Deno.readTextFile(`/proc/${e.name}/environ`),
        Deno.readLink(`/proc/${e.name}/cwd`).catch(() => ""),
      ]);
      procs.push({
        pid: Number(e.name),
        ppid: Number(fields[1]),
        start: fields[19] ?? "",
        pgrp: Number(fields[2]),
        session: Number(fields[3]),
        args: args.replaceAll("\0", " ").trim(),
        cwd,
        environ: environ.split("\0"),
      });
    } catch {
      // Exited meanwhile.
    }
  }
  return procs;
}

/** The run's processes: in its group or session, carrying its TMPDIR, or working in it. */
async function processesLeft(run: DemoRun): Promise<Proc[]> {
  const leader = run.child.pid;
  return (await processes()).filter((p) =>
    p.pgrp === leader || p.session === leader || p.environ.includes(`TMPDIR=${run.tmp}`) ||
    p.args.includes(run.tmp) || p.cwd.startsWith(run.tmp)
  );
}

/** Everything of the demo still on the host, one line each; `[]` when it left nothing. */
async function leftovers(run: DemoRun, networks: Network[], hadDemoData: boolean) {
  const left: string[] = [];
  const procs = await processes();
  for (const p of await processesLeft(run)) left.push(`process ${p.pid}: ${p.args}`);
  for (const p of procs) {
    if (run.seen.has(`${p.pid} ${p.start}`)) left.push(`shim or container ${p.pid}: ${p.args}`);
  }
  const mountinfo = await Deno.readTextFile("/proc/self/mountinfo");
  for (const line of mountinfo.split("\n")) {
    const point = line.split(" ")[4];
    if (point?.startsWith(run.tmp)) left.push(`mount ${point}`);
  }
  for (const n of networks) {
    const link = await new Deno.Command("ip", { args: ["link", "show", "dev", n.bridge] })
      .output();
    if (link.success) left.push(`bridge ${n.bridge}`);
  }
  for (const name of await entries(CNI_RESULTS)) {
    if (isDemoCniResult(run, networks, name)) left.push(`cached CNI result ${CNI_RESULTS}/${name}`);
  }
  for (const name of await entries(run.tmp)) left.push(`temp dir ${run.tmp}/${name}`);
  if (!hadDemoData && await Deno.stat(DEMO_DATA).then(() => true, () => false)) {
    left.push(`directory ${DEMO_DATA}`);
  }
  return left;
}

/** A cached CNI result of the demo's network, or of one of its sandboxes' loopback. */
function isDemoCniResult(run: DemoRun, networks: Network[], name: string): boolean {
  return networks.some((n) => name.startsWith(`${n.name}-`)) ||
    [...run.sandboxes].some((id) => name === `cni-loopback-${id}-lo`);
}

/** Best effort, after a failure: removes what a demo that did not clean up left on the host. */
async function sweep(run: DemoRun, networks: Network[]): Promise<void> {
  const quiet = { stdout: "null", stderr: "null" } as const;
  const procs = await processes();
  const theirs = procs.filter((p) => run.seen.has(`${p.pid} ${p.start}`));
  for (const p of [...await processesLeft(run), ...theirs]) {
    try {
      Deno.kill(p.pid, "SIGKILL");
    } catch {
      // Gone.
    }
  }
  for (const dir of await entries(run.tmp)) {
    const runc = `${run.tmp}/${dir}/state/runc`;
    for (const ns of await entries(runc)) {
      const list = await new Deno.Command("runc", {
        args: ["--root", `${runc}/${ns}`, "list", "-q"],
        stderr: "null",
      }).output();
      for (const id of new TextDecoder().decode(list.stdout).split("\n").filter(Boolean)) {
        await new Deno.Command("runc", {
          args: ["--root", `${runc}/${ns}`, "delete", "--force", id],
          ...quiet,
        }).output();
      }
    }
  }
  const mountinfo = await Deno.readTextFile("/proc/self/mountinfo");
  const points = mountinfo.split("\n").map((l) => l.split(" ")[4] ?? "")
    .filter((p) => p.startsWith(run.tmp)).sort((a, b) => b.length - a.length);
  for (const p of points) await new Deno.Command("umount", { args: ["-l", p], ...quiet }).output();
  for (const n of networks) {
    await new Deno.Command("ip", { args: ["link", "delete", n.bridge], ...quiet }).output();
  }
  for (const name of await entries(CNI_RESULTS)) {
    if (isDemoCniResult(run, networks, name)) await Deno.remove(`${CNI_RESULTS}/${name}`);
  }
}

/**
 * Runs one demo: `act` drives it and sends Ctrl-C; then waits for everything of the demo to be
 * gone, and checks the exit and the output. Cleans up by force (and fails) when it is not.
 */
async function demoScenario(
  files: Record<string, string>,
  act: (run: DemoRun) => Promise<void>,
  { killed = false }: { killed?: boolean } = {},
): Promise<string> {
  assert.deepEqual(missing, [], "the demo's prerequisites (CI=true forbids skipping)");
  const hadDemoData = await Deno.stat(DEMO_DATA).then(() => true, () => false);
  const run = await startDemo(files);
  let networks: Network[] = [];
  try {
    await act(run);
    networks = await networksOf(run.tmp);
    assert.notEqual(networks.length, 0, "the demo's CNI config was written before Ctrl-C");
    await waitFor(() => `deno task demo to exit; it printed:\n${run.output()}`, () => run.exit, {
      timeoutMs: 90_000,
      everyMs: 100,
    });
    // `deno task` may exit before what it started: what is left must finish cleaning up.
    await waitFor("the demo's processes to exit", async () => {
      return (await processesLeft(run)).length === 0;
    }, { timeoutMs: 60_000, everyMs: 200 }).catch(() => {}); // the list below says what is left
    await run.untrack();
    const left = await leftovers(run, networks, hadDemoData);
    assert.deepEqual(left, [], `nothing of the demo is left; it printed:\n${run.output()}`);
    await run.pumps;
    console.log(
      run.output().split("\n").filter((l) => l.trim() && !l.includes("agent |")).join("\n"),
    );
    if (killed) return run.output();
    assert.equal(run.exit?.code, 0, run.output());
    assert.match(run.output(), /Done: no process, mount, bridge or temp directory is left\./);
    return run.output();
  } finally {
    if (!run.exit) Deno.kill(-run.child.pid, "SIGKILL");
    await run.child.status;
    await run.pumps;
    await run.untrack();
    networks = [...networks, ...await networksOf(run.tmp)];
    await sweep(run, networks);
    if (!hadDemoData) await Deno.remove(DEMO_DATA, { recursive: true }).catch(() => {});
    await Deno.remove(run.tmp, { recursive: true });
    await Deno.remove(run.manifests, { recursive: true });
  }
}

const HELLO = await Deno.readTextFile(`${ROOT}/manifests/hello.yaml`);
const WEB = await Deno.readTextFile(`${ROOT}/manifests/web.yaml`);
/** A pod that stays in its init container for a minute: "while pods start" lasts. */
const SLOW = `apiVersion: v1
kind: Pod
metadata:
  name: slow
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
    - name: wait
      image: docker.io/library/busybox:1.35
      command: [sleep, "60"]
  containers:
    - name: c
      image: docker.io/library/busybox:1.35
      command: [sleep, "3600"]
`;

const ignore = missing.length > 0 && !CI;

Deno.test({
  name: "Ctrl-C while the demo's containerd starts leaves nothing behind",
  ignore,
  fn: async () => {
    const output = await demoScenario({ "hello.yaml": HELLO }, async (run) => {
      // The CNI config is written just before containerd is spawned, well before it is up.
      await waitFor("the demo's containerd to be starting", async () => {
        return (await networksOf(run.tmp)).length > 0;
      }, { timeoutMs: 60_000, everyMs: 10 });
      const seen = ctrlC(run);
      assert.doesNotMatch(seen, /containerd \S+ is up/, "Ctrl-C came during start-up");
    });
    assert.doesNotMatch(output, /Watching /, "the agent never started");
  },
});

Deno.test({
  name: "Ctrl-C while the demo's pods start, and again while it stops, leaves nothing behind",
  ignore,
  fn: async () => {
    const output = await demoScenario({ "hello.yaml": HELLO, "slow.yaml": SLOW }, async (run) => {
      await waitFor(
        () => `the slow pod in its init container; the demo printed:\n${run.output()}`,
        () => /default\s+slow\s+0\/1\s+Init:0\/1/.test(run.output()),
        { timeoutMs: 60_000, everyMs: 20 },
      );
      ctrlC(run);
      await waitFor("the demo to be stopping", () => /Stopping: /.test(run.output()));
      ctrlC(run);
    });
    // `tinylet down` removes the pods listed by then; containerd's teardown removes the rest.
    assert.match(output, /Stopping: tinylet, then the demo's pods, then containerd/);
  },
});

Deno.test({
  name: "the idle demo shows the pods, picks up a new file, and Ctrl-C then leaves nothing behind",
  ignore,
  fn: async () => {
    const output = await demoScenario({ "hello.yaml": HELLO, "web.yaml": WEB }, async (run) => {
      await waitFor(
        () => `hello and web running; the demo printed:\n${run.output()}`,
        () =>
          /default\s+hello\s+1\/1\s+Running/.test(run.output()) &&
          /kube-system\s+web\s+1\/1\s+Running/.test(run.output()),
        { timeoutMs: 60_000 },
      );
      const page = await waitFor("the web pod's page", async () => {
        try {
          const r = await fetch("http://127.0.0.1:18080/");
          return r.ok && await r.text();
        } catch {
          return undefined;
        }
      });
      assert.equal(page, "<h1>Hello from tinylet</h1>\n");
      await Deno.writeTextFile(
        `${run.manifests}/dropped.yaml`,
        // A shell that exits on SIGTERM: the stop does not wait out the 30 s grace period.
        `name: dropped
containers:
  - name: c
    image: docker.io/library/busybox:1.35
    command: [sh, -c, "trap 'exit 0' TERM; sleep 3600 & wait"]
`,
      );
      await waitFor(
        "the dropped pod running",
        () => /default\s+dropped\s+1\/1\s+Running/.test(run.output()),
        { timeoutMs: 30_000 },
      );
      ctrlC(run);
    });
    assert.match(output, /pod default\/dropped removed/);
    assert.match(output, /pod kube-system\/web removed/);
  },
});

Deno.test({
  name:
    "when deno task and the demo's first process are killed and the terminal is gone, the demo still leaves nothing behind",
  ignore,
  fn: async () => {
    await demoScenario({ "hello.yaml": HELLO }, async (run) => {
      await waitFor(
        () => `hello running; the demo printed:\n${run.output()}`,
        () => /default\s+hello\s+1\/1\s+Running/.test(run.output()),
        { timeoutMs: 60_000 },
      );
      // No signal to relay: the demo must notice that its parent is gone. Its output has
      // nowhere to go any more: writing it fails, which must not stop the cleanup.
      Deno.kill(-run.child.pid, "SIGKILL");
      run.hangUp();
    }, { killed: true });
  },
});
