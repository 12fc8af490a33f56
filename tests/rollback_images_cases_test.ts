/**
 * Rollback of images, the cases a review found, pure or on a state store alone: the verdict
 * counts no failure from before its window's start and names the containers it blames; a watch
 * of new images judges the instances since them and a kept container's newest one; an update
 * that could not create its container is what the watch sees; a changed container without a
 * repo digest leaves the last good images; only the blamed images are held; a state holding a
 * rollback from images is version 2, others version 1, both read; a tag names the failed image
 * again releases nothing.
 */
import assert from "node:assert/strict";
import type { Container, ContainerStatus, PodSandbox } from "../lib/runtime/cri.ts";
import type { ProbeStatus } from "../lib/probe/probes.ts";
import type { ObservedPod } from "../lib/reconcile/observe.ts";
import type { Pod } from "../lib/manifest/pod.ts";
import { sandboxVerdict, type WatchInput, watchVerdict } from "../lib/reconcile/rollback_watch.ts";
import {
  failedImages,
  instancesSince,
  keptImages,
  lastGoodImages,
} from "../lib/reconcile/rollback_images.ts";
import { type RollbackState, RollbackStore } from "../lib/node/rollback_state.ts";
import { Rollbacks } from "../lib/reconcile/rollbacks.ts";
import { type DesiredPod, translatePod } from "../lib/translate/desired_pod.ts";
import { createLogger } from "../lib/base/log.ts";
import type { PodEvent } from "../lib/reconcile/executor_options.ts";

/** When the window starts, epoch ms; it lasts 60 s. */
const START = 1_700_000_000_000;
const END = START + 60_000;
const A = `sha256:${"a".repeat(64)}`;
const B = `sha256:${"b".repeat(64)}`;
const C = `sha256:${"c".repeat(64)}`;
const REF_A = `registry.example/app@sha256:${"1".repeat(64)}`;
const REF_B = `registry.example/app@sha256:${"2".repeat(64)}`;
const REF_S = `registry.example/side@sha256:${"3".repeat(64)}`;
const APP_TAG = "registry.example/app:1";

/** Instance `attempt` of container `name`, created at `atMs` (epoch ms), on image `imageRef`. */
function instance(
  name: string,
  attempt: number,
  atMs: number,
  { state = "CONTAINER_RUNNING", imageRef = A }: Partial<Container> = {},
): Container {
  return {
    id: `c-${name}-${attempt}`,
    podSandboxId: "sb",
    metadata: { name, attempt },
    image: { image: APP_TAG },
    imageRef,
    state,
    createdAt: atMs * 1e6,
    labels: {},
    annotations: {},
  };
}

/** The status of `c`: exited with `code` at `finishedMs` when given. */
function statusOf(c: Container, code = 0, finishedMs = 0): ContainerStatus {
  return {
    id: c.id,
    metadata: c.metadata,
    state: c.state,
    createdAt: c.createdAt,
    startedAt: c.createdAt,
    finishedAt: finishedMs * 1e6,
    exitCode: code,
    image: c.image,
    imageRef: c.imageRef,
    reason: code === 0 ? "" : "Error",
    message: "",
    labels: {},
    annotations: {},
    mounts: [],
    logPath: "",
  };
}

/** A verdict's input: `containers` (with their statuses), now mid-window. */
function input(containers: Container[], statuses: ContainerStatus[] = []): WatchInput {
  const all = new Map(containers.map((c) => [c.id, statusOf(c)] as const));
  for (const s of statuses) all.set(s.id, s);
  return {
    windowMs: 60_000,
    startedAt: START,
    now: START + 30_000,
    containers,
    statuses: all,
    probes: new Map(),
    readinessProbes: new Set(),
  };
}

const WATCHING = { verdict: "watching", until: END } as const;

