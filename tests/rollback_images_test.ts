/**
 * Rollback of images, pure: which images a sandbox ran (newest instance of each container, only
 * those with a repo digest), which changed against the last good ones and since when, the last
 * good spec pinned to them, the failed images and their text; and the state's `images` fields:
 * checked with their field named, unknown fields dropped, absent kept absent, read back whole.
 */
import assert from "node:assert/strict";
import type { Container, ContainerStatus, PodSandbox } from "../lib/runtime/cri.ts";
import type { ObservedPod } from "../lib/reconcile/observe.ts";
import type { Pod } from "../lib/manifest/pod.ts";
import { translatePod } from "../lib/translate/desired_pod.ts";
import {
  changedImages,
  failedImages,
  pinImages,
  ranImages,
  retryText,
  sameImages,
} from "../lib/reconcile/rollback_images.ts";
import {
  pickRollbackState,
  type RollbackState,
  rollbackStateProblem,
} from "../lib/node/rollback_schema.ts";
import { RollbackStore } from "../lib/node/rollback_state.ts";

const A = `sha256:${"a".repeat(64)}`;
const B = `sha256:${"b".repeat(64)}`;
const C = `sha256:${"c".repeat(64)}`;
const REF_A = `registry.example/app@sha256:${"1".repeat(64)}`;
const REF_B = `registry.example/app@sha256:${"2".repeat(64)}`;
const REF_S = `registry.example/side@sha256:${"3".repeat(64)}`;

interface Instance {
  name: string;
  attempt: number;
  imageRef: string;
  /** Creation, in seconds after 2026-11-27 12:00:00 UTC. */
  at?: number;
}

const T0_NS = Date.UTC(2026, 10, 27, 12, 0, 0) * 1e6;

/** A sandbox of pod web with the container instances given (ids `c-<name>-<attempt>`). */
function sandboxOf(...instances: Instance[]): ObservedPod {
  const sandbox = { id: "sb", createdAt: T0_NS } as PodSandbox;
  const containers = instances.map((i) => ({
    id: `c-${i.name}-${i.attempt}`,
    podSandboxId: "sb",
    metadata: { name: i.name, attempt: i.attempt },
    image: { image: "registry.example/app:1" },
    imageRef: i.imageRef,
    state: "CONTAINER_RUNNING",
    createdAt: T0_NS + (i.at ?? 0) * 1e9,
    labels: {},
    annotations: {},
  } as Container));
  return { key: "default/web", sandbox, containers, source: "/m/web.yaml" };
}

/** Container statuses by id, each naming the image ref given. */
function statusesOf(refs: Record<string, string>): Map<string, ContainerStatus> {
  return new Map(
    Object.entries(refs).map(([id, imageRef]) => [id, { id, imageRef } as ContainerStatus]),
  );
}

Deno.test("ranImages: the newest instance of each container, with its id and repo digest", () => {
  const o = sandboxOf(
    { name: "app", attempt: 0, imageRef: A },
    { name: "app", attempt: 2, imageRef: B },
    { name: "app", attempt: 1, imageRef: A },
    { name: "side", attempt: 0, imageRef: C },
  );
  const statuses = statusesOf({
    "c-app-0": REF_A,
    "c-app-1": REF_A,
    "c-app-2": REF_B,
    "c-side-0": REF_S,
  });
  assert.deepEqual(ranImages(o, statuses), {
    app: { id: B, ref: REF_B },
    side: { id: C, ref: REF_S },
  });
});

Deno.test("ranImages: a container with no repo digest, or no status, is left out", () => {
  const o = sandboxOf(
    { name: "app", attempt: 0, imageRef: A },
    // Imported, never pulled: its status names the id, not a repo digest.
    { name: "busybox", attempt: 0, imageRef: B },
    { name: "tag", attempt: 0, imageRef: C },
    { name: "unknown", attempt: 0, imageRef: C },
    { name: "empty", attempt: 0, imageRef: "" },
  );
  const statuses = statusesOf({
    "c-app-0": REF_A,
    "c-busybox-0": B,
    "c-tag-0": "registry.example/app:1",
    "c-empty-0": REF_S,
  });
  assert.deepEqual(ranImages(o, statuses), { app: { id: A, ref: REF_A } });
  assert.deepEqual(ranImages(sandboxOf(), statuses), {});
});

