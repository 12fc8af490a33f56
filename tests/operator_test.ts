/**
 * The operator commands as a user runs them (`main.ts` in a child process),
 * against the fake runtime served over gRPC, and the HTTP endpoint's
 * handlers.
 */
import { reconcilerFixture } from "../testing/reconciler_fixture.ts";
import assert from "node:assert/strict";
import { handler } from "../lib/agent/routes.ts";
import { parseManifest } from "../lib/manifest/parse.ts";
import { AgentMetrics } from "../lib/base/metrics.ts";
import { specHash } from "../lib/manifest/pod.ts";
import type { Reconciler } from "../lib/reconcile/reconciler.ts";
import { ownedBy } from "../lib/reconcile/observe.ts";
import {
  readStatusFile,
  type StatusFile,
  statusFilePath,
  writeStatusFile,
} from "../lib/agent/status_file.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { startAgent } from "../testing/agent_process.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { serveCri } from "../testing/fake_cri_server.ts";
import { waitFor } from "../testing/wait.ts";

const IMAGE = "docker.io/library/busybox:1.35";
const MAIN = new URL("../main.ts", import.meta.url).pathname;

async function tinylet(args: string[], cwd?: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    ...(cwd ? { cwd } : {}),
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

interface World extends AsyncDisposable {
  dir: string;
  manifests: string;
  fake: FakeCri;
  reconciler: Reconciler;
  flags: string[];
}

async function world(): Promise<World> {
  const s = await reconcilerFixture({
    prefix: "tinylet-op-",
    time: "system",
    dnsServers: [],
    statusFile: true,
    socket: (dir) => `${dir}/cri.sock`,
    fake: () => new FakeCri({ images: [IMAGE] }),
  });
  const { dir, manifests, cri: fake, reconciler } = s;
  const server = await serveCri(fake, `${dir}/cri.sock`);
  return {
    dir,
    manifests,
    fake,
    reconciler,
    flags: [
      "--socket",
      `${dir}/cri.sock`,
      "--root",
      `${dir}/root`,
      "--pod-log-root",
      `${dir}/logs`,
      "--manifests",
      manifests,
    ],
    async [Symbol.asyncDispose]() {
      await server.close();
      await s[Symbol.asyncDispose]();
    },
  };
}

const WEB = `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
spec:
  containers:
    - name: app
      image: ${IMAGE}
      command: ["sleep", "3600"]
    - name: side
      image: ${IMAGE}
      command: ["sleep", "3600"]
`;

Deno.test("every command takes every common flag, as a process on the fake runtime", async () => {
  await using w = await world();
  await Deno.writeTextFile(`${w.manifests}/web.yaml`, WEB);
  await w.reconciler.pass();
  // Every flag of the agent, each with a value that is not its default.
  const common = [
    ...w.flags,
    "--instance=default",
    "--node-name=node1",
    "--interval=+1.5s",
    "--parallel=2",
    "--log-format=json",
    "--log-level=warn",
    "--insecure-manifest-permissions",
    `--registry-config=${w.dir}/config.json`,
    "--container-log-max-size=1Mi",
    "--container-log-max-files=3",
    "--container-log-monitor-interval=1s",
    "--listen=127.0.0.1:0",
  ];
  // What each prints, stdout then stderr.
  const commands: [string[], number, RegExp][] = [
    [["check", w.manifests], 0, /^1 file, 1 pod: 0 errors, 0 warnings\n$/],
    [["convert", `${w.manifests}/web.yaml`], 0, /^apiVersion: v1\nkind: Pod\n/],
    [["plan"], 0, /nothing to do/i],
    [["pods"], 0, /^NAMESPACE +NAME +READY/],
    [["describe", "shop/web"], 0, /^Name: +web\n/],
    [["logs", "shop/web", "app"], 0, /^$/],
    [["exec", "shop/web", "app", "--", "true"], 0, /^$/],
    [["down", "shop/web"], 0, /shop\/web/],
    [["version"], 0, /^tinylet 0\.1\.0\n$/],
  ];
  for (const [args, code, stdout] of commands) {
    // The common flags after the command's own arguments (before "--" for exec).
    const dash = args.indexOf("--");
    const line = dash < 0
      ? [...args, ...common]
      : [...args.slice(0, dash), ...common, ...args.slice(dash)];
    const r = await tinylet(line);
    assert.equal(r.code, code, `tinylet ${args[0]}: ${r.stderr}`);
    assert.match(
      r.stdout + r.stderr,
      stdout,
      `tinylet ${args[0]}: ${JSON.stringify(r.stdout + r.stderr)}`,
    );
    assert.doesNotMatch(r.stderr, /not an option/);
  }
});

Deno.test("tinylet version and --version print the version", async () => {
  for (const args of [["version"], ["--version"]]) {
    const r = await tinylet(args);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "tinylet 0.1.0\n");
  }
});

