/**
 * The kill requests: one per container, kept while the container runs, forgotten once a
 * listing made after the request shows it stopped or gone.
 */
import assert from "node:assert/strict";
import { type KillRequest, KillRequests } from "../lib/reconcile/kills.ts";
import { groupObserved, type ObservedState } from "../lib/reconcile/observe.ts";
import type { Container, ContainerState, PodSandbox } from "../lib/runtime/cri.ts";

const SANDBOX: PodSandbox = {
  id: "sb1",
  metadata: { name: "web", namespace: "default", uid: "u1", attempt: 0 },
  state: "SANDBOX_READY",
  createdAt: 1,
  labels: {},
  annotations: {},
  runtimeHandler: "",
};

function container(id: string, state: ContainerState): Container {
  return {
    id,
    podSandboxId: "sb1",
    metadata: { name: id, attempt: 0 },
    image: { image: "busybox" },
    imageRef: "sha256:1",
    state,
    createdAt: 1,
    labels: {},
    annotations: {},
  };
}

/** A listing that began at `listedAt` (on the clock the requests are timed on). */
function listing(listedAt: number, ...containers: Container[]): ObservedState {
  return { ...groupObserved([SANDBOX], containers), listedAt };
}

function request(containerId: string, message = "first"): KillRequest {
  return {
    key: "default/web",
    containerId,
    container: containerId,
    reason: "LivenessProbe",
    message,
    gracePeriodSeconds: 30,
  };
}

/** Kill requests timed on a clock moved by hand, starting at `start` milliseconds. */
function timed(start: number): { kills: KillRequests; time: { now: number } } {
  const time = { now: start };
  return { kills: new KillRequests(() => time.now), time };
}

Deno.test("a kill request is kept while its container runs; the first one for a container wins", () => {
  const { kills } = timed(100);
  kills.record(request("c1"));
  kills.record(request("c1", "second"));
  const later = listing(101, container("c1", "CONTAINER_RUNNING"));
  assert.deepEqual(kills.pending(later), [request("c1")]);
  assert.deepEqual(kills.pending(later), [request("c1")]);
});

Deno.test("a kill request is forgotten once a later listing shows its container stopped or gone", () => {
  const { kills } = timed(100);
  kills.record(request("c1"));
  kills.record(request("c2"));
  const later = listing(101, container("c1", "CONTAINER_EXITED"));
  assert.deepEqual(kills.pending(later), []);
  assert.deepEqual(
    kills.pending(listing(102, container("c1", "CONTAINER_RUNNING"))),
    [],
    "forgotten for good",
  );
});

Deno.test("a kill request recorded after a listing began is kept, whatever that listing shows", () => {
  const { kills } = timed(100);
  const earlier = listing(99);
  kills.record(request("c1"));
  assert.deepEqual(kills.pending(earlier), [request("c1")]);
  assert.deepEqual(kills.pending(listing(101)), []);
});

Deno.test("a kill request is timed on the clock it is given, not the system's", () => {
  // The clock stands at 5 s while the system's monotonic clock is elsewhere.
  const { kills, time } = timed(5_000);
  kills.record(request("c1"));
  assert.deepEqual(kills.pending(listing(4_999)), [request("c1")], "recorded after 4.999 s");
  time.now = 7_000;
  assert.deepEqual(kills.pending(listing(5_001)), [], "recorded before 5.001 s");
});