Deno.test("changedImages: the containers on another id, since their first instance on it", () => {
  const good = { app: { id: A, ref: REF_A }, side: { id: C, ref: REF_S } };
  const o = sandboxOf(
    { name: "app", attempt: 0, imageRef: A, at: 0 },
    { name: "app", attempt: 1, imageRef: B, at: 30 },
    { name: "app", attempt: 2, imageRef: B, at: 45 },
    { name: "side", attempt: 0, imageRef: C, at: 5 },
  );
  assert.deepEqual(changedImages(good, o), {
    images: { app: B },
    since: Date.UTC(2026, 10, 27, 12, 0, 30),
  });
});

Deno.test("changedImages: several changed containers run since the earliest of them", () => {
  const good = { app: { id: A, ref: REF_A }, side: { id: C, ref: REF_S } };
  const o = sandboxOf(
    { name: "app", attempt: 0, imageRef: B, at: 20 },
    { name: "side", attempt: 0, imageRef: A, at: 12 },
  );
  assert.deepEqual(changedImages(good, o), {
    images: { app: B, side: A },
    since: Date.UTC(2026, 10, 27, 12, 0, 12),
  });
});

Deno.test("changedImages: none when every known container runs its good id; others are ignored", () => {
  const good = { app: { id: A, ref: REF_A } };
  // "extra" is not in the good images (no repo digest then): never compared.
  const same = sandboxOf(
    { name: "app", attempt: 0, imageRef: A },
    { name: "extra", attempt: 0, imageRef: B, at: 3 },
  );
  assert.equal(changedImages(good, same), undefined);
  // The newest instance counts: back on the good id after one on another.
  const back = sandboxOf(
    { name: "app", attempt: 0, imageRef: B },
    { name: "app", attempt: 1, imageRef: A, at: 9 },
  );
  assert.equal(changedImages(good, back), undefined);
  // An instance whose id the runtime did not give is not compared.
  assert.equal(
    changedImages(good, sandboxOf({ name: "app", attempt: 0, imageRef: "" })),
    undefined,
  );
  assert.equal(changedImages({}, sandboxOf({ name: "app", attempt: 0, imageRef: B })), undefined);
});

Deno.test("sameImages: equal maps whatever their order; absent is empty", () => {
  assert.equal(sameImages({ app: A, side: B }, { side: B, app: A }), true);
  assert.equal(sameImages(undefined, {}), true);
  assert.equal(sameImages({ app: A }, { app: B }), false);
  assert.equal(sameImages({ app: A }, undefined), false);
  assert.equal(sameImages({ app: A }, { app: A, side: B }), false);
});

const POD: Pod = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "web", annotations: { "tinylet.dev/auto-update": "registry" } },
  spec: {
    initContainers: [
      { name: "init", image: "registry.example/init:1" },
      { name: "setup", image: "registry.example/setup:1" },
    ],
    containers: [
      { name: "app", image: "registry.example/app:1", args: ["v1"], imagePullPolicy: "Always" },
      { name: "side", image: "registry.example/side:2" },
    ],
  },
};

Deno.test("pinImages: the named containers and init containers run their repo digests; the rest and the input stay", () => {
  const before = structuredClone(POD);
  const REF_I = `registry.example/init@sha256:${"4".repeat(64)}`;
  const pinned = pinImages(POD, { app: { id: A, ref: REF_A }, init: { id: C, ref: REF_I } });
  assert.deepEqual(pinned, {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", annotations: { "tinylet.dev/auto-update": "registry" } },
    spec: {
      initContainers: [
        { name: "init", image: REF_I },
        { name: "setup", image: "registry.example/setup:1" },
      ],
      containers: [
        // A digest never moves: Always would only ask the registry again.
        { name: "app", image: REF_A, args: ["v1"], imagePullPolicy: "IfNotPresent" },
        { name: "side", image: "registry.example/side:2" },
      ],
    },
  });
  assert.deepEqual(POD, before, "the input is not changed");
  // A pod without init containers gets none.
  const plain: Pod = { ...POD, spec: { containers: POD.spec.containers } };
  assert.equal("initContainers" in pinImages(plain, { app: { id: A, ref: REF_A } }).spec, false);
  assert.deepEqual(pinImages(POD, {}), before);
});