Deno.test("watch: an exit before the window's start is not counted; one at its start is, naming the container", () => {
  const exited = instance("app", 0, START - 5_000, { state: "CONTAINER_EXITED" });
  assert.deepEqual(watchVerdict(input([exited], [statusOf(exited, 1, START - 1)])), WATCHING);
  assert.deepEqual(watchVerdict(input([exited], [statusOf(exited, 1, START)])), {
    verdict: "failed",
    cause: 'container "app" exited with code 1 (Error)',
    containers: ["app"],
  });
});

Deno.test("watch: a restart before the window's start is not counted; one at its start is, naming the container", () => {
  assert.deepEqual(watchVerdict(input([instance("side", 1, START - 1)])), WATCHING);
  assert.deepEqual(watchVerdict(input([instance("side", 1, START)])), {
    verdict: "failed",
    cause: 'container "side" restarted',
    containers: ["side"],
  });
});

Deno.test("watch: a startup probe that failed before the window's start is not counted", () => {
  const app = instance("app", 0, START - 5_000);
  const failed = (at: number): ProbeStatus[] => [{
    kind: "startup",
    result: "failure",
    consecutiveFailures: 3,
    consecutiveSuccesses: 0,
    lastOutput: "refused",
    lastFailureAt: at,
    lastFailureOutput: "refused",
    lastRunAt: at,
  }];
  assert.deepEqual(
    watchVerdict({ ...input([app]), probes: new Map([[app.id, failed(START - 1)]]) }),
    WATCHING,
  );
  assert.deepEqual(watchVerdict({ ...input([app]), probes: new Map([[app.id, failed(START)]]) }), {
    verdict: "failed",
    cause: 'startup probe of container "app" failed: refused',
    containers: ["app"],
  });
});

Deno.test("watch: a failed verdict names the containers it blames, and none when it knows none", () => {
  const i = input([instance("app", 0, START)]);
  const create = { reason: "CreateContainerError", message: "boom", at: START + 1 };
  assert.deepEqual(watchVerdict({ ...i, lastError: { ...create, container: "app" } }), {
    verdict: "failed",
    cause: 'container "app" could not be created (CreateContainerError): boom',
    containers: ["app"],
  });
  assert.deepEqual(watchVerdict({ ...i, lastError: create }), {
    verdict: "failed",
    cause: "a container could not be created (CreateContainerError): boom",
  });
  // Two containers with a readiness probe, neither ready at the end.
  assert.deepEqual(
    watchVerdict({ ...i, now: END, readinessProbes: new Set(["side", "app"]) }),
    {
      verdict: "failed",
      cause: 'containers "side" and "app" not ready at the end of the window (readiness probe)',
      containers: ["side", "app"],
    },
  );
});

Deno.test("instancesSince: a changed container's instances since then; a kept one's newest before, and those since", () => {
  const list = [
    instance("side", 0, START - 9_000),
    instance("app", 0, START - 9_000),
    instance("side", 1, START - 4_000),
    instance("app", 1, START, { imageRef: B }),
    instance("app", 2, START + 3_000, { imageRef: B }),
    instance("side", 2, START + 5_000),
  ];
  assert.deepEqual(instancesSince(list, START, { app: B }).map((c) => c.id), [
    "c-side-1",
    "c-side-2",
    "c-app-1",
    "c-app-2",
  ]);
});

Deno.test("a kept container that exits 0 and restarts within the window of new images fails them", () => {
  const listed = [
    instance("side", 1, START - 1_000, { state: "CONTAINER_EXITED" }),
    instance("app", 1, START, { imageRef: B }),
    instance("side", 2, START + 13_000),
  ];
  const v = sandboxVerdict({
    pod: POD,
    containers: instancesSince(listed, START, { app: B }),
    statuses: new Map(),
    probes: () => [],
    windowMs: 30_000,
    startedAt: START,
    now: START + 20_000,
  });
  assert.deepEqual(v, {
    verdict: "failed",
    cause: 'container "side" restarted',
    containers: ["side"],
    unknown: 0,
  });
});

