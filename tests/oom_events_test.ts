/**
 * container_oom_events_total: each exit the runtime reports as OOMKilled counted once, from the
 * pods' views (by hand, then through the reconciler on the fake), read back by the strict parser.
 */
import assert from "node:assert/strict";
import { AgentMetrics } from "../lib/base/metrics.ts";
import { countPass, OomEvents } from "../lib/reconcile/pass_metrics.ts";
import type { ContainerView, PodView } from "../lib/reconcile/status.ts";
import { familyOf, parsePrometheus, sampleOf } from "../testing/prometheus_text.ts";
import { reconcilerFixture } from "../testing/reconciler_fixture.ts";
import { WEB_MANIFEST } from "../testing/resource_fixtures.ts";

/** The agent started at 2027-01-15T08:00:00Z. */
const STARTED = Date.parse("2027-01-15T08:00:00.000Z");

/** A pod `shop/web` whose container `app` is as `c` says. */
function pod(c: Partial<ContainerView>, name = "web"): PodView {
  return {
    namespace: "shop",
    name,
    uid: `uid-${name}`,
    source: `/etc/tinylet/manifests/${name}.yaml`,
    phase: "Running",
    status: "Running",
    ready: "1/1",
    restarts: c.restartCount ?? 0,
    createdAt: "2027-01-15T07:00:00.000Z",
    ip: "198.18.0.2",
    sandboxId: "sandbox-1",
    backoffUntil: null,
    lastError: null,
    stale: false,
    containers: [{
      name: "app",
      type: "regular",
      image: "docker.io/library/busybox:1.35",
      state: "running",
      reason: "",
      message: "",
      exitCode: null,
      restartCount: 0,
      ready: true,
      containerId: "c1",
      startedAt: null,
      finishedAt: null,
      lastTermination: null,
      ...c,
    }],
  };
}

const OOM_1 = "2027-01-15T08:05:00.000Z";
const OOM_2 = "2027-01-15T08:07:30.000Z";
const LABELS = { container: "app", namespace: "shop", pod: "web" };

/** container_oom_events_total as the agent's /metrics text says, parsed. */
function ooms(m: AgentMetrics) {
  const f = parsePrometheus(m.render());
  const family = familyOf(f, "container_oom_events_total");
  assert.equal(family.type, "counter");
  assert.equal(
    family.help,
    "Count of out of memory events observed for the container (exits the runtime reports as OOMKilled, seen while the agent runs).",
  );
  return family.samples;
}

Deno.test("an OOMKilled exit is counted once across passes, labelled container, namespace and pod", () => {
  const m = new AgentMetrics();
  const o = new OomEvents(STARTED);
  assert.deepEqual(ooms(m), []);
  const exited = pod({
    state: "terminated",
    reason: "OOMKilled",
    exitCode: 137,
    finishedAt: OOM_1,
  });
  for (let i = 0; i < 3; i++) o.count(m, [exited]);
  // Backing off, then running again: the same exit, now the last termination.
  const backingOff = pod({
    state: "waiting",
    reason: "CrashLoopBackOff",
    lastTermination: { exitCode: 137, reason: "OOMKilled", finishedAt: OOM_1 },
  });
  const running = pod({
    restartCount: 1,
    containerId: "c2",
    lastTermination: { exitCode: 137, reason: "OOMKilled", finishedAt: OOM_1 },
  });
  o.count(m, [backingOff]);
  o.count(m, [running]);
  o.count(m, [running]);
  assert.deepEqual(ooms(m), [{ name: "container_oom_events_total", labels: LABELS, value: 1 }]);
});

Deno.test("a second OOM kill of the same container is counted again", () => {
  const m = new AgentMetrics();
  const o = new OomEvents(STARTED);
  const first = { exitCode: 137, reason: "OOMKilled", finishedAt: OOM_1 };
  o.count(m, [pod({ state: "terminated", reason: "OOMKilled", exitCode: 137, finishedAt: OOM_1 })]);
  o.count(m, [pod({ restartCount: 1, containerId: "c2", lastTermination: first })]);
  // The restarted container is killed too: its exit and the first one are both in the view.
  o.count(m, [pod({
    state: "terminated",
    reason: "OOMKilled",
    exitCode: 137,
    restartCount: 1,
    containerId: "c2",
    finishedAt: OOM_2,
    lastTermination: first,
  })]);
  o.count(m, [pod({
    restartCount: 2,
    containerId: "c3",
    lastTermination: { exitCode: 137, reason: "OOMKilled", finishedAt: OOM_2 },
  })]);
  assert.deepEqual(ooms(m), [{ name: "container_oom_events_total", labels: LABELS, value: 2 }]);
});

