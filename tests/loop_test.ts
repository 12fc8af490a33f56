/**
 * The loop on a hand-driven clock, with a stand-in pass and watch: when passes run (debounce,
 * ticks, flights ending, the runtime's backoff) and how the loop stops. Time moves only when
 * a test moves it.
 */
import assert from "node:assert/strict";
import { createLogger } from "../lib/base/log.ts";
import { within } from "../lib/base/timer.ts";
import type { ActionResult } from "../lib/reconcile/executor.ts";
import { Flights } from "../lib/reconcile/flights.ts";
import { type PassOutcome, runLoop, STOP_GRACE_MS } from "../lib/reconcile/loop.ts";
import type { Action } from "../lib/reconcile/plan.ts";
import { HandClock } from "../testing/hand_clock.ts";

const IDLE: PassOutcome = { runtimeReachable: true, wakeAt: undefined };

interface Harness extends AsyncDisposable {
  clock: HandClock;
  /** The monotonic time of each pass, in order. */
  passes: number[];
  flights: Flights;
  /** How many times the loop said it stopped. */
  stopped(): number;
  /** A watch event of `kind`. */
  emit(kind: Deno.FsEvent["kind"]): void;
  /** Aborts the loop; true when it ended within 10 s of real time. */
  stop(): Promise<boolean>;
  loop: Promise<void>;
}