Deno.test("failedImages: each failed container's image as the spec names it, with the id it ran", async () => {
  const d = await translatePod(
    { ...POD, spec: { containers: POD.spec.containers } },
    "/m/web.yaml",
    {
      instance: "default",
      podLogRoot: "/var/log/pods",
      root: "/var/lib/tinylet",
      nodeName: "node1",
      hostDns: { servers: ["192.0.2.53"], searches: [], options: [] },
    },
  );
  assert.deepEqual(failedImages(d, { app: B }), {
    app: { image: "registry.example/app:1", id: B },
  });
  assert.deepEqual(failedImages(d, { app: B, side: C, gone: A }), {
    app: { image: "registry.example/app:1", id: B },
    side: { image: "registry.example/side:2", id: C },
  });
  assert.deepEqual(failedImages(d, {}), {});
});

Deno.test("retryText: each tag quoted with its container and the short id that failed; joined by or", () => {
  assert.equal(
    retryText({ app: { image: "host/app:1", id: `sha256:0123456789ab${"c".repeat(52)}` } }),
    'the tag "host/app:1" of container "app" names another image than sha256:0123456789ab (the one that failed)',
  );
  assert.equal(
    retryText({
      app: { image: "host/app:1", id: A },
      side: { image: "host/side:2", id: B },
    }),
    'the tag "host/app:1" of container "app" names another image than sha256:aaaaaaaaaaaa (the one that failed) or the tag "host/side:2" of container "side" names another image than sha256:bbbbbbbbbbbb (the one that failed)',
  );
  assert.equal(retryText({}), "");
});

const GOOD_POD = { apiVersion: "v1", kind: "Pod", metadata: { name: "web" }, spec: {} };

/** A state with images in each of its three parts. */
const WITH_IMAGES: RollbackState = {
  lastGood: {
    hash: "v1:aaa",
    pod: GOOD_POD,
    since: "2026-11-27T12:00:11.000Z",
    images: { app: { id: A, ref: REF_A } },
  },
  rolledBack: {
    hash: "v1:aaa",
    cause: 'container "app" exited with code 1 (Error)',
    at: "2026-11-27T12:01:13.000Z",
    from: "v1:aaa",
    images: { app: { image: "registry.example/app:1", id: B } },
  },
  watching: { hash: "v1:aaa", startedAt: 1_795_780_871_000, windowMs: 10_000, images: { app: B } },
};

