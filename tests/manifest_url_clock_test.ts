/**
 * The URL's source on the clock it is given: its polls fall due, its fetches time out and its
 * times are recorded on that clock, so the agent's clock (a hand clock here) drives them all.
 */
import assert from "node:assert/strict";
import type { FetchFunction } from "../lib/manifest/url_fetch.ts";
import { UrlSource } from "../lib/node/url_source.ts";
import { HandClock } from "../testing/hand_clock.ts";

/** The hand clock's start: 2026-11-27T12:00:00Z. */
const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const URL_ = "https://config.example/node/pods.yaml";
const POD = "name: web\ncontainers:\n  - name: app\n    image: busybox\n";

/** A server answering `POD` every time, counting the requests. */
function answering(): { fetch: FetchFunction; requests: number } {
  const state = {
    requests: 0,
    fetch: (() => {
      state.requests++;
      return Promise.resolve(new Response(POD, { status: 200, headers: { etag: '"v1"' } }));
    }) as FetchFunction,
  };
  return state;
}

/** A server that never answers: the request ends only when its signal aborts. */
const hanging: FetchFunction = (_input, init) =>
  new Promise((_resolve, reject) => {
    const signal = init.signal!;
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });

Deno.test("polls fall due on the source's clock, and wakeAt gives the due time on the epoch", async () => {
  const clock = new HandClock();
  const server = answering();
  const source = new UrlSource({ url: URL_, clock, intervalMs: 500, fetch: server.fetch });
  source.poll();
  await source.settled();
  assert.equal(server.requests, 1);
  assert.deepEqual(source.status(), {
    state: "ok",
    fetchedAt: T0,
    lastSuccessAt: T0,
    declares: "1 pod",
  });
  assert.equal(source.wakeAt(clock.epochMs()), T0 + 500);
  await clock.advance(499);
  source.poll();
  await source.settled();
  assert.equal(server.requests, 1, "no poll before the interval has passed on the clock");
  // The due time itself, not the time left added to the pass's time, read at the pass's start:
  // what the pass did after it must not make the wake early (an extra pass each poll).
  assert.equal(source.wakeAt(T0), T0 + 500);
  await clock.advance(1);
  source.poll();
  await source.settled();
  assert.equal(server.requests, 2, "a poll once the interval has passed on the clock");
  // The same document again: it was fetched at T0, and answered at T0 + 500 ms.
  assert.deepEqual(source.status(), {
    state: "ok",
    fetchedAt: T0,
    lastSuccessAt: T0 + 500,
    declares: "1 pod",
  });
  assert.equal(source.wakeAt(clock.epochMs()), T0 + 1_000);
});

Deno.test("a fetch that gets no answer times out on the source's clock", async () => {
  const clock = new HandClock();
  const source = new UrlSource({ url: URL_, clock, fetch: hanging });
  source.poll();
  assert.equal(clock.nextIn(), 10_000, "the 10 s timeout is set on the source's clock");
  await clock.advance(9_999);
  assert.equal(source.status().state, "unfetched");
  assert.equal(source.wakeAt(clock.epochMs()), undefined, "the fetch still runs");
  await clock.advance(1);
  await source.settled();
  assert.deepEqual(source.status(), {
    state: "failing",
    reason: `Check that ${URL_} answers: it did not answer within 10 s`,
  });
  assert.equal(clock.pending, 0);
});
