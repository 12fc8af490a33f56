/**
 * `tinylet auto-update` against the fake runtime and a reconciler whose loop runs: the table
 * of what each annotated container runs and what its tag names, `--dry-run` changing nothing,
 * the running agent asked to replace the pods and waited for, and the refusals when no agent
 * (or another process with its PID) is there.
 */
import assert from "node:assert/strict";
import { type AgentConfig, parseCommandLine } from "../lib/cmd/cli.ts";
import { autoUpdateCommand, type AutoUpdateOptions } from "../lib/cmd/auto_update.ts";
import { ImagePuller } from "../lib/node/images.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import {
  FIXTURE_IMAGE,
  type ReconcilerFixture,
  reconcilerFixture,
} from "../testing/reconciler_fixture.ts";
import { readStatusFile } from "../lib/agent/status_file.ts";
import { waitFor } from "../testing/wait.ts";

const APP = "registry.example.com:5000/app:1";
const PINNED = `registry.example.com:5000/app@sha256:${"c".repeat(64)}`;

const AUTO = `apiVersion: v1
kind: Pod
metadata:
  name: auto
  annotations: {tinylet.dev/auto-update: registry}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - {name: main, image: "${APP}", command: [sleep, "3600"]}
  - {name: pinned, image: "${PINNED}", command: [sleep, "3600"]}
`;
const PLAIN = `name: plain
containers:
- {name: main, image: "${APP}", command: [sleep, "3600"]}
`;

interface Run {
  code: number;
  out: string[];
  err: string[];
}

async function fixture(): Promise<ReconcilerFixture> {
  const f = await reconcilerFixture({
    prefix: "tinylet-au-",
    time: "system",
    statusFile: true,
    fake: () => new FakeCri({ images: [FIXTURE_IMAGE, PINNED], registry: [APP] }),
  });
  await f.write("auto.yaml", AUTO);
  await f.write("plain.yaml", PLAIN);
  await f.reconciler.pass();
  return f;
}

function configOf(f: ReconcilerFixture): AgentConfig {
  const parsed = parseCommandLine([
    "auto-update",
    `--manifests=${f.manifests}`,
    `--root=${f.root}`,
    `--pod-log-root=${f.logs}`,
  ], { cwd: "/", hostname: "node1" });
  assert.ok("config" in parsed);
  return parsed.config;
}

async function autoUpdate(
  f: ReconcilerFixture,
  options: Partial<AutoUpdateOptions> = {},
): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const images = new ImagePuller({ cri: f.cri, now: Date.now });
  const code = await autoUpdateCommand(configOf(f), f.cri, {
    dryRun: false,
    timeoutMs: 10_000,
    resolve: (image) => images.refresh(image),
    ...options,
  }, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

const short = (id: string) => id.slice(0, "sha256:".length + 12);

async function mainOf(f: ReconcilerFixture, pod: string) {
  const list = await f.cri.listContainers({ state: "CONTAINER_RUNNING" });
  const c = list.find((c) =>
    c.labels["io.kubernetes.pod.name"] === pod && c.metadata.name === "main"
  );
  assert.ok(c, `pod ${pod} runs its main container`);
  return c;
}

Deno.test("tinylet auto-update --dry-run lists each annotated container and changes nothing", async () => {
  await using f = await fixture();
  const before = await mainOf(f, "auto");
  const plain = await mainOf(f, "plain");
  const upToDate = await autoUpdate(f, { dryRun: true });
  assert.deepEqual(upToDate.out.slice(-1), ["Every image is up to date"]);
  assert.equal(upToDate.code, 0);

  const newId = f.cri.pushToRegistry(APP);
  const r = await autoUpdate(f, { dryRun: true });
  assert.equal(r.code, 0, r.err.join("\n"));
  const pinned = (await f.cri.listContainers({})).find((c) => c.metadata.name === "pinned");
  assert.ok(pinned);
  assert.deepEqual(r.out.map((l) => l.split(/\s{2,}/)), [
    ["POD", "CONTAINER", "IMAGE", "RUNNING", "LATEST", "RESULT"],
    ["default/auto", "main", APP, short(before.imageRef), short(newId), "new image"],
    ["default/auto", "pinned", PINNED, short(pinned.imageRef), "-", "pinned by digest"],
    ["Would replace 1 pod: default/auto"],
  ]);
  // Nothing replaced: the same containers run.
  assert.equal((await mainOf(f, "auto")).id, before.id);
  assert.equal((await mainOf(f, "plain")).id, plain.id);
});

Deno.test("tinylet auto-update asks the running agent, waits, and says what each pod runs now", async () => {
  await using f = await fixture();
  const stop = new AbortController();
  const loop = f.reconciler.run(stop.signal);
  try {
    await waitFor("the status file", async () => {
      const s = await readStatusFile(f.statusFile).catch(() => undefined);
      return s?.agent.pid === Deno.pid;
    });
    // The agent's own first check (a pull after the one that started the pod) is done before
    // the push: the next comes an hour later, so only the command's request moves the pod.
    await waitFor(
      "the agent's first check",
      () => f.cri.calls.filter((c) => c.method === "PullImage").length >= 2,
    );
    await f.reconciler.imageChecksSettled();
    const before = await mainOf(f, "auto");
    const plain = await mainOf(f, "plain");
    const newId = f.cri.pushToRegistry(APP);
    const r = await autoUpdate(f);
    assert.equal(r.code, 0, [...r.out, ...r.err].join("\n"));
    // The agent took the request.
    assert.equal(await exists(`${f.root}/auto-update-request`), false);
    assert.ok(f.lines.some((l) => l.includes("Checking the images of auto-update pods now")));
    assert.ok(r.out.includes(`Asked the agent (PID ${Deno.pid}) to replace default/auto`));
    assert.ok(
      r.out.includes(`Updated default/auto: main runs ${short(newId)}`),
      r.out.join("\n"),
    );
    const after = await mainOf(f, "auto");
    assert.equal(after.imageRef, newId);
    assert.notEqual(after.podSandboxId, before.podSandboxId);
    assert.equal((await mainOf(f, "plain")).id, plain.id);
  } finally {
    stop.abort();
    await loop;
  }
});

Deno.test("tinylet auto-update refuses without a running agent, and leaves no request", async () => {
  await using f = await fixture();
  f.cri.pushToRegistry(APP);
  // No status file: the agent never ran with this root.
  await Deno.remove(f.statusFile);
  const none = await autoUpdate(f);
  assert.equal(none.code, 1);
  assert.match(
    none.err.join("\n"),
    /no status file\. The new images are pulled; the agent replaces default\/auto when it runs/,
  );
  // A status file the agent wrote when it stopped.
  await f.reconciler.pass();
  await f.reconciler.publishStopped();
  const stopped = await autoUpdate(f);
  assert.equal(stopped.code, 1);
  assert.match(stopped.err.join("\n"), /The agent is not running: it stopped at /);
  assert.equal(await exists(`${f.root}/auto-update-request`), false);
});

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}
