/**
 * Timers past 2^31−1 ms: Deno fires them after 1 ms, so a delay that long is waited for in
 * segments. Real time, with deadlines; the long delays are checked not to fire early.
 */
import assert from "node:assert/strict";
import { MAX_TIMER_MS } from "../lib/base/duration.ts";
import { type ProbedContainer, ProbeManager } from "../lib/probe/probes.ts";
import { scheduleAfter, sleep, within } from "../lib/base/timer.ts";
import { waitFor } from "../testing/wait.ts";

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

/** A promise and its resolvers, for work the test finishes by hand. */
function work<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

Deno.test("within: true when the work ends in time, at once", async () => {
  const w = work();
  const waited = within(w.promise, 10_000);
  const t0 = performance.now();
  w.resolve();
  assert.equal(await waited, true);
  assert.ok(performance.now() - t0 < 1_000, `took ${performance.now() - t0} ms`);
});

Deno.test("within leaves no timer behind: a process that waited on it exits at once", async () => {
  // A pending timer keeps a process alive (the test runner does not say so): this one waits
  // twice for work done in time, with a 20 s allowance each, once counted from an abort.
  const timer = new URL("../lib/base/timer.ts", import.meta.url).href;
  const script = `import { within } from "${timer}";
const from = new AbortController();
from.abort();
console.log(await within(Promise.resolve(), 20_000), await within(Promise.resolve(), 20_000, from.signal));`;
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - t0;
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "true true");
  assert.ok(ms < 10_000, `the process exited ${Math.round(ms)} ms after it started`);
});

Deno.test("within: false when the time runs out first, and the work goes on", async () => {
  const w = work<string>();
  const t0 = performance.now();
  assert.equal(await within(w.promise, 50), false);
  const ms = performance.now() - t0;
  assert.ok(ms >= 49 && ms < 2_000, `gave up after ${ms} ms`);
  w.resolve("later");
  assert.equal(await w.promise, "later");
});

Deno.test("within: rejects with the work's error when it fails in time", async () => {
  const w = work();
  const waited = within(w.promise, 10_000);
  w.reject(new Error("boom"));
  await assert.rejects(waited, /boom/);
});

Deno.test("within: the time counts from when the signal aborts, at once when it has", async () => {
  const from = new AbortController();
  const w = work();
  let result: boolean | undefined;
  const waited = within(w.promise, 50, from.signal).then((r) => result = r);
  await watch(150);
  assert.equal(result, undefined, "it gave up before the signal aborted");
  const t0 = performance.now();
  from.abort();
  await waited;
  const ms = performance.now() - t0;
  assert.equal(result, false);
  assert.ok(ms >= 49 && ms < 2_000, `gave up ${ms} ms after the abort`);
  w.resolve();

  const t1 = performance.now();
  assert.equal(await within(new Promise(() => {}), 50, from.signal), false);
  assert.ok(performance.now() - t1 < 2_000);

  const done = new AbortController();
  assert.equal(await within(Promise.resolve(), 50, done.signal), true, "before any abort");
});

Deno.test("within: a time past 2^31-1 ms does not run out at once", async () => {
  const w = work();
  let result: boolean | undefined;
  const waited = within(w.promise, MAX_TIMER_MS + 1).then((r) => result = r);
  await watch(200);
  assert.equal(result, undefined, "it gave up at once");
  w.resolve();
  assert.equal(await waited, true);
});