Deno.test("tinylet check prints path:line:column problems and exits 1 on an error", async () => {
  await using w = await world();
  await Deno.writeTextFile(`${w.manifests}/good.yaml`, WEB);
  await Deno.writeTextFile(
    `${w.manifests}/bad.yaml`,
    "name: Bad_Name\ncontainers:\n  - name: app\n    image: busybox:1.35\n    colour: blue\n",
  );
  const r = await tinylet(["check", w.manifests]);
  assert.equal(r.code, 1);
  assert.deepEqual(r.stdout.trim().split("\n"), [
    `${w.manifests}/bad.yaml:1:1: error: Rename the pod "Bad_Name": the name must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (field name)`,
    `${w.manifests}/bad.yaml:5:5: warning: Ignoring unknown field "colour" (field containers[0].colour)`,
  ]);
  assert.equal(r.stderr, "2 files, 1 pod: 1 error, 1 warning\n");
});

Deno.test("tinylet check exits 0 with only warnings, and 1 with --strict", async () => {
  await using w = await world();
  const file = `${w.manifests}/warn.yaml`;
  await Deno.writeTextFile(
    file,
    WEB.replace("    - name: side", "    - restartPolcy: x\n      name: side"),
  );
  const relaxed = await tinylet(["check", file]);
  assert.equal(relaxed.code, 0, relaxed.stdout + relaxed.stderr);
  assert.match(relaxed.stdout, /warn\.yaml:11:7: warning: Ignoring unknown field "restartPolcy"/);
  const strict = await tinylet(["check", "--strict", file]);
  assert.equal(strict.code, 1);
});

Deno.test("tinylet convert prints a v1 Pod that reads back with the same spec hash", async () => {
  await using w = await world();
  const short =
    "name: hello\ncontainers:\n  - name: hello\n    image: busybox:1.35\n    args: [echo, hi]\n";
  await Deno.writeTextFile(`${w.dir}/hello.yaml`, short);
  const r = await tinylet(["convert", "hello.yaml"], w.dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^apiVersion: v1\nkind: Pod\nmetadata:\n {2}name: hello\nspec:\n/);
  const back = parseManifest("converted.yaml", r.stdout);
  assert.deepEqual(back.problems, []);
  const original = parseManifest("hello.yaml", short);
  assert.equal(await specHash(back.pods[0]!.pod), await specHash(original.pods[0]!.pod));
});

Deno.test("tinylet pods lists pods like kubectl, wide and as JSON, and says when the agent is not running", async () => {
  await using w = await world();
  await Deno.writeTextFile(`${w.manifests}/web.yaml`, WEB);
  await Deno.writeTextFile(
    `${w.manifests}/hello.yaml`,
    `name: hello\ncontainers: [{name: c, image: "${IMAGE}", command: [sleep, "1"]}]\n`,
  );
  await w.reconciler.pass();
  await w.reconciler.pass();
  const table = await tinylet(["pods", ...w.flags]);
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trimEnd().split("\n");
  assert.match(lines[0]!, /^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/);
  assert.match(lines[1]!, /^default\s+hello\s+1\/1\s+Running\s+0\s+\d+s$/);
  assert.match(lines[2]!, /^shop\s+web\s+2\/2\s+Running\s+0\s+\d+s$/);
  assert.equal(table.stderr, "");
  const wide = await tinylet(["pods", "-o", "wide", "-n", "shop", ...w.flags]);
  const wl = wide.stdout.trimEnd().split("\n");
  assert.match(wl[0]!, /IP\s+SANDBOX\s+SOURCE$/);
  assert.equal(wl.length, 2);
  assert.ok(wl[1]!.endsWith(`${w.manifests}/web.yaml`));
  const json = await tinylet(["pods", "-o", "json", ...w.flags]);
  const pods = JSON.parse(json.stdout);
  assert.deepEqual(pods.map((p: { name: string }) => p.name), ["hello", "web"]);
  // The agent "stops": the status file says so, and pods falls back to the runtime.
  const status = JSON.parse(await Deno.readTextFile(statusFilePath(`${w.dir}/root`)));
  status.agent.stoppedAt = new Date().toISOString();
  await Deno.writeTextFile(statusFilePath(`${w.dir}/root`), JSON.stringify(status));
  const down = await tinylet(["pods", ...w.flags]);
  assert.match(
    down.stderr,
    /^The agent is not running: it stopped at .*; showing what the runtime has\n$/,
  );
  assert.match(down.stdout, /shop\s+web\s+2\/2\s+Running/);
});

