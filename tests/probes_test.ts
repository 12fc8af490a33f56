/**
 * Probe logic with the clock and the timers driven by hand: delays,
 * periods, thresholds, startup gating, and holding off after a kill.
 */
import assert from "node:assert/strict";
import type { ProbeSpec } from "../lib/manifest/types.ts";
import {
  type ProbedContainer,
  type ProbeKind,
  ProbeManager,
  type ProbeOutcome,
} from "../lib/probe/probes.ts";

/** A hand-driven clock and timer queue. */
class ManualTime {
  now = 1_000_000;
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #next = 0;
  schedule = (fn: () => void, ms: number) => {
    const id = this.#next++;
    this.#timers.push({ at: this.now + ms, fn, id });
    return () => {
      this.#timers = this.#timers.filter((t) => t.id !== id);
    };
  };
  /** Moves time forward by `ms`, running every timer that comes due, in order. */
  async advance(ms: number) {
    const end = this.now + ms;
    while (true) {
      this.#timers.sort((a, b) => a.at - b.at);
      const t = this.#timers[0];
      if (!t || t.at > end) break;
      this.#timers.shift();
      this.now = Math.max(this.now, t.at);
      t.fn();
      // Let the probe's promise chain settle.
      for (let i = 0; i < 10; i++) await Promise.resolve();
    }
    this.now = end;
  }
  get pending() {
    return this.#timers.length;
  }
}

interface Harness {
  time: ManualTime;
  manager: ProbeManager;
  runs: { kind: string; at: number }[];
  kills: { kind: string; reason: string; grace: number; at: number }[];
  answers: Record<string, boolean[]>;
}

function setup(): Harness {
  const time = new ManualTime();
  const runs: Harness["runs"] = [];
  const kills: Harness["kills"] = [];
  const answers: Record<string, boolean[]> = {};
  const manager = new ProbeManager({
    now: () => time.now,
    schedule: time.schedule,
    run: (spec: ProbeSpec): Promise<ProbeOutcome> => {
      const kind = spec.exec?.command[0] ?? "?";
      runs.push({ kind, at: time.now });
      const ok = answers[kind]?.shift() ?? true;
      return Promise.resolve({ ok, output: ok ? "fine" : `${kind} says no` });
    },
    kill: (_c, kind, grace, reason) => {
      kills.push({ kind, reason, grace, at: time.now });
      return Promise.resolve();
    },
  });
  return { time, manager, runs, kills, answers };
}

function probe(kind: ProbeKind, extra: ProbeSpec = {}): ProbeSpec {
  return { exec: { command: [kind] }, ...extra };
}

function container(t: ManualTime, probes: Partial<Record<ProbeKind, ProbeSpec>>): ProbedContainer {
  return {
    pod: "default/web",
    container: "app",
    containerId: "c1",
    startedAt: t.now,
    target: { containerId: "c1", host: "198.18.0.5", namedPorts: {} },
    gracePeriodSeconds: 30,
    ...probes,
  };
}

const S = 1000;

Deno.test("a probe first runs after initialDelaySeconds from container start, then every periodSeconds", async () => {
  const h = setup();
  h.manager.sync([container(h.time, {
    readiness: probe("readiness", { initialDelaySeconds: 5, periodSeconds: 3 }),
  })]);
  await h.time.advance(4_999);
  assert.equal(h.runs.length, 0);
  await h.time.advance(1);
  await h.time.advance(7 * S);
  assert.deepEqual(h.runs.map((r) => (r.at - 1_000_000) / S), [5, 8, 11]);
});

Deno.test("the defaults are Kubernetes': period 10 s, failure threshold 3, success threshold 1", async () => {
  const h = setup();
  h.answers.liveness = [false, false, false];
  h.manager.sync([container(h.time, { liveness: probe("liveness") })]);
  await h.time.advance(0);
  await h.time.advance(20 * S);
  assert.deepEqual(h.runs.map((r) => (r.at - 1_000_000) / S), [0, 10, 20]);
  assert.equal(h.kills.length, 1, "killed after the third failure");
  assert.equal(h.kills[0]?.grace, 30, "with the pod's grace period");
  assert.equal(h.kills[0]?.kind, "liveness", "says the liveness probe failed");
});