Deno.test("keptImages: the new images ran over the good ones; a changed container without a repo digest is dropped", () => {
  const good = { app: { id: A, ref: REF_A }, side: { id: C, ref: REF_S } };
  assert.deepEqual(keptImages(good, { app: { id: B, ref: REF_B } }, { app: B }), {
    app: { id: B, ref: REF_B },
    side: { id: C, ref: REF_S },
  });
  // "app" ran B, which has no repo digest (ranImages leaves it out): no longer compared.
  assert.deepEqual(keptImages(good, { side: { id: C, ref: REF_S } }, { app: B }), {
    side: { id: C, ref: REF_S },
  });
  assert.deepEqual(keptImages(undefined, {}, { app: B }), {});
});

const POD: Pod = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "web", annotations: { "tinylet.dev/rollback-window": "10s" } },
  spec: {
    containers: [
      { name: "side", image: "registry.example/side:2" },
      { name: "app", image: APP_TAG },
    ],
  },
};

function desired(): Promise<DesiredPod> {
  return translatePod(POD, "/m/web.yaml", {
    instance: "default",
    podLogRoot: "/var/log/pods",
    root: "/var/lib/tinylet",
    nodeName: "node1",
    hostDns: { servers: ["192.0.2.53"], searches: [], options: [] },
  });
}

Deno.test("failedImages: only the changed containers the failure blames; all of them when it blames none", async () => {
  const d = await desired();
  const changed = { side: C, app: B };
  assert.deepEqual(failedImages(d, changed, ["app"]), { app: { image: APP_TAG, id: B } });
  const all = {
    side: { image: "registry.example/side:2", id: C },
    app: { image: APP_TAG, id: B },
  };
  assert.deepEqual(failedImages(d, changed, ["init"]), all);
  assert.deepEqual(failedImages(d, changed, []), all);
});

Deno.test("lastGoodImages: an update whose container could not be created since it was asked for is its new images", async () => {
  const d = await desired();
  const state: RollbackState = {
    lastGood: { hash: d.hash, pod: POD, since: "2026-11-27T12:00:11.000Z", images: {} },
    watching: { hash: d.hash, startedAt: START, windowMs: 10_000, images: { app: B } },
  };
  state.lastGood!.images = { app: { id: A, ref: REF_A } };
  const sandbox: ObservedPod = {
    key: "default/web",
    sandbox: { id: "sb", createdAt: START * 1e6 } as PodSandbox,
    containers: [],
    source: "/m/web.yaml",
  };
  const look = (reason: string, at: number, s = state) =>
    lastGoodImages(d, s, sandbox, new Map(), { reason, at });
  assert.deepEqual(look("CreateContainerError", START + 1), {
    changed: { images: { app: B }, since: START },
    blame: ["app"],
  });
  // The sandbox it replaces (made before the update was asked for) waits for the new one.
  const old = {
    ...sandbox,
    sandbox: { id: "old", createdAt: (START - 5_000) * 1e6 } as PodSandbox,
  };
  assert.deepEqual(lastGoodImages(d, state, old, new Map(), undefined), { pending: true });
  assert.deepEqual(
    lastGoodImages(d, state, old, new Map(), { reason: "CreateContainerError", at: START + 1 }),
    { pending: true },
    "an error of the old sandbox is not the update's",
  );
  assert.deepEqual(look("CreateContainerError", START - 1), {}, "an error from before");
  assert.deepEqual(look("ErrImagePull", START + 1), {}, "a pull error is the registry's");
  const other = { ...state, watching: { ...state.watching!, hash: "v1:other" } };
  assert.deepEqual(look("CreateContainerError", START + 1, other), {});
});

