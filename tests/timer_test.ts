/**
 * Timers past 2^31−1 ms: Deno fires them after 1 ms, so a delay that long is waited for in
 * segments. Real time, with deadlines; the long delays are checked not to fire early.
 */
import assert from "node:assert/strict";
import { MAX_TIMER_MS } from "../lib/duration.ts";
import { type ProbedContainer, ProbeManager } from "../lib/probes.ts";
import { scheduleAfter, sleep } from "../lib/timer.ts";
import { waitFor } from "./wait.ts";

/** Resolves after `ms` on one plain timer: how long the test watches for an early firing. */
const watch = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("a raw timer past 2^31-1 ms fires at once: the reason for scheduleAfter", async () => {
  let fired = false;
  const t = setTimeout(() => fired = true, MAX_TIMER_MS + 1);
  try {
    await waitFor("the overflowing timer", () => fired, { timeoutMs: 2_000 });
  } finally {
    clearTimeout(t);
  }
});

Deno.test("scheduleAfter waits out a delay past 2^31-1 ms instead of firing at once", async () => {
  let fired = 0;
  const cancel = scheduleAfter(() => fired++, MAX_TIMER_MS + 1);
  try {
    await watch(300);
    assert.equal(fired, 0);
  } finally {
    cancel();
  }
});

Deno.test("scheduleAfter chains segments: a 150 ms delay in 40 ms segments fires once, on time", async () => {
  const t0 = performance.now();
  let firedAt: number | undefined;
  let fired = 0;
  scheduleAfter(
    () => {
      fired++;
      firedAt = performance.now() - t0;
    },
    150,
    40,
  );
  await waitFor("the timer", () => firedAt !== undefined, { timeoutMs: 2_000 });
  assert.ok(firedAt! >= 149, `fired after ${firedAt} ms`);
  await watch(100);
  assert.equal(fired, 1);
});

Deno.test("scheduleAfter's canceller stops it before it fires, also between segments", async () => {
  let fired = 0;
  const early = scheduleAfter(() => fired++, 100, 30);
  early();
  const between = scheduleAfter(() => fired++, 100, 30);
  await watch(45); // past the first segment
  between();
  await watch(120);
  assert.equal(fired, 0);
});

Deno.test("scheduleAfter fires a zero or negative delay at the next turn", async () => {
  let fired = 0;
  scheduleAfter(() => fired++, 0);
  scheduleAfter(() => fired++, -5);
  await waitFor("both timers", () => fired === 2, { timeoutMs: 1_000 });
});

Deno.test("a probe with periodSeconds past 24.8 days runs once, not every millisecond", async () => {
  let runs = 0;
  const manager = new ProbeManager({
    now: Date.now,
    run: () => {
      runs++;
      return Promise.resolve({ ok: true, output: "" });
    },
    kill: () => Promise.resolve(),
  });
  const c: ProbedContainer = {
    pod: "shop/web",
    container: "app",
    containerId: "c1",
    startedAt: Date.now(),
    target: { containerId: "c1", host: "198.18.0.5", namedPorts: {} },
    gracePeriodSeconds: 30,
    // 2,200,000 s is about 25.5 days: kubelet takes it (an int32 of seconds).
    readiness: { exec: { command: ["true"] }, periodSeconds: 2_200_000 },
  };
  manager.sync([c]);
  try {
    await waitFor("the first run", () => runs >= 1, { timeoutMs: 2_000 });
    await watch(300);
    assert.equal(runs, 1);
  } finally {
    await manager.stop();
  }
});

Deno.test("sleep waits its time, ends at once when the signal aborts, and past 2^31-1 ms does not end early", async () => {
  const never = new AbortController();
  const t0 = performance.now();
  await sleep(60, never.signal);
  assert.ok(performance.now() - t0 >= 59, `slept ${performance.now() - t0} ms`);

  const stop = new AbortController();
  let ended = false;
  const long = sleep(MAX_TIMER_MS + 1, stop.signal).then(() => ended = true);
  await watch(100);
  assert.equal(ended, false, "a sleep past 2^31-1 ms ended early");
  const t1 = performance.now();
  stop.abort();
  await long;
  assert.ok(performance.now() - t1 < 50, "the abort did not end the sleep at once");

  const t2 = performance.now();
  await sleep(10_000, stop.signal);
  assert.ok(performance.now() - t2 < 50, "a sleep on an aborted signal did not end at once");
});
