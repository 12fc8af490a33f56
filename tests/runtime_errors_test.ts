/**
 * The runtime's errors as callers ask about them: the runtime error found inside the errors
 * that wrap it (a `cause` chain, the tries of an `AggregateError`), and containerd's refusal to
 * measure a pod without a cgroup parent told from every other refusal.
 */
import assert from "node:assert/strict";
import { CriError, findCriError, isNoPodCgroup, isNotFound } from "../lib/runtime/errors.ts";

// containerd 1.6's texts, as the runtime contract (testing/cri_contract_stats.ts) pins them.
const LIST_NO_CGROUP =
  'ListPodSandboxStats: failed to obtain metrics for sandbox "abc123": failed to get cgroup metrics for sandbox abc123 because cgroupPath is empty';
const ONE_NO_CGROUP =
  "PodSandboxStats: failed getting metrics for sandbox abc123: failed to get cgroup metrics for sandbox abc123 because cgroupPath is empty";

Deno.test("isNoPodCgroup is true for ListPodSandboxStats refusing a sandbox without a cgroup path", () => {
  assert.equal(isNoPodCgroup(new CriError("Other", "ListPodSandboxStats", LIST_NO_CGROUP)), true);
});

Deno.test("isNoPodCgroup is true for PodSandboxStats refusing a sandbox without a cgroup path", () => {
  assert.equal(isNoPodCgroup(new CriError("Other", "PodSandboxStats", ONE_NO_CGROUP)), true);
});

Deno.test("isNoPodCgroup is true for the refusal wrapped as a cause", () => {
  const inner = new CriError("Other", "ListPodSandboxStats", LIST_NO_CGROUP);
  assert.equal(isNoPodCgroup(new Error("Cannot read pod stats", { cause: inner })), true);
});

Deno.test("isNoPodCgroup is false for the same text from another method", () => {
  const message = `ContainerStats: ${LIST_NO_CGROUP}`;
  assert.equal(isNoPodCgroup(new CriError("Other", "ContainerStats", message)), false);
  assert.equal(isNoPodCgroup(new CriError("Other", "ListContainerStats", message)), false);
});

Deno.test("isNoPodCgroup is false for the same text with another kind", () => {
  for (const kind of ["Unavailable", "DeadlineExceeded", "NotFound", "Unimplemented"] as const) {
    const err = new CriError(kind, "ListPodSandboxStats", LIST_NO_CGROUP);
    assert.equal(isNoPodCgroup(err), false, kind);
  }
});

Deno.test("isNoPodCgroup is false for the same text in an error that is not the runtime's", () => {
  assert.equal(isNoPodCgroup(new Error(LIST_NO_CGROUP)), false);
  assert.equal(isNoPodCgroup(new TypeError(ONE_NO_CGROUP)), false);
  assert.equal(isNoPodCgroup(LIST_NO_CGROUP), false);
});

Deno.test("isNoPodCgroup is false for another refusal of the pod stats", () => {
  const err = new CriError(
    "Other",
    "ListPodSandboxStats",
    "ListPodSandboxStats: failed to decode sandbox container metrics",
  );
  assert.equal(isNoPodCgroup(err), false);
});

// ---- AggregateError: the tries of a pull ----

const unavailable = new CriError("Unavailable", "PullImage", "PullImage: connection refused");
const notFound = new CriError("NotFound", "PullImage", "PullImage: not found");
const other = new CriError("Other", "PullImage", "PullImage: 401 Unauthorized");

Deno.test("findCriError looks into an AggregateError's tries and takes the last runtime error", () => {
  const tries = new AggregateError([other, unavailable, notFound], "every try failed");
  assert.equal(findCriError(tries), notFound);
  assert.equal(isNotFound(tries), true);
});

Deno.test("findCriError skips the tries that are not runtime errors", () => {
  const tries = new AggregateError([unavailable, new Error("bad token file")], "every try failed");
  assert.equal(findCriError(tries), unavailable);
  assert.equal(isNotFound(tries), false);
});

Deno.test("findCriError finds a try's runtime error down that try's cause", () => {
  const wrapped = new Error("try 2", { cause: notFound });
  const tries = new AggregateError([other, wrapped], "every try failed");
  assert.equal(findCriError(new Error("Failed to pull", { cause: tries })), notFound);
});

Deno.test("findCriError takes an AggregateError's cause when no try is a runtime error", () => {
  const tries = new AggregateError([new Error("a"), new Error("b")], "both", { cause: other });
  assert.equal(findCriError(tries), other);
});

Deno.test("findCriError finds nothing in an AggregateError without runtime errors", () => {
  assert.equal(findCriError(new AggregateError([new Error("a"), "b"], "both")), undefined);
});

Deno.test("findCriError ends on a cause chain that loops", () => {
  const a = new Error("a");
  const b = new Error("b", { cause: a });
  (a as { cause?: unknown }).cause = b;
  assert.equal(findCriError(a), undefined);
});