Deno.test("a liveness probe kills only after failureThreshold failures in a row", async () => {
  const h = setup();
  h.answers.liveness = [false, false, true, false, false, false];
  h.manager.sync([
    container(h.time, { liveness: probe("liveness", { periodSeconds: 1, failureThreshold: 3 }) }),
  ]);
  await h.time.advance(0);
  await h.time.advance(4 * S);
  assert.equal(h.kills.length, 0, "a success in between resets the count");
  await h.time.advance(1 * S);
  assert.equal(h.kills.length, 1);
  assert.match(
    h.kills[0]!.reason,
    /failed its liveness probe 3 times in a row \(liveness says no\)/,
  );
  assert.equal((h.kills[0]!.at - 1_000_000) / S, 5);
});

Deno.test("after a kill the container is on hold: no more probes until a new instance", async () => {
  const h = setup();
  h.answers.liveness = [false];
  const c = container(h.time, {
    liveness: probe("liveness", {
      periodSeconds: 1,
      failureThreshold: 1,
      terminationGracePeriodSeconds: 4,
    }),
    readiness: probe("readiness", { periodSeconds: 1 }),
  });
  h.manager.sync([c]);
  await h.time.advance(0);
  assert.equal(h.kills.length, 1);
  assert.equal(h.kills[0]?.grace, 4, "the probe's own grace period wins");
  const before = h.runs.length;
  await h.time.advance(10 * S);
  h.manager.sync([c]); // the next pass still lists the dying container
  await h.time.advance(10 * S);
  assert.equal(h.runs.length, before);
  assert.equal(h.manager.ready("c1"), false);
  // The restarted instance has a new id and is probed again.
  h.manager.sync([{ ...c, containerId: "c2", target: { ...c.target, containerId: "c2" } }]);
  await h.time.advance(0);
  assert.ok(h.runs.length > before);
});

Deno.test("liveness and readiness wait for the startup probe to succeed", async () => {
  const h = setup();
  h.answers.startup = [false, false, true];
  h.manager.sync([container(h.time, {
    startup: probe("startup", { periodSeconds: 1, failureThreshold: 5 }),
    liveness: probe("liveness", { periodSeconds: 1 }),
    readiness: probe("readiness", { periodSeconds: 1 }),
  })]);
  await h.time.advance(0);
  await h.time.advance(1 * S);
  assert.deepEqual(h.runs.map((r) => r.kind), ["startup", "startup"]);
  assert.equal(h.manager.started("c1"), false);
  assert.equal(h.manager.ready("c1"), false, "not ready before it has started");
  await h.time.advance(1 * S);
  // The third startup run succeeds at 2 s; liveness and readiness run from then on.
  assert.deepEqual(h.runs.map((r) => [r.kind, (r.at - 1_000_000) / S]), [
    ["startup", 0],
    ["startup", 1],
    ["startup", 2],
    ["liveness", 2],
    ["readiness", 2],
  ]);
  assert.equal(h.manager.started("c1"), true);
  assert.equal(h.manager.ready("c1"), true);
  await h.time.advance(5 * S);
  assert.ok(!h.runs.slice(3).some((r) => r.kind === "startup"), "startup stops once it succeeded");
  assert.equal(h.runs.filter((r) => r.kind === "liveness").length, 6);
});

Deno.test("a startup probe that never succeeds kills the container after its threshold", async () => {
  const h = setup();
  h.answers.startup = [false, false];
  h.manager.sync([container(h.time, {
    startup: probe("startup", { periodSeconds: 2, failureThreshold: 2 }),
    liveness: probe("liveness"),
  })]);
  await h.time.advance(0);
  await h.time.advance(2 * S);
  assert.equal(h.kills.length, 1);
  assert.match(h.kills[0]!.reason, /startup probe 2 times/);
  assert.equal(h.kills[0]!.kind, "startup", "says the startup probe failed");
  assert.ok(!h.runs.some((r) => r.kind === "liveness"));
});

