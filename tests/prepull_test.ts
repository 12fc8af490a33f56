/**
 * Images first on a replacement, against the fake runtime with the clock driven by hand: the
 * new spec's images are had before the old pod is stopped; a pull that fails stops nothing,
 * shows ErrImagePull then ImagePullBackOff, and is tried again after the backoff; a pull that
 * succeeds goes on to the usual graceful stop and the new pod. A new pod starts as before.
 */
import assert from "node:assert/strict";
import { ImagePullError } from "../lib/node/images.ts";
import { CriError } from "../lib/runtime/errors.ts";
import { cfgDoc, configFixture } from "../testing/config_fixtures.ts";
import type { FakeCri } from "../testing/fake_cri.ts";
import {
  FIXTURE_IMAGE,
  type ReconcilerFixture,
  reconcilerFixture,
} from "../testing/reconciler_fixture.ts";

const S = 1000;
const KEY = "default/web";
/** The image of v2, which the fake registry serves only when a test says so. */
const V2 = "registry.example/app:2";
/** What the fake runtime says when the registry does not have `V2`. */
const NOT_FOUND =
  `PullImage: failed to pull and unpack image "${V2}": failed to resolve reference "${V2}": not found`;
/** The calls that stop, remove or start a pod. */
const POD_CALLS =
  /^(StopContainer|StopPodSandbox|RemovePodSandbox|RunPodSandbox|CreateContainer|StartContainer|RemoveContainer)$/;

/** A replacement's calls when its images are had first: the pull, the stop, the new pod. */
const PULLED_THEN_REPLACED = [
  "PullImage",
  "StopContainer",
  "StopPodSandbox",
  "RemovePodSandbox",
  "RunPodSandbox",
  "CreateContainer",
  "StartContainer",
];

/** The runtime calls that pull or move a pod, in order. */
function pullAndPodCalls(s: ReconcilerFixture): string[] {
  return s.cri.methods().filter((m) => m === "PullImage" || POD_CALLS.test(m));
}

function setup(): Promise<ReconcilerFixture> {
  return reconcilerFixture({ prefix: "tinylet-prepull-", dnsServers: [] });
}

/** Pod web: one container `app` of `image`, stopped with a grace period of 1 s. */
function web(image: string, policy = "IfNotPresent"): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: ${image}
      imagePullPolicy: ${policy}
      command: ["sleep", "3600"]