Deno.test("state: the images of each part are accepted and read back whole", async () => {
  assert.equal(rollbackStateProblem(WITH_IMAGES), undefined);
  const root = await Deno.makeTempDir({ prefix: "tinylet_rollback_images_test_" });
  try {
    const store = new RollbackStore(root);
    await store.write("default/web", WITH_IMAGES);
    assert.deepEqual(await store.load("default/web"), { state: WITH_IMAGES });
    const onDisk = JSON.parse(await Deno.readTextFile(`${root}/rollback/default_web.json`));
    assert.deepEqual(onDisk.lastGood.images, { app: { id: A, ref: REF_A } });
    assert.deepEqual(onDisk.rolledBack.images, { app: { image: "registry.example/app:1", id: B } });
    assert.deepEqual(onDisk.watching.images, { app: B });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

const LAST_GOOD = "lastGood.images is not absent or an object of container names to {id, ref}";
const ROLLED_BACK =
  "rolledBack.images is not absent or an object of container names to {image, id}";
const WATCHING = "watching.images is not absent or an object of container names to image ids";

const BAD_IMAGES: [string, (s: Record<string, Record<string, unknown>>) => void, string][] = [
  ["lastGood.images a string", (s) => (s.lastGood!.images = "app"), LAST_GOOD],
  ["lastGood.images an array", (s) => (s.lastGood!.images = [{ id: A, ref: REF_A }]), LAST_GOOD],
  ["lastGood.images null", (s) => (s.lastGood!.images = null), LAST_GOOD],
  ["an image without its ref", (s) => (s.lastGood!.images = { app: { id: A } }), LAST_GOOD],
  ["an empty id", (s) => (s.lastGood!.images = { app: { id: "", ref: REF_A } }), LAST_GOOD],
  ["an image that is a string", (s) => (s.lastGood!.images = { app: A }), LAST_GOOD],
  [
    "a failed image without its id",
    (s) => (s.rolledBack!.images = { app: { image: "x" } }),
    ROLLED_BACK,
  ],
  [
    "a failed image's numeric tag",
    (s) => (s.rolledBack!.images = { app: { image: 1, id: B } }),
    ROLLED_BACK,
  ],
  ["watching.images of objects", (s) => (s.watching!.images = { app: { id: B } }), WATCHING],
  ["watching.images an empty id", (s) => (s.watching!.images = { app: "" }), WATCHING],
];

for (const [what, spoil, problem] of BAD_IMAGES) {
  Deno.test(`state: ${what} is refused, naming the field`, async () => {
    const state = structuredClone(WITH_IMAGES) as unknown as Record<
      string,
      Record<string, unknown>
    >;
    spoil(state);
    assert.equal(rollbackStateProblem(state), problem);
    const root = await Deno.makeTempDir({ prefix: "tinylet_rollback_images_test_" });
    try {
      const store = new RollbackStore(root);
      await assert.rejects(
        () => store.write("default/web", state as RollbackState),
        (err: Error) => {
          assert.equal(
            err.message,
            `Cannot write the rollback state of pod "default/web": ${problem}`,
          );
          return true;
        },
      );
      // The same in a file: read as no state, with the problem in the warning.
      await Deno.mkdir(`${root}/rollback`);
      await Deno.writeTextFile(
        `${root}/rollback/default_web.json`,
        JSON.stringify({ version: 1, key: "default/web", ...state }),
      );
      const r = await store.load("default/web");
      assert.equal(r.state, undefined);
      assert.ok(r.warning?.includes(`: ${problem}; remove it`), r.warning ?? "no warning");
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
}

Deno.test("state: unknown fields of an image are dropped; absent images stay absent", async () => {
  const extra = structuredClone(WITH_IMAGES) as unknown as Record<string, Record<string, unknown>>;
  extra.lastGood!.images = { app: { id: A, ref: REF_A, size: 3 } };
  extra.rolledBack!.images = { app: { image: "registry.example/app:1", id: B, note: "x" } };
  assert.equal(rollbackStateProblem(extra), undefined);
  assert.deepEqual(pickRollbackState(extra), WITH_IMAGES);
  const none = structuredClone(WITH_IMAGES) as unknown as Record<string, Record<string, unknown>>;
  for (const part of ["lastGood", "rolledBack", "watching"]) delete none[part]!.images;
  assert.equal(rollbackStateProblem(none), undefined);
  const picked = pickRollbackState(none) as unknown as Record<string, Record<string, unknown>>;
  for (const part of ["lastGood", "rolledBack", "watching"]) {
    assert.equal("images" in picked[part]!, false, `${part} has no images key`);
  }
  // Through the store too.
  const root = await Deno.makeTempDir({ prefix: "tinylet_rollback_images_test_" });
  try {
    const store = new RollbackStore(root);
    await store.write("default/web", extra as RollbackState);
    assert.deepEqual(await store.read("default/web"), WITH_IMAGES);
    await store.write("default/web", none as RollbackState);
    const back = await store.read("default/web");
    assert.deepEqual(back, none);
    assert.equal(back?.lastGood && "images" in back.lastGood, false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
  // Empty maps are kept as they are.
  const empty = structuredClone(none);
  for (const part of ["lastGood", "rolledBack", "watching"]) empty[part]!.images = {};
  assert.equal(rollbackStateProblem(empty), undefined);
  assert.deepEqual((pickRollbackState(empty).lastGood as { images?: unknown }).images, {});
});