async function withStore(fn: (store: RollbackStore, root: string) => Promise<void>) {
  const root = await Deno.makeTempDir({ prefix: "tinylet_rollback_images_cases_test_" });
  try {
    await fn(new RollbackStore(root), root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const LAST_GOOD = {
  hash: "v1:aaa",
  pod: { apiVersion: "v1", kind: "Pod", metadata: { name: "web" }, spec: {} },
  since: "2026-11-27T12:00:11.000Z",
  images: { app: { id: A, ref: REF_A } },
};
const ROLLED_BACK = {
  hash: "v1:aaa",
  cause: 'container "app" exited with code 1 (Error)',
  at: "2026-11-27T12:01:13.000Z",
  from: "v1:aaa",
};

Deno.test("state: version 2 while it holds a rollback from images, version 1 otherwise", async () => {
  await withStore(async (store, root) => {
    const file = `${root}/rollback/default_web.json`;
    const version = async () => JSON.parse(await Deno.readTextFile(file)).version;
    await store.write("default/web", { lastGood: LAST_GOOD });
    assert.equal(await version(), 1);
    const images = { app: { image: APP_TAG, id: B } };
    await store.write("default/web", {
      lastGood: LAST_GOOD,
      rolledBack: { ...ROLLED_BACK, images },
    });
    assert.equal(await version(), 2);
    await store.write("default/web", { lastGood: LAST_GOOD, rolledBack: ROLLED_BACK });
    assert.equal(await version(), 1, "a rollback of the spec");
  });
});

Deno.test("state: files of version 1 and 2 read back; another version is ignored, naming both", async () => {
  await withStore(async (store, root) => {
    await Deno.mkdir(`${root}/rollback`);
    const file = `${root}/rollback/default_web.json`;
    const images = { app: { image: APP_TAG, id: B } };
    await Deno.writeTextFile(
      file,
      `{"version":2,"key":"default/web","lastGood":${JSON.stringify(LAST_GOOD)},"rolledBack":${
        JSON.stringify({ ...ROLLED_BACK, images })
      }}\n`,
    );
    assert.deepEqual(await store.load("default/web"), {
      state: { lastGood: LAST_GOOD, rolledBack: { ...ROLLED_BACK, images } },
    });
    await Deno.writeTextFile(
      file,
      `{"version":1,"key":"default/web","lastGood":${JSON.stringify(LAST_GOOD)}}\n`,
    );
    assert.deepEqual(await store.load("default/web"), { state: { lastGood: LAST_GOOD } });
    await Deno.writeTextFile(file, `{"version":3,"key":"default/web"}\n`);
    const r = await store.load("default/web");
    assert.equal(r.state, undefined);
    assert.ok(r.warning?.includes(": its version is 3, not 1 or 2 (written by a newer agent?);"));
  });
});

Deno.test("tagMoved: a tag naming the image that failed, or a container not held, releases nothing; another image does", async () => {
  await withStore(async (store) => {
    const d = await desired();
    const held = { app: { image: APP_TAG, id: B } };
    await store.write("default/web", {
      lastGood: { ...LAST_GOOD, hash: d.hash, pod: d.pod },
      rolledBack: { ...ROLLED_BACK, hash: d.hash, from: d.hash, images: held },
    });
    const events: PodEvent[] = [];
    const lines: string[] = [];
    const rollbacks = new Rollbacks({
      store,
      windowMs: 0,
      log: createLogger({ write: (l) => lines.push(l) }),
      now: () => START,
      onEvent: (e) => events.push(e),
    });
    const run = await rollbacks.substitute(d);
    assert.equal(run?.pod.spec.containers[1]?.image, REF_A, "it runs its last good image");
    await rollbacks.tagMoved("default/web", "app", APP_TAG, B);
    await rollbacks.tagMoved("default/web", "side", "registry.example/side:2", C);
    assert.deepEqual((await store.read("default/web"))?.rolledBack?.images, held);
    assert.equal(events.length, 0);
    await rollbacks.tagMoved("default/web", "app", APP_TAG, C);
    assert.equal((await store.read("default/web"))?.rolledBack, undefined);
    assert.deepEqual(events.map((e) => [e.type, e.reason]), [["Normal", "ImageRetry"]]);
  });
});