`;
}

/** The containers of the runtime: id, name, image and state. */
async function containers(cri: FakeCri) {
  return (await cri.listContainers()).map((c) => ({
    id: c.id,
    name: c.metadata.name,
    image: c.image.image,
    state: c.state,
  }));
}

/** Starts v1 and returns its running container's id. */
async function runV1(s: ReconcilerFixture): Promise<string> {
  await s.write("web.yaml", web(FIXTURE_IMAGE));
  await s.reconciler.pass();
  const [c] = await containers(s.cri);
  assert.equal(c?.state, "CONTAINER_RUNNING");
  return c.id;
}

function podCalls(cri: FakeCri): string[] {
  return cri.methods().filter((m) => POD_CALLS.test(m));
}

Deno.test("a replacement pulls the new image before it stops the old pod, then stops it gracefully and starts the new one", async () => {
  await using s = await setup();
  const old = await runV1(s);
  const [oldSandbox] = await s.cri.listPodSandbox();
  s.cri.addToRegistry(V2);
  await s.write("web.yaml", web(V2));
  s.cri.calls.length = 0;
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions.map((a) => a.type), ["deletePod", "createPod"]);
  assert.deepEqual(r.results.map((x) => [x.action.type, x.error?.message]), [
    ["deletePod", undefined],
    ["createPod", undefined],
  ]);
  const order = pullAndPodCalls(s);
  assert.deepEqual(order, PULLED_THEN_REPLACED);
  // The usual graceful stop: the container with the pod's grace period, then its sandbox.
  const stops = s.cri.calls.filter((c) =>
    c.method === "StopContainer" || c.method === "StopPodSandbox"
  );
  assert.deepEqual(stops.map((c) => c.arg), [{ id: old, timeoutSeconds: 1 }, oldSandbox!.id]);
  const now = await containers(s.cri);
  assert.deepEqual(now.map((c) => [c.image, c.state]), [[V2, "CONTAINER_RUNNING"]]);
  assert.equal((await s.reconciler.pass()).pods[0]?.status, "Running");
});

Deno.test("a replacement whose new image cannot be pulled stops nothing, shows ErrImagePull then ImagePullBackOff, and tries again after the backoff", async () => {
  await using s = await setup();
  const old = await runV1(s);
  await s.write("web.yaml", web(V2));
  s.cri.calls.length = 0;
  const t0 = s.clock.epochMs();

  const first = await s.reconciler.pass();
  assert.deepEqual(first.actions.map((a) => a.type), ["deletePod", "createPod"]);
  // One result: the createPod's, whose pull failed; the deletion never ran.
  assert.equal(first.results.length, 1);
  const failed = first.results[0]!;
  assert.equal(failed.action.type, "createPod");
  assert.ok(failed.error instanceof ImagePullError, String(failed.error));
  assert.equal(failed.error.reason, "ErrImagePull");
  const message = `Failed to pull image "${V2}": ${NOT_FOUND} (next try in 10 s)`;
  assert.equal(failed.error.message, message);
  assert.deepEqual(s.cri.methods().filter((m) => m === "PullImage"), ["PullImage"]);
  assert.deepEqual(podCalls(s.cri), []);
  assert.deepEqual((await containers(s.cri)).map((c) => [c.id, c.state]), [
    [old, "CONTAINER_RUNNING"],
  ]);
  const view = first.pods[0]!;
  assert.equal(view.status, "ErrImagePull");
  assert.equal(view.lastError, message);
  assert.deepEqual(
    view.containers.map((c) => [c.name, c.image, c.reason, c.message]),
    [["app", V2, "ErrImagePull", message]],
  );
  assert.equal(first.wakeAt, t0 + 10 * S);
  assert.deepEqual(
    s.reconciler.events(KEY).filter((e) => e.reason === "Failed").map((e) => [e.type, e.message]),
    [["Warning", `Container app: ${message}`]],
  );
  const errors = s.lines.filter((l) => l.includes("ERROR"));
  assert.equal(errors.length, 1, errors.join("\n"));
  assert.ok(errors[0]!.includes(`Failed to start pod ${KEY}: ${message}`), errors[0]!);

  // While it waits: ImagePullBackOff, no pull, the old pod as it was.
  s.cri.calls.length = 0;
  await s.clock.advance(5 * S);
  const waiting = await s.reconciler.pass();
  assert.deepEqual(waiting.actions, []);
  assert.equal(waiting.pods[0]?.status, "ImagePullBackOff");
  assert.equal(waiting.pods[0]?.containers[0]?.reason, "ImagePullBackOff");
  assert.equal(waiting.pods[0]?.lastError, message);
  await s.clock.advance(5 * S - 1);
  assert.deepEqual((await s.reconciler.pass()).actions, [], "still waiting 1 ms before");
  assert.deepEqual(s.cri.methods().filter((m) => m === "PullImage"), []);
  assert.deepEqual(podCalls(s.cri), []);

  // The retry, 10 s after the failure: pulled again, failing again, stopping nothing again.
  await s.clock.advance(1);
  const retry = await s.reconciler.pass();
  assert.deepEqual(s.cri.methods().filter((m) => m === "PullImage"), ["PullImage"]);
  assert.deepEqual(podCalls(s.cri), []);
  assert.equal(retry.pods[0]?.status, "ErrImagePull");
  assert.equal(retry.wakeAt, t0 + 30 * S, "the next try 20 s later");
  assert.deepEqual((await containers(s.cri)).map((c) => [c.id, c.state]), [
    [old, "CONTAINER_RUNNING"],
  ]);

  // Once the registry has it, the next try replaces the pod.
  s.cri.addToRegistry(V2);
  await s.clock.advance(20 * S);
  s.cri.calls.length = 0;
  const done = await s.reconciler.pass();
  assert.deepEqual(done.results.map((x) => x.error), [undefined, undefined]);
  assert.deepEqual(pullAndPodCalls(s), PULLED_THEN_REPLACED);
  assert.deepEqual((await containers(s.cri)).map((c) => [c.image, c.state]), [
    [V2, "CONTAINER_RUNNING"],
  ]);
  const after = await s.reconciler.pass();
  assert.equal(after.pods[0]?.status, "Running");
  assert.equal(after.pods[0]?.lastError, null);
});

Deno.test("a replacement gets the images of every container first, those after an init container too", async () => {
  await using s = await setup();
  const old = await runV1(s);
  await s.write(
    "web.yaml",
    `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  initContainers:
    - {name: setup, image: ${FIXTURE_IMAGE}, command: ["true"]}
  containers:
    - {name: app, image: ${V2}, command: ["sleep", "3600"]}