Deno.test("an OOM kill that ended before the agent started is not counted; other exits are not", () => {
  const m = new AgentMetrics();
  const o = new OomEvents(STARTED);
  o.count(m, [
    pod({
      restartCount: 1,
      lastTermination: {
        exitCode: 137,
        reason: "OOMKilled",
        finishedAt: "2027-01-15T07:59:59.999Z",
      },
    }),
    pod({ state: "terminated", reason: "Error", exitCode: 137, finishedAt: OOM_1 }, "error"),
    pod({ state: "terminated", reason: "Completed", exitCode: 0, finishedAt: OOM_1 }, "done"),
    pod({ state: "terminated", reason: "OOMKilled", exitCode: 137, finishedAt: null }, "unknown"),
  ]);
  assert.deepEqual(ooms(m), []);
  // One that ended at the agent's start is counted.
  o.count(m, [pod({
    state: "terminated",
    reason: "OOMKilled",
    exitCode: 137,
    finishedAt: "2027-01-15T08:00:00.000Z",
  })]);
  assert.deepEqual(ooms(m), [{ name: "container_oom_events_total", labels: LABELS, value: 1 }]);
});

Deno.test("each container, pod and namespace is counted apart", () => {
  const m = new AgentMetrics();
  const o = new OomEvents(STARTED);
  const killed = { state: "terminated", reason: "OOMKilled", exitCode: 137 } as const;
  const other = pod({ ...killed, finishedAt: OOM_1 }, "api");
  other.containers.push({ ...other.containers[0]!, name: "side", finishedAt: OOM_2 });
  // The same pod and container name in another namespace, killed at the same time.
  const elsewhere = { ...pod({ ...killed, finishedAt: OOM_1 }), namespace: "default" };
  const pods = [pod({ ...killed, finishedAt: OOM_1 }), other, elsewhere];
  countPass(m, { runtimeReachable: true, problems: [], pods }, 0.01, o);
  countPass(m, { runtimeReachable: true, problems: [], pods }, 0.01, o);
  assert.deepEqual(
    new Set(ooms(m).map((s) => ({ labels: s.labels, value: s.value }))),
    new Set([
      { labels: LABELS, value: 1 },
      { labels: { container: "app", namespace: "shop", pod: "api" }, value: 1 },
      { labels: { container: "side", namespace: "shop", pod: "api" }, value: 1 },
      { labels: { container: "app", namespace: "default", pod: "web" }, value: 1 },
    ]),
  );
});

Deno.test("through the reconciler: a container the runtime says was OOMKilled is counted once, and again when it is killed again", async () => {
  const metrics = new AgentMetrics();
  await using s = await reconcilerFixture({ metrics, epochMs: STARTED });
  await s.write("web.yaml", WEB_MANIFEST);
  await s.reconciler.pass();
  const running = async () => {
    const [c] = await s.cri.listContainers({ state: "CONTAINER_RUNNING" });
    assert.ok(c, "a running container");
    return c;
  };
  const value = () =>
    sampleOf(parsePrometheus(metrics.render()), "container_oom_events_total", LABELS).value;
  await s.clock.advance(5_000);
  s.cri.exitContainer((await running()).id, 137, "OOMKilled");
  const seen = await s.reconciler.pass();
  // Backing off before its restart, the exit its last termination.
  assert.equal(seen.pods[0]?.containers[0]?.reason, "CrashLoopBackOff");
  assert.equal(seen.pods[0]?.containers[0]?.lastTermination?.reason, "OOMKilled");
  assert.equal(value(), 1);
  // Passes until it was restarted, and after.
  for (let i = 0; i < 4; i++) {
    await s.clock.advance(11_000);
    await s.reconciler.pass();
  }
  const again = await running();
  assert.equal(again.metadata.attempt, 1);
  assert.equal(value(), 1);
  await s.clock.advance(5_000);
  s.cri.exitContainer(again.id, 137, "OOMKilled");
  await s.reconciler.pass();
  await s.clock.advance(1_000);
  await s.reconciler.pass();
  assert.equal(value(), 2);
});