Deno.test('tinylet pods and describe, as a user who cannot read the 0600 status file, say so instead of "no status file"', async () => {
  await using w = await world();
  await Deno.writeTextFile(`${w.manifests}/web.yaml`, WEB);
  await w.reconciler.pass();
  const file = statusFilePath(`${w.dir}/root`);
  // The agent's file, 0600, owned by another user than the command's: root without the
  // capabilities that bypass file modes (setpriv) reads it as any other user would.
  await Deno.chown(file, 65534, 65534);
  assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
  const asOtherUser = async (args: string[]) => {
    const out = await new Deno.Command("setpriv", {
      args: [
        "--bounding-set",
        "-dac_override,-dac_read_search",
        "--",
        Deno.execPath(),
        "run",
        "-A",
        MAIN,
        ...args,
      ],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  };
  const said = `Cannot read the status file "${file}": permission denied (the agent writes it ` +
    `with mode 0600: run as root, or as the agent's user); showing what the runtime has\n`;
  const pods = await asOtherUser(["pods", ...w.flags]);
  assert.equal(pods.code, 0, pods.stderr);
  assert.equal(pods.stderr, said);
  assert.match(pods.stdout, /shop\s+web\s+2\/2\s+Running/);
  const describe = await asOtherUser(["describe", "shop/web", ...w.flags]);
  assert.equal(describe.code, 0, describe.stderr);
  assert.equal(describe.stderr, said);
  assert.match(describe.stdout, /^Name: {9}web\n/);
  // Root, with its capabilities, reads it: the message is about the reader, not the file.
  const asRoot = await tinylet(["pods", ...w.flags]);
  assert.equal(asRoot.stderr, "");
});

Deno.test("tinylet describe shows containers, restarts, events and the source", async () => {
  await using w = await world();
  await Deno.writeTextFile(`${w.manifests}/web.yaml`, WEB);
  await w.reconciler.pass();
  const app = (await w.fake.listContainers()).find((c) => c.metadata.name === "app")!;
  w.fake.exitContainer(app.id, 2);
  await w.reconciler.pass();
  const r = await tinylet(["describe", "shop/web", ...w.flags]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Name: {9}web\nNamespace: {4}shop\n/);
  assert.match(r.stdout, new RegExp(`Source: {7}${w.manifests}/web\\.yaml\\n`));
  assert.match(r.stdout, /Status: {7}CrashLoopBackOff\n/);
  assert.match(
    r.stdout,
    / {2}app:\n {4}Container ID: {3}\S+\n {4}Image: {10}docker\.io\/library\/busybox:1\.35\n {4}State: {10}Waiting\n {6}Reason: {7}CrashLoopBackOff\n/,
  );
  assert.match(r.stdout, /Events:\n.*TIME\s+TYPE\s+REASON\s+MESSAGE\n.*SandboxCreated/);
  assert.match(
    r.stdout,
    /Warning\s+BackOff\s+Container app exited with code 2; back-off 10 s before restart 1/,
  );
  const missing = await tinylet(["describe", "nope", ...w.flags]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Pod default\/nope not found/);
});

Deno.test("tinylet logs prints a container's output, joins partial lines, tails and timestamps", async () => {
  await using w = await world();
  await Deno.writeTextFile(`${w.manifests}/web.yaml`, WEB);
  await w.reconciler.pass();
  const app = (await w.fake.listContainers()).find((c) => c.metadata.name === "app")!;
  const logPath = (await w.fake.containerStatus(app.id)).logPath;
  await Deno.mkdir(logPath.slice(0, logPath.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(
    logPath,
    [
      "2026-11-27T10:00:00.000000001Z stdout F one",
      "2026-11-27T10:00:01.000000001Z stdout P tw",
      "2026-11-27T10:00:01.500000001Z stderr F warn",
      "2026-11-27T10:00:02.000000001Z stdout F o",
      "2026-11-27T10:00:03.000000001Z stdout F three",
      "",
    ].join("\n"),
  );
  const all = await tinylet(["logs", "web", "app", "-n", "shop", ...w.flags.slice(0, 6)]);
  assert.equal(all.code, 0, all.stderr);
  assert.equal(all.stdout, "one\nwarn\ntwo\nthree\n");
  const tail = await tinylet([
    "logs",
    "shop/web",
    "app",
    "--tail",
    "1",
    "--timestamps",
    ...w.flags.slice(0, 6),
  ]);
  assert.equal(tail.stdout, "2026-11-27T10:00:03.000000001Z three\n");
  const dflt = await tinylet(["logs", "shop/web", ...w.flags.slice(0, 6)]);
  assert.match(dflt.stderr, /Defaulted container "app" out of: app, side/);
  const prev = await tinylet(["logs", "shop/web", "app", "--previous", ...w.flags.slice(0, 6)]);
  assert.equal(prev.code, 1);
  assert.match(prev.stderr, /has no previous instance/);
});

Deno.test("tinylet exec runs a command through ExecSync and passes its exit code through", async () => {
  await using w = await world();
  await Deno.writeTextFile(`${w.manifests}/web.yaml`, WEB);
  await w.reconciler.pass();
  const ok = await tinylet([
    "exec",
    "shop/web",
    "app",
    ...w.flags.slice(0, 6),
    "--",
    "echo",
    "hello",
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, "hello\n");
  const fail = await tinylet([
    "exec",
    "shop/web",
    "side",
    ...w.flags.slice(0, 6),
    "--",
    "sh",
    "-c",
    "echo oops >&2; exit 3",
  ]);
  assert.equal(fail.code, 3);
  assert.equal(fail.stderr, "oops\n");
  const missing = await tinylet(["exec", "shop/web", ...w.flags.slice(0, 6)]);
  assert.equal(missing.code, 2);
});

Deno.test("tinylet plan says what the next pass would do and changes nothing", async () => {
  await using w = await world();
  await Deno.writeTextFile(`${w.manifests}/web.yaml`, WEB);
  const r = await tinylet(["plan", ...w.flags]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    `create   shop/web: declared in ${w.manifests}/web.yaml (starts app, side)\n`,
  );
  assert.equal(w.fake.sandboxCount, 0);
  await w.reconciler.pass();
  const again = await tinylet(["plan", ...w.flags]);
  assert.equal(again.stdout, "Nothing to do: 1 pod as declared\n");
  await Deno.remove(`${w.manifests}/web.yaml`);
  const gone = await tinylet(["plan", ...w.flags]);
  assert.equal(gone.stdout, `delete   shop/web: its file ${w.manifests}/web.yaml was deleted\n`);
});

Deno.test("tinylet down removes pods gracefully, and warns that a running agent recreates them", async () => {
  await using w = await world();
  await Deno.writeTextFile(`${w.manifests}/web.yaml`, WEB);
  await w.reconciler.pass();
  await w.reconciler.pass();
  const r = await tinylet(["down", "shop/web", ...w.flags]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "pod shop/web removed\n");
  assert.match(
    r.stderr,
    /The agent is running: it starts these pods again while their files exist/,
  );
  assert.equal(w.fake.sandboxCount, 0);
  const stops = w.fake.calls.filter((c) => c.method === "StopContainer");
  assert.equal(stops.length, 2, "containers are stopped before the sandbox");
  const none = await tinylet(["down", ...w.flags]);
  assert.equal(none.code, 2);
});

Deno.test("a command that cannot reach the runtime says so in one line and exits 1", async () => {
  await using w = await world();
  const r = await tinylet(["pods", "--socket", `${w.dir}/missing.sock`, "--root", `${w.dir}/root`]);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    `Cannot reach the container runtime at "${w.dir}/missing.sock": no such socket (is containerd running? see --socket)\n`,
  );
});

/** Checks Prometheus text exposition: every line a comment or `name{labels} value`. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.trimEnd().split("\n")) {
    const t = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(
      line,
    );
    if (t) {
      types.set(t[1]!, t[2]!);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+$/.test(line)) continue;
    const m =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/
        .exec(line);
    assert.ok(m, `not Prometheus text: ${line}`);
    const family = m[1]!.replace(/_(bucket|sum|count)$/, "");
    assert.ok(types.has(m[1]!) || types.has(family), `no TYPE before ${m[1]}`);
    samples.set(`${m[1]}${m[2] ?? ""}`, Number(m[3]));
  }
  return samples;
}

Deno.test("the HTTP endpoint serves /healthz, Prometheus /metrics and /pods", async () => {
  await using w = await world();
  const metrics = new AgentMetrics();
  let healthy = { ok: false, reason: "No pass has completed yet" };
  const h = handler({
    health: () => healthy,
    metrics: () => metrics.render(),
    pods: () => w.reconciler.pods,
  });
  const sick = await h(new Request("http://x/healthz"));
  assert.equal(sick.status, 503);
  assert.equal(await sick.text(), "No pass has completed yet\n");
  healthy = { ok: true, reason: "" };
  assert.equal((await h(new Request("http://x/healthz"))).status, 200);
  metrics.passes.inc();
  metrics.passDuration.observe(0.003);
  metrics.criCalls.inc({ method: "ListPodSandbox" });
  metrics.criErrors.inc({ method: "RunPodSandbox", kind: "Unavailable" });
  metrics.pods.inc({ phase: "Running" });
  metrics.restarts.set({ namespace: "shop", pod: "web", container: "app" }, 2);
  const text = await (await h(new Request("http://x/metrics"))).text();
  const samples = parsePrometheus(text);
  assert.equal(samples.get("tinylet_passes_total"), 1);
  assert.equal(samples.get('tinylet_pass_duration_seconds_bucket{le="0.005"}'), 1);
  assert.equal(samples.get('tinylet_pass_duration_seconds_bucket{le="0.001"}'), 0);
  assert.equal(samples.get("tinylet_pass_duration_seconds_count"), 1);
  assert.equal(
    samples.get('tinylet_cri_errors_total{method="RunPodSandbox",kind="Unavailable"}'),
    1,
  );
  assert.equal(
    samples.get('tinylet_container_restarts{namespace="shop",pod="web",container="app"}'),
    2,
  );
  await Deno.writeTextFile(`${w.manifests}/web.yaml`, WEB);
  await w.reconciler.pass();
  const pods = await (await h(new Request("http://x/pods"))).json();
  assert.deepEqual(pods.map((p: { name: string }) => p.name), ["web"]);
  assert.equal((await h(new Request("http://x/nope"))).status, 404);
});

/** ESC, BEL, CSI (U+009B), DEL, NUL, CR and a tab: what a hostile file name or container prints. */
const PROBE_OUTPUT = "\x1b[2J\u009b31mred\x7f\x00\r\tend";

/** A status file of a running agent that knows one pod, `shop/web`, full of control characters. */
function hostileStatus(): StatusFile {
  return {
    version: 1,
    agent: {
      pid: 1,
      instance: "default",
      socket: "/run/x.sock",
      manifests: "/m",
      updatedAt: new Date().toISOString(),
      stoppedAt: null,
      runtime: "reachable",
      runtimeError: null,
    },
    pods: [{
      namespace: "shop",
      name: "web",
      uid: "0d1e2f30-4a5b-6c7d-8e9f-a0b1c2d3e4f5",
      source: "/m/web\x1b]0;pwned\x07.yaml",
      phase: "Running",
      status: "CrashLoopBackOff",
      ready: "0/1",
      restarts: 3,
      createdAt: null,
      ip: "",
      sandboxId: null,
      containers: [{
        name: "app",
        type: "regular",
        image: "busybox\x1b[8m:1.35",
        state: "waiting",
        reason: "CrashLoopBackOff",
        message: "back-off\r\tx",
        exitCode: null,
        restartCount: 3,
        ready: false,
        containerId: null,
        startedAt: null,
        finishedAt: null,
        lastTermination: null,
        probes: [{
          kind: "readiness",
          result: "failure",
          consecutiveFailures: 1,
          consecutiveSuccesses: 0,
          lastOutput: "fine now",
          lastFailureAt: Date.parse("2026-11-29T07:00:05.000Z"),
          lastFailureOutput: PROBE_OUTPUT,
          lastRunAt: Date.parse("2026-11-29T07:00:06.000Z"),
        }],
      }],
      backoffUntil: "2026-11-29T08:00:00.000Z",
      lastError: 'Failed to start container "app": \u009b2J\x00 denied',
      stale: false,
    }],
    events: {
      "shop/web": [{
        pod: "shop/web",
        time: "2026-11-29T07:00:00.000Z",
        type: "Warning",
        reason: "BackOff",
        message: "Container app\x1b[31m exited\u009b\tcode 2",
      }],
    },
  };
}

/** A pod made on the runtime with tinylet's labels, its image and source annotation hostile. */
async function hostileRuntimePod(fake: FakeCri, name = "evil"): Promise<string> {
  const image = "busybox\x1b]0;x\x07:1.35";
  fake.addImage(image);
  const labels = { ...ownedBy("default"), [KEYS.podName]: name, [KEYS.podNamespace]: "default" };
  const sandboxConfig = {
    metadata: {
      name,
      namespace: "default",
      uid: "11111111-2222-3333-4444-555555555555",
      attempt: 0,
    },
    labels,
    annotations: { [KEYS.source]: "/m/ev\u009bil\t\n.yaml" },
  };
  const sandbox = await fake.runPodSandbox(sandboxConfig);
  const id = await fake.createContainer(sandbox, {
    metadata: { name: "c", attempt: 0 },
    image: { image },
    labels,
  }, sandboxConfig);
  await fake.startContainer(id);
  return sandbox;
}

/** True when `text` holds a C0 (newline excepted), DEL or C1 character. */
function rawControl(text: string): boolean {
  // deno-lint-ignore no-control-regex
  return /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(text);
}

Deno.test("tinylet describe escapes probe output, the image, the last error, event messages and the source", async () => {
  await using w = await world();
  await writeStatusFile(statusFilePath(`${w.dir}/root`), hostileStatus());
  const r = await tinylet(["describe", "shop/web", ...w.flags]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  assert.equal(
    r.stdout,
    [
      "Name:         web",
      "Namespace:    shop",
      "UID:          0d1e2f30-4a5b-6c7d-8e9f-a0b1c2d3e4f5",
      "Source:       /m/web\\x1b]0;pwned\\x07.yaml",
      "Status:       CrashLoopBackOff",
      "Phase:        Running",
      "Ready:        0/1",
      "IP:           <none>",
      "Sandbox:      <none>",
      "Created:      <not yet>",
      "Back-off:     until 2026-11-29T08:00:00.000Z",
      'Last Error:   Failed to start container "app": \\u009b2J\\x00 denied',
      "Containers:",
      "  app:",
      "    Container ID:   <none>",
      "    Image:          busybox\\x1b[8m:1.35",
      "    State:          Waiting",
      "      Reason:       CrashLoopBackOff",
      "      Message:      back-off\\r\\tx",
      "    Ready:          False",
      "    Restart Count:  3",
      "    CPU:            <not running> (no request or limit)",
      "    Memory:         <not running> (no request or limit)",
      "    Readiness:      failure (last run 2026-11-29T07:00:06.000Z)",
      "      Last failure: 2026-11-29T07:00:05.000Z: \\x1b[2J\\u009b31mred\\x7f\\x00\\r\\tend",
      "Events:",
      "  TIME                       TYPE      REASON    MESSAGE",
      "  2026-11-29T07:00:00.000Z   Warning   BackOff   Container app\\x1b[31m exited\\u009b\\tcode 2",
      "",
    ].join("\n"),
  );
  await hostileRuntimePod(w.fake);
  const runtime = await tinylet(["describe", "evil", ...w.flags]);
  assert.equal(runtime.code, 0, runtime.stderr);
  assert.ok(!rawControl(runtime.stdout), runtime.stdout);
  assert.match(runtime.stdout, /^Source: {7}\/m\/ev\\u009bil\\t\\n\.yaml\n/m);
  assert.match(runtime.stdout, /^ {4}Image: {10}busybox\\x1b\]0;x\\x07:1\.35\n/m);
});

Deno.test("tinylet pods escapes every column, keeps rows whole and aligned, and -o json escapes C1", async () => {
  await using w = await world();
  await writeStatusFile(statusFilePath(`${w.dir}/root`), hostileStatus());
  const sandbox = await hostileRuntimePod(w.fake);
  const wide = await tinylet(["pods", "-o", "wide", ...w.flags]);
  assert.equal(wide.code, 0, wide.stderr);
  assert.ok(!rawControl(wide.stdout), wide.stdout);
  const lines = wide.stdout.trimEnd().split("\n");
  assert.equal(lines.length, 3, "a tab or a newline in a value does not break a row");
  assert.deepEqual(lines.map((l) => l.split(/ {3,}/)), [
    ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "SANDBOX", "SOURCE"],
    [
      "default",
      "evil",
      "1/1",
      "Running",
      "0",
      lines[1]!.split(/ {3,}/)[5]!,
      "<none>",
      sandbox,
      "/m/ev\\u009bil\\t\\n.yaml",
    ],
    [
      "shop",
      "web",
      "0/1",
      "CrashLoopBackOff",
      "3",
      "<none>",
      "<none>",
      "<none>",
      "/m/web\\x1b]0;pwned\\x07.yaml",
    ],
  ]);
  assert.match(lines[1]!.split(/ {3,}/)[5]!, /^\d+s$/);
  const sourceAt = lines[0]!.indexOf("SOURCE");
  assert.equal(lines[1]!.indexOf("/m/ev"), sourceAt, "columns are measured as they print");
  assert.equal(lines[2]!.indexOf("/m/web"), sourceAt);
  const json = await tinylet(["pods", "-o", "json", ...w.flags]);
  assert.equal(json.code, 0, json.stderr);
  assert.ok(!rawControl(json.stdout), json.stdout);
  assert.ok(
    json.stdout.includes('"lastFailureOutput": "\\u001b[2J\\u009b31mred\\u007f\\u0000\\r\\tend"'),
  );
  const pods = JSON.parse(json.stdout);
  assert.deepEqual(pods[1], hostileStatus().pods[0], "the JSON reads back as the agent wrote it");
  assert.equal(pods[0].source, "/m/ev\u009bil\t\n.yaml");
});

Deno.test("tinylet plan and its error lines escape file names", async () => {
  await using w = await world();
  const good = `${w.manifests}/web\x1b[41m\u009b.yaml`;
  await Deno.writeTextFile(good, WEB);
  await Deno.writeTextFile(`${w.manifests}/bad\u009b\x07.yaml`, "name: Bad\ncontainers: []\n");
  const r = await tinylet(["plan", ...w.flags]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    `create   shop/web: declared in ${w.manifests}/web\\x1b[41m\\u009b.yaml (starts app, side)\n`,
  );
  assert.equal(
    r.stderr.split("\n")[0],
    `${w.manifests}/bad\\u009b\\x07.yaml is invalid: its pods are kept as they are (see tinylet check)`,
  );
  assert.ok(!rawControl(r.stdout + r.stderr), r.stderr);
});

Deno.test("tinylet check escapes C1 characters in the file name and in quoted values", async () => {
  await using w = await world();
  const file = `${w.manifests}/bad\u009b\x07.yaml`;
  await Deno.writeTextFile(
    file,
    `name: "Bad\\u009b"\ncontainers: [{name: c, image: "${IMAGE}"}]\n`,
  );
  const r = await tinylet(["check", file]);
  assert.equal(r.code, 1);
  assert.equal(
    r.stdout,
    `${w.manifests}/bad\\u009b\\x07.yaml:1:1: error: Rename the pod "Bad\\u009b": the name must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (field name)\n`,
  );
});

Deno.test("tinylet logs passes the container's own output through, as kubectl logs does", async () => {
  await using w = await world();
  await Deno.writeTextFile(`${w.manifests}/web.yaml`, WEB);
  await w.reconciler.pass();
  const app = (await w.fake.listContainers()).find((c) => c.metadata.name === "app")!;
  const logPath = (await w.fake.containerStatus(app.id)).logPath;
  await Deno.mkdir(logPath.slice(0, logPath.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(
    logPath,
    "2026-11-27T10:00:00.000000001Z stdout F \x1b[32mgreen\x1b[0m\n",
  );
  const r = await tinylet(["logs", "shop/web", "app", ...w.flags.slice(0, 6)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "\x1b[32mgreen\x1b[0m\n");
  const missing = await tinylet(["logs", "shop/web", "n\x1bpe", ...w.flags.slice(0, 6)]);
  assert.equal(missing.code, 1);
  assert.equal(
    missing.stderr,
    'Container "n\\x1bpe" not found in pod shop/web: it has app, side\n',
  );
});

Deno.test("error lines about the command line and the runtime socket escape control characters", async () => {
  await using w = await world();
  const usage = await tinylet(["pods", "--bo\x1b[31mgus"]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /^tinylet: unknown flag "--bo\\x1b\[31mgus" \(see tinylet --help\)\n/);
  assert.ok(!rawControl(usage.stderr), usage.stderr);
  const socket = `${w.dir}/x\x1b[2J\u009b.sock`;
  const unreachable = await tinylet(["pods", "--socket", socket, "--root", `${w.dir}/root`]);
  assert.equal(unreachable.code, 1);
  assert.equal(
    unreachable.stderr,
    `Cannot reach the container runtime at "${w.dir}/x\\x1b[2J\\u009b.sock": no such socket (is containerd running? see --socket)\n`,
  );
  const none = await tinylet(["pods", "-n", "ns\x07\x1b[8m", ...w.flags]);
  assert.equal(none.code, 0, none.stderr);
  assert.match(none.stderr, /^No pods in namespace ns\\x07\\x1b\[8m$/m);
});

Deno.test("probe output from inside a container reaches describe escaped, and the status file keeps it as it was", async () => {
  await using w = await world();
  const output = "\x1b]0;pwned\x07\x1b[2J\u009b31mred\x7f\x00\r\tend";
  w.fake.execHandler = () => ({
    stdout: new TextEncoder().encode(output),
    stderr: new Uint8Array(),
    exitCode: 1,
  });
  const file = `${w.manifests}/probe\x1b[8m.yaml`;
  await Deno.writeTextFile(
    file,
    `name: probed\ncontainers:\n  - name: app\n    image: ${IMAGE}\n    readinessProbe: {exec: {command: [check]}, periodSeconds: 1}\n`,
  );
  try {
    const probe = await waitFor("a failure of the readiness probe in the status file", async () => {
      await w.reconciler.pass();
      const status = await readStatusFile(statusFilePath(`${w.dir}/root`));
      const probe = status?.pods[0]?.containers[0]?.probes?.[0];
      return probe?.lastFailureAt ? probe : undefined;
    }, { everyMs: 100 });
    assert.equal(probe.lastFailureOutput, output, "the status file keeps the raw output");
  } finally {
    await w.reconciler.stop();
  }
  const r = await tinylet(["describe", "probed", ...w.flags]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!rawControl(r.stdout), r.stdout);
  assert.match(r.stdout, /^Source: {7}.*\/probe\\x1b\[8m\.yaml\n/m);
  assert.match(
    r.stdout,
    /^ {6}Last failure: \S+: \\x1b\]0;pwned\\x07\\x1b\[2J\\u009b31mred\\x7f\\x00\\r\\tend\n/m,
  );
});

Deno.test("the running agent's text log escapes a file= field with an escape sequence, and its JSON log reads back", async () => {
  await using w = await world();
  for (const format of ["text", "json"]) {
    const name = `${format}\x1b]0;x\x07\u009b2J.yaml`;
    await Deno.writeTextFile(`${w.manifests}/${name}`, WEB.replace("name: web", `name: ${format}`));
    const agent = startAgent([...w.flags, "--log-format", format, "--interval", "1s"]);
    try {
      const started = await agent.waitForLine(new RegExp(`Started pod shop/${format}`));
      if (format === "text") {
        assert.ok(
          started.endsWith(` file="${w.manifests}/text\\x1b]0;x\\x07\\u009b2J.yaml"`),
          started,
        );
      } else {
        assert.ok(started.includes('json\\u001b]0;x\\u0007\\u009b2J.yaml"'), started);
        assert.equal(JSON.parse(started).file, `${w.manifests}/${name}`);
      }
      assert.deepEqual(agent.lines.filter(rawControl), [], "no line holds a raw control character");
    } finally {
      assert.equal(await agent.stop(), 0, agent.lines.join("\n"));
    }
  }
});

Deno.test("tinylet down escapes the pod names and errors it prints", async () => {
  await using w = await world();
  await hostileRuntimePod(w.fake, "ev\x1b[2Jil");
  w.fake.inject("StopPodSandbox", { error: new Error("denied\x1b[31m\u009b"), times: 100 });
  const failed = await tinylet(["down", "--all", ...w.flags]);
  assert.equal(failed.code, 1);
  assert.equal(failed.stdout, "");
  assert.ok(!rawControl(failed.stderr), failed.stderr);
  assert.match(
    failed.stderr,
    /^Cannot remove pod default\/ev\\x1b\[2Jil: .*denied\\x1b\[31m\\u009b/m,
  );
  w.fake.clearInjections();
  const removed = await tinylet(["down", "--all", ...w.flags]);
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal(removed.stdout, "pod default/ev\\x1b[2Jil removed\n");
});

Deno.test("health is not ok while the manifest directory is refused or missing, with the reason", async () => {
  await using w = await world();
  await Deno.chmod(w.manifests, 0o755);
  await w.reconciler.pass();
  assert.deepEqual(w.reconciler.health(), { ok: true, reason: "" });
  await Deno.chmod(w.manifests, 0o777);
  await w.reconciler.pass();
  const refused = w.reconciler.health();
  assert.equal(refused.ok, false);
  assert.match(
    refused.reason,
    new RegExp(
      `^Refusing the manifest directory ${w.manifests}: it is writable by its group and others`,
    ),
  );
  await Deno.chmod(w.manifests, 0o755);
  await w.reconciler.pass();
  assert.deepEqual(w.reconciler.health(), { ok: true, reason: "" });
  await Deno.remove(w.manifests);
  await w.reconciler.pass();
  assert.deepEqual(w.reconciler.health(), {
    ok: false,
    reason: `Cannot read the manifest directory ${w.manifests}: it does not exist`,
  });
  await Deno.mkdir(w.manifests);
  await Deno.chmod(w.manifests, 0o755);
  await w.reconciler.pass();
  assert.deepEqual(w.reconciler.health(), { ok: true, reason: "" });
});