`,
  );
  s.cri.calls.length = 0;
  const r = await s.reconciler.pass();
  assert.deepEqual(r.results.map((x) => [x.action.type, (x.error as ImagePullError)?.image]), [
    ["createPod", V2],
  ]);
  assert.deepEqual(podCalls(s.cri), []);
  assert.deepEqual((await containers(s.cri)).map((c) => [c.id, c.state]), [
    [old, "CONTAINER_RUNNING"],
  ]);
});

Deno.test("a replacement whose image is absent with imagePullPolicy Never stops nothing", async () => {
  await using s = await setup();
  const old = await runV1(s);
  await s.write("web.yaml", web("local/app:2", "Never"));
  s.cri.calls.length = 0;
  const r = await s.reconciler.pass();
  assert.deepEqual(r.results.map((x) => [x.action.type, (x.error as ImagePullError)?.reason]), [
    ["createPod", "ErrImageNeverPull"],
  ]);
  assert.equal(r.pods[0]?.status, "ErrImageNeverPull");
  assert.deepEqual(s.cri.methods().filter((m) => m === "PullImage"), []);
  assert.deepEqual(podCalls(s.cri), []);
  assert.deepEqual((await containers(s.cri)).map((c) => c.id), [old]);
});

Deno.test("a replacement for a changed env whose image (pulled Always) cannot be had keeps the old pod until the pull succeeds", async () => {
  await using s = await configFixture("tinylet-prepull-env-");
  const pod = (policy: string) =>
    `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: ${FIXTURE_IMAGE}
      imagePullPolicy: ${policy}
      env:
        - name: G
          valueFrom: {configMapKeyRef: {name: cfg, key: greeting}}
`;
  await s.write("cfg.yaml", cfgDoc("hello"));
  await s.write("web.yaml", pod("Always"));
  await s.reconciler.pass();
  const [old] = await containers(s.cri);
  assert.equal(old?.state, "CONTAINER_RUNNING");
  await s.write("cfg.yaml", cfgDoc("hi"));
  const refused = "PullImage: connection refused";
  s.cri.inject("PullImage", { error: new CriError("Unavailable", "PullImage", refused) });
  s.cri.calls.length = 0;
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions.map((a) => a.type), ["deletePod", "createPod"]);
  const message = `Failed to pull image "${FIXTURE_IMAGE}": ${refused} (next try in 10 s)`;
  assert.deepEqual(r.results.map((x) => [x.action.type, x.error?.message]), [
    ["createPod", message],
  ]);
  assert.deepEqual(podCalls(s.cri), []);
  assert.deepEqual((await containers(s.cri)).map((c) => [c.id, c.state]), [
    [old.id, "CONTAINER_RUNNING"],
  ]);
  assert.equal(r.pods[0]?.lastError, message);

  await s.clock.advance(10 * S);
  s.cri.calls.length = 0;
  const retry = await s.reconciler.pass();
  assert.deepEqual(retry.results.map((x) => x.error), [undefined, undefined]);
  // Pulled once, before the stop: the creation finds the image had.
  const order = pullAndPodCalls(s);
  assert.deepEqual(order, PULLED_THEN_REPLACED);
  const now = await containers(s.cri);
  assert.deepEqual(now.map((c) => c.state), ["CONTAINER_RUNNING"]);
  assert.notEqual(now[0]?.id, old.id);
});

Deno.test("a new pod whose image cannot be pulled starts as before: its sandbox first, the pull failing at its container", async () => {
  await using s = await setup();
  await s.write("web.yaml", web(V2));
  const r = await s.reconciler.pass();
  assert.deepEqual(r.results.map((x) => [x.action.type, (x.error as ImagePullError)?.reason]), [
    ["createPod", "ErrImagePull"],
  ]);
  assert.deepEqual(pullAndPodCalls(s), [
    "RunPodSandbox",
    "PullImage",
  ]);
  assert.equal(r.pods[0]?.status, "ErrImagePull");
});