function start(options: {
  intervalMs?: number;
  parallel?: number;
  /** What the pass with this (1-based) number says. */
  outcome?: (n: number, clock: HandClock) => PassOutcome | Promise<PassOutcome>;
  /** Runs a flight. */
  fly?: (key: string) => Promise<ActionResult[]>;
  /** Called by each pass with the flights, before it ends. */
  plan?: (n: number, flights: Flights) => void;
  /** The loop's work after its first idle pass. */
  onFirstIdle?: () => Promise<void>;
  /** Where the loop's log lines go. */
  write?: (line: string) => void;
} = {}): Harness {
  const clock = new HandClock();
  const passes: number[] = [];
  let onEvent: ((event?: Deno.FsEvent) => void) | undefined;
  let stopped = 0;
  const flights = new Flights(
    options.parallel ?? 4,
    (key) => options.fly?.(key) ?? Promise.resolve([]),
  );
  const controller = new AbortController();
  const loop = runLoop({
    clock,
    log: createLogger({ level: "debug", write: options.write ?? (() => {}) }),
    intervalMs: options.intervalMs ?? 60_000,
    pass: async () => {
      passes.push(clock.now());
      options.plan?.(passes.length, flights);
      return await (options.outcome?.(passes.length, clock) ?? IDLE);
    },
    flights,
    watch: (fn) => {
      onEvent = fn;
      return { ensure: () => Promise.resolve(), close: () => Promise.resolve() };
    },
    stopProbes: () => Promise.resolve(),
    onStopped: () => {
      stopped++;
      return Promise.resolve();
    },
    ...(options.onFirstIdle ? { onFirstIdle: options.onFirstIdle } : {}),
  }, controller.signal);
  const stop = async () => {
    controller.abort();
    return await within(loop, 10_000);
  };
  return {
    clock,
    passes,
    flights,
    loop,
    stopped: () => stopped,
    emit: (kind) => onEvent?.({ kind, paths: ["/manifests/a.yaml"] }),
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}

/** A promise and its resolver. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => resolve = r);
  return { promise, resolve };
}

const group = (key: string): Action[] => [
  { type: "deletePod", key, reason: "test", sandboxIds: [] } as unknown as Action,
];

Deno.test("the loop runs a pass at start, then waits: no pass without a reason", async () => {
  await using h = start();
  await h.clock.settle();
  assert.deepEqual(h.passes, [0]);
  await h.clock.advance(59_999);
  assert.deepEqual(h.passes, [0]);
});

Deno.test("a burst of writes in progress is one pass, 50 ms after its first event", async () => {
  await using h = start();
  await h.clock.settle();
  h.emit("modify");
  await h.clock.advance(20);
  h.emit("create");
  await h.clock.advance(20);
  h.emit("modify");
  await h.clock.advance(9);
  assert.deepEqual(h.passes, [0], "a pass before the debounce ended");
  await h.clock.advance(1);
  assert.deepEqual(h.passes, [0, 50]);
  await h.clock.advance(1_000);
  assert.deepEqual(h.passes, [0, 50], "the burst made more than one pass");
});

Deno.test("a finished write, a rename and a delete each make a pass at once", async () => {
  await using h = start();
  await h.clock.settle();
  for (const kind of ["access", "rename", "remove"] as const) {
    await h.clock.advance(100);
    h.emit(kind);
    await h.clock.settle();
  }
  assert.deepEqual(h.passes, [0, 100, 200, 300]);
});

Deno.test("a finished write during a debounce makes the pass at once, and the debounce makes none", async () => {
  await using h = start();
  await h.clock.settle();
  h.emit("modify");
  await h.clock.advance(10);
  h.emit("access");
  await h.clock.advance(1_000);
  assert.deepEqual(h.passes, [0, 10]);
});

Deno.test("the interval tick makes a pass every intervalMs", async () => {
  await using h = start({ intervalMs: 2_000 });
  await h.clock.settle();
  await h.clock.advance(1_999);
  assert.deepEqual(h.passes, [0]);
  await h.clock.advance(1);
  assert.deepEqual(h.passes, [0, 2_000]);
  await h.clock.advance(4_000);
  assert.deepEqual(h.passes, [0, 2_000, 4_000, 6_000]);
});

Deno.test("a pass asks for the next at a time: the loop sleeps until then", async () => {
  await using h = start({
    outcome: (n, clock) =>
      n === 1 ? { runtimeReachable: true, wakeAt: clock.epochMs() + 3_000 } : IDLE,
  });
  await h.clock.settle();
  await h.clock.advance(2_999);
  assert.deepEqual(h.passes, [0]);
  await h.clock.advance(1);
  assert.deepEqual(h.passes, [0, 3_000]);
});

Deno.test("an event during a pass is not missed: the next pass follows at once", async () => {
  const held = deferred<PassOutcome>();
  await using h = start({ outcome: (n) => n === 2 ? held.promise : IDLE });
  await h.clock.settle();
  h.emit("access");
  await h.clock.settle();
  assert.deepEqual(h.passes, [0, 0]);
  // The second pass is still running when the file changes again.
  await h.clock.advance(5);
  h.emit("access");
  held.resolve(IDLE);
  await h.clock.settle();
  assert.deepEqual(h.passes, [0, 0, 5]);
});

Deno.test("with pods queued for a slot, an ending flight starts the next and asks for a pass 1 s later; the last one at once", async () => {
  const ends = new Map<string, ReturnType<typeof deferred<ActionResult[]>>>();
  const flown: string[] = [];
  await using h = start({
    parallel: 1,
    fly: (key) => {
      flown.push(key);
      const d = deferred<ActionResult[]>();
      ends.set(key, d);
      return d.promise;
    },
    plan: (n, flights) => {
      if (n !== 1) return;
      void flights.launch("default/a", group("default/a"));
      flights.enqueue("default/b", group("default/b"));
      flights.enqueue("default/c", group("default/c"));
    },
  });
  await h.clock.settle();
  assert.deepEqual(flown, ["default/a"]);
  ends.get("default/a")?.resolve([]);
  await h.clock.settle();
  assert.deepEqual(flown, ["default/a", "default/b"], "the ending flight started the next");
  await h.clock.advance(999);
  assert.deepEqual(h.passes, [0], "a pass came before the queued-pass delay");
  await h.clock.advance(1);
  assert.deepEqual(h.passes, [0, 1_000]);
  ends.get("default/b")?.resolve([]);
  await h.clock.settle();
  assert.deepEqual(flown, ["default/a", "default/b", "default/c"]);
  await h.clock.advance(999);
  assert.deepEqual(h.passes, [0, 1_000], "c still flies: the pass b asked for waits");
  await h.clock.advance(1);
  assert.deepEqual(h.passes, [0, 1_000, 2_000]);
  ends.get("default/c")?.resolve([]);
  await h.clock.settle();
  assert.deepEqual(h.passes, [0, 1_000, 2_000, 2_000], "the last flight's end asks for a pass");
  assert.equal(h.flights.queued, 0);
});

Deno.test("a watch event empties the queue: the next pass plans those pods again", async () => {
  const end = deferred<ActionResult[]>();
  const flown: string[] = [];
  await using h = start({
    parallel: 1,
    fly: (key) => {
      flown.push(key);
      return end.promise;
    },
    plan: (n, flights) => {
      if (n !== 1) return;
      void flights.launch("default/a", group("default/a"));
      flights.enqueue("default/b", group("default/b"));
    },
  });
  await h.clock.settle();
  h.emit("access");
  await h.clock.settle();
  assert.equal(h.flights.queued, 0);
  end.resolve([]);
  await h.clock.settle();
  assert.deepEqual(flown, ["default/a"]);
});

Deno.test("while the runtime is unreachable, passes back off from 250 ms doubling to 5 s; once it answers, the backoff starts over", async () => {
  let down = true;
  await using h = start({
    outcome: () => down ? { runtimeReachable: false, wakeAt: undefined } : IDLE,
  });
  await h.clock.settle();
  for (let i = 0; i < 7; i++) assert.ok(await h.clock.fireNext());
  const gaps = h.passes.slice(1).map((t, i) => t - h.passes[i]!);
  assert.deepEqual(gaps, [250, 500, 1_000, 2_000, 4_000, 5_000, 5_000]);
  down = false;
  assert.ok(await h.clock.fireNext());
  assert.equal(h.passes.length, 9);
  // Answered: the loop waits for a reason, and the next outage starts at 250 ms again.
  down = true;
  const at = h.clock.now();
  h.emit("access");
  await h.clock.settle();
  assert.ok(await h.clock.fireNext());
  assert.deepEqual(h.passes.slice(-2), [at, at + 250]);
});

Deno.test("a stop while the loop sleeps ends it at once, says it stopped, and leaves no timer", async () => {
  const h = start({
    intervalMs: 2_000,
    outcome: (_n, clock) => ({ runtimeReachable: true, wakeAt: clock.epochMs() + 300_000 }),
  });
  await h.clock.settle();
  await h.clock.advance(500);
  assert.ok(await h.stop(), "the loop still ran 10 s after the stop");
  assert.deepEqual(h.passes, [0]);
  assert.equal(h.stopped(), 1);
  assert.equal(h.clock.pending, 0, "a timer was left behind");
});

Deno.test("a flight that ignores the stop holds the loop for the stop grace at most, on the clock", async () => {
  const h = start({
    fly: () => new Promise<ActionResult[]>(() => {}),
    plan: (n, flights) => {
      if (n === 1) void flights.launch("default/a", group("default/a"));
    },
  });
  await h.clock.settle();
  let ended = false;
  void h.loop.then(() => ended = true);
  const stopping = h.stop();
  await h.clock.advance(STOP_GRACE_MS - 1);
  assert.equal(ended, false, "the loop ended before the stop grace");
  assert.equal(h.stopped(), 0);
  await h.clock.advance(1);
  assert.ok(await stopping);
  assert.equal(h.stopped(), 1);
});

Deno.test("with nothing to do at start, the work after the first idle pass runs once, right after the first pass", async () => {
  const ranAfter: number[] = [];
  let h: Harness | undefined = undefined;
  await using started = start({
    onFirstIdle: () => {
      ranAfter.push(h?.passes.length ?? -1);
      return Promise.resolve();
    },
  });
  h = started;
  await h.clock.settle();
  assert.deepEqual(ranAfter, [1], "not run once, after the first pass");
  h.emit("access");
  await h.clock.settle();
  await h.clock.advance(60_000);
  assert.ok(h.passes.length >= 3);
  assert.deepEqual(ranAfter, [1], "run again after a later idle pass");
});

Deno.test("the work after the first idle pass waits while a pass starts flights, and runs after the pass that follows the last one's end", async () => {
  const ranAfter: number[] = [];
  const ends = new Map<string, ReturnType<typeof deferred<ActionResult[]>>>();
  let h: Harness | undefined = undefined;
  await using started = start({
    parallel: 1,
    fly: (key) => {
      const d = deferred<ActionResult[]>();
      ends.set(key, d);
      return d.promise;
    },
    plan: (n, flights) => {
      if (n !== 1) return;
      void flights.launch("default/a", group("default/a"));
      flights.enqueue("default/b", group("default/b"));
    },
    outcome: (n) => n === 1 ? { ...IDLE, actions: group("default/a") } : IDLE,
    onFirstIdle: () => {
      ranAfter.push(h?.passes.length ?? -1);
      return Promise.resolve();
    },
  });
  h = started;
  await h.clock.settle();
  assert.deepEqual(ranAfter, [], "run before the first pass's flight ended");
  ends.get("default/a")?.resolve([]);
  await h.clock.settle();
  // The ending flight started b and asked for a pass (1 s later, as b flies), which came
  // while b flies: not idle.
  await h.clock.advance(1_000);
  assert.equal(h.passes.length, 2);
  assert.deepEqual(ranAfter, [], "run while a flight was running");
  ends.get("default/b")?.resolve([]);
  await h.clock.settle();
  assert.equal(h.passes.length, 3);
  assert.deepEqual(ranAfter, [3], "not run after the first idle pass");
});

Deno.test("a pass that started actions, or found the runtime down, is not idle; a failing work after idle is logged at debug and the loop goes on", async () => {
  const ranAfter: number[] = [];
  const lines: string[] = [];
  let h: Harness | undefined = undefined;
  await using started = start({
    outcome: (n) =>
      n === 1
        ? { runtimeReachable: false, wakeAt: undefined }
        : n === 2
        ? { ...IDLE, actions: group("default/a") }
        : IDLE,
    onFirstIdle: () => {
      ranAfter.push(h?.passes.length ?? -1);
      return Promise.reject(new Error("no codecs"));
    },
    write: (line) => lines.push(line),
  });
  h = started;
  await h.clock.settle();
  assert.deepEqual(ranAfter, []);
  assert.ok(await h.clock.fireNext(), "no retry after the runtime was down");
  assert.deepEqual(h.passes.length, 2);
  assert.deepEqual(ranAfter, [], "run after a pass that started actions");
  h.emit("access");
  await h.clock.settle();
  assert.deepEqual(ranAfter, [3]);
  assert.ok(lines.some((l) => l.includes("no codecs")), lines.join("\n"));
  h.emit("access");
  await h.clock.settle();
  assert.equal(h.passes.length, 4, "the loop stopped after the failure");
  assert.deepEqual(ranAfter, [3]);
});
