/**
 * Timers past 2^31−1 ms: Deno fires them after 1 ms, so a delay that long is waited for in
 * segments. When timers fire, sleeps end and waits give up is checked on hand-driven time; the
 * raw timer's overflow and the probe's long period on real time, with deadlines.
 */
import assert from "node:assert/strict";
import { MAX_TIMER_MS } from "../lib/base/duration.ts";
import { type ProbedContainer, ProbeManager } from "../lib/probe/probes.ts";
import { scheduleAfter, sleep, within } from "../lib/base/timer.ts";
import { HandDrivenTime } from "../testing/hand_time.ts";
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
  using time = new HandDrivenTime();
  let fired = 0;
  scheduleAfter(() => fired++, 150, 40);
  await time.advance(149);
  assert.equal(fired, 0, "it fired before 150 ms");
  await time.advance(1);
  assert.equal(fired, 1, "it did not fire at 150 ms");
  await time.advance(1_000);
  assert.equal(fired, 1, "it fired again");
});

Deno.test("scheduleAfter's canceller stops it before it fires, also between segments", async () => {
  using time = new HandDrivenTime();
  let fired = 0;
  let kept = 0;
  const early = scheduleAfter(() => fired++, 100, 30);
  early();
  const between = scheduleAfter(() => fired++, 100, 30);
  scheduleAfter(() => kept++, 100, 30);
  await time.advance(45); // past the first segment
  between();
  await time.advance(120);
  assert.equal(fired, 0, "a cancelled timer fired");
  assert.equal(kept, 1, "the timer left alone did not fire");
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
  using time = new HandDrivenTime();
  const never = new AbortController();
  let slept = false;
  const short = sleep(60, never.signal).then(() => slept = true);
  await time.advance(59);
  assert.equal(slept, false, "a 60 ms sleep ended before 60 ms");
  await time.advance(1);
  assert.equal(slept, true, "a 60 ms sleep did not end at 60 ms");
  await short;

  const stop = new AbortController();
  let ended = false;
  const long = sleep(MAX_TIMER_MS + 1, stop.signal).then(() => ended = true);
  await time.advance(MAX_TIMER_MS);
  assert.equal(ended, false, "a sleep past 2^31-1 ms ended early");
  stop.abort();
  await time.advance(0);
  assert.equal(ended, true, "the abort did not end the sleep at once");
  await long;

  let onAborted = false;
  const none = sleep(10_000, stop.signal).then(() => onAborted = true);
  await time.advance(0);
  assert.equal(onAborted, true, "a sleep on an aborted signal did not end at once");
  await none;
});

/**
 * Keeps the ids of the timers set and neither fired nor cleared (`setTimeout` and
 * `clearTimeout` are wrapped until disposed).
 */
class LiveTimers implements Disposable {
  readonly #ids = new Set<ReturnType<typeof setTimeout>>();
  readonly #real = { setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout };

  constructor() {
    const real = this.#real;
    globalThis.setTimeout = ((fn: () => void, ms?: number) => {
      const id = real.setTimeout(() => {
        this.#ids.delete(id);
        fn();
      }, ms);
      this.#ids.add(id);
      return id;
    }) as unknown as typeof setTimeout;
    globalThis.clearTimeout = ((id?: ReturnType<typeof setTimeout>) => {
      if (id !== undefined) this.#ids.delete(id);
      real.clearTimeout(id);
    }) as unknown as typeof clearTimeout;
  }

  /** The ids of the timers still pending. */
  get pending(): ReturnType<typeof setTimeout>[] {
    return [...this.#ids];
  }

  /** Lets promise callbacks run (one turn of the event loop, on an unwatched timer). */
  settle(): Promise<void> {
    return new Promise((resolve) => this.#real.setTimeout(resolve, 0));
  }

  [Symbol.dispose](): void {
    globalThis.setTimeout = this.#real.setTimeout;
    globalThis.clearTimeout = this.#real.clearTimeout;
  }
}

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
  using time = new HandDrivenTime();
  const w = work();
  let result: boolean | undefined;
  const waited = within(w.promise, 10_000).then((r) => result = r);
  await time.advance(100);
  assert.equal(result, undefined, "it ended before the work");
  w.resolve();
  await time.advance(0);
  assert.equal(result, true, "it did not end with the work");
  await waited;
});

Deno.test("within leaves no timer behind: a process that waited on it can exit at once", async () => {
  // A pending timer keeps a process alive (the test runner does not say so): this waits
  // twice for work done in time, with a 20 s allowance each, once counted from an abort.
  using timers = new LiveTimers();
  const from = new AbortController();
  from.abort();
  assert.equal(await within(Promise.resolve(), 20_000), true);
  assert.equal(await within(Promise.resolve(), 20_000, from.signal), true);
  await timers.settle();
  assert.deepEqual(timers.pending, [], "a timer of the allowance is still pending");
});

Deno.test("within: false when the time runs out first, and the work goes on", async () => {
  using time = new HandDrivenTime();
  const w = work<string>();
  let result: boolean | undefined;
  const waited = within(w.promise, 50).then((r) => result = r);
  await time.advance(49);
  assert.equal(result, undefined, "it gave up before 50 ms");
  await time.advance(1);
  assert.equal(result, false, "it did not give up at 50 ms");
  await waited;
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
  using time = new HandDrivenTime();
  const from = new AbortController();
  const w = work();
  let result: boolean | undefined;
  const waited = within(w.promise, 50, from.signal).then((r) => result = r);
  await time.advance(150);
  assert.equal(result, undefined, "it gave up before the signal aborted");
  from.abort();
  await time.advance(49);
  assert.equal(result, undefined, "it gave up before 50 ms after the abort");
  await time.advance(1);
  assert.equal(result, false, "it did not give up 50 ms after the abort");
  await waited;
  w.resolve();

  let late: boolean | undefined;
  const aborted = within(new Promise(() => {}), 50, from.signal).then((r) => late = r);
  await time.advance(49);
  assert.equal(late, undefined, "on an aborted signal, it gave up before 50 ms");
  await time.advance(1);
  assert.equal(late, false, "on an aborted signal, it did not give up at 50 ms");
  await aborted;

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