Deno.test("readiness flips with successThreshold and failureThreshold, and never kills", async () => {
  const h = setup();
  h.answers.readiness = [true, true, false, false, true, true];
  h.manager.sync([container(h.time, {
    readiness: probe("readiness", { periodSeconds: 1, successThreshold: 2, failureThreshold: 2 }),
  })]);
  const seen: (boolean | undefined)[] = [];
  await h.time.advance(0);
  seen.push(h.manager.ready("c1"));
  for (let i = 0; i < 5; i++) {
    await h.time.advance(1 * S);
    seen.push(h.manager.ready("c1"));
  }
  assert.deepEqual(seen, [false, true, true, false, false, true]);
  assert.deepEqual(h.kills, []);
});

Deno.test("a container without a readiness probe has no readiness opinion; gone containers stop their workers", async () => {
  const h = setup();
  h.manager.sync([container(h.time, { liveness: probe("liveness", { periodSeconds: 1 }) })]);
  assert.equal(h.manager.ready("c1"), undefined);
  await h.time.advance(0);
  h.manager.sync([]);
  const runs = h.runs.length;
  await h.time.advance(10 * S);
  assert.equal(h.runs.length, runs);
  assert.equal(h.time.pending, 0);
});

Deno.test("stopping the manager cancels the runs and the kill in flight, and resolves when they have unwound", async () => {
  const time = new ManualTime();
  const signals: AbortSignal[] = [];
  let killSignal: AbortSignal | undefined;
  const untilAborted = (signal: AbortSignal) =>
    new Promise<never>((_, reject) => {
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
  const manager = new ProbeManager({
    now: () => time.now,
    schedule: time.schedule,
    // The readiness probe never answers; the liveness probe fails at once.
    run: (spec, _target, _timeout, signal) => {
      if (spec.exec?.command[0] === "liveness") {
        return Promise.resolve({ ok: false, output: "no" });
      }
      signals.push(signal);
      return untilAborted(signal);
    },
    // The kill never ends on its own either.
    kill: (_c, _kind, _grace, _reason, signal) => {
      killSignal = signal;
      return untilAborted(signal);
    },
  });
  const slow: ProbedContainer = {
    ...container(time, { readiness: probe("readiness", { timeoutSeconds: 600 }) }),
    containerId: "slow",
  };
  const failing: ProbedContainer = {
    ...container(time, { liveness: probe("liveness", { failureThreshold: 1 }) }),
    containerId: "failing",
  };
  manager.sync([slow, failing]);
  await time.advance(0);
  assert.equal(signals.length, 1, "the readiness probe is running");
  assert.ok(killSignal, "the failed liveness probe is killing its container");
  let stopped = false;
  const stopping = manager.stop().then(() => stopped = true);
  assert.equal(signals[0]!.aborted, true, "the run in flight is cancelled");
  assert.equal(killSignal.aborted, true, "the kill in flight is cancelled");
  await stopping;
  assert.equal(stopped, true);
  await time.advance(60 * S);
  assert.equal(signals.length, 1, "nothing runs after the stop");
  assert.equal(time.pending, 0, "no timer is left");
});

Deno.test("a container that goes away cancels its probe in flight", async () => {
  const time = new ManualTime();
  const signals: AbortSignal[] = [];
  const manager = new ProbeManager({
    now: () => time.now,
    schedule: time.schedule,
    run: (_spec, _target, _timeout, signal) => {
      signals.push(signal);
      return new Promise((_, reject) =>
        signal.addEventListener("abort", () => reject(signal.reason), { once: true })
      );
    },
    kill: () => Promise.resolve(),
  });
  manager.sync([container(time, { readiness: probe("readiness") })]);
  await time.advance(0);
  assert.equal(signals.length, 1);
  manager.sync([]);
  assert.equal(signals[0]!.aborted, true);
  await manager.stop();
});
