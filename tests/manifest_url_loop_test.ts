/**
 * The agent's loop with `--manifest-url`: a fetch that changed something, the next poll, and
 * the end of a fetch that a pass found running, wake it.
 */
import assert from "node:assert/strict";
import { ManifestSources } from "../lib/node/manifest_sources.ts";
import { UrlSource } from "../lib/node/url_source.ts";
import { documentServer } from "../testing/document_server.ts";
import { FIXTURE_IMAGE, reconcilerFixture } from "../testing/reconciler_fixture.ts";
import { waitFor } from "../testing/wait.ts";

function pod(name: string): string {
  return `name: ${name}\ncontainers:\n  - name: app\n    image: ${FIXTURE_IMAGE}\n`;
}

Deno.test("the loop runs a pass when a fetch brought a change, and wakes for the next poll", async () => {
  await using server = documentServer({ kind: "document", text: pod("web"), etag: '"v1"' });
  let url: UrlSource | undefined;
  await using f = await reconcilerFixture({
    time: "system",
    // No safety-net pass within the test: only the URL can wake the loop.
    intervalMs: 600_000,
    sources: (directory, { root, clock, log }) => {
      url = new UrlSource({
        url: server.url,
        root,
        log,
        intervalMs: 500,
        clock,
      });
      return new ManifestSources(directory, url);
    },
  });
  const names = async () =>
    (await f.cri.listPodSandbox({ state: "SANDBOX_READY" })).map((s) => s.metadata.name).sort();
  const stop = new AbortController();
  const loop = f.reconciler.run(stop.signal);
  try {
    // The first pass starts the fetch and finds nothing yet: the fetch's end asks for a pass.
    await waitFor("pod web runs", async () => (await names()).join() === "web", {
      timeoutMs: 5_000,
    });
    // The next polls come at the source's own interval, not the loop's.
    server.answer = { kind: "document", text: `${pod("web")}---\n${pod("db")}`, etag: '"v2"' };
    await waitFor("pod db runs", async () => (await names()).join() === "db,web", {
      timeoutMs: 5_000,
    });
    // And on: a poll that has the new document asks whether it changed since.
    await waitFor(
      "a poll with the new ETag",
      () => server.requests.some((r) => r.headers["if-none-match"] === '"v2"'),
      { timeoutMs: 5_000 },
    );
  } finally {
    stop.abort();
    await loop;
    await url!.settled();
  }
});

Deno.test("polls keep their cadence when each fetch outlasts the pass that started it", async () => {
  await using server = documentServer({ kind: "document", text: pod("web"), etag: '"v1"' });
  // Each answer takes 200 ms of real time, while the clock stands still: every pass that starts
  // a poll ends before it does, and learns no time to wake for the next.
  server.delayMs = 200;
  let url: UrlSource | undefined;
  await using f = await reconcilerFixture({
    // No safety-net pass within the test: only the URL can wake the loop.
    intervalMs: 600_000,
    sources: (directory, { root, clock, log }) => {
      url = new UrlSource({ url: server.url, root, log, intervalMs: 500, clock });
      return new ManifestSources(directory, url);
    },
  });
  const stop = new AbortController();
  const loop = f.reconciler.run(stop.signal);
  try {
    await waitFor(
      "pod web runs",
      async () => (await f.cri.listPodSandbox({ state: "SANDBOX_READY" })).length === 1,
      { timeoutMs: 5_000 },
    );
    // Unchanged answers (304) from here. The end of each fetch has the loop look again, which
    // learns the next poll's time and sleeps until it: 500 ms on the clock. Without that look
    // the loop would wait for its 10 min tick, and no poll would come.
    const start = server.requests.length;
    const asleep = (what: string) =>
      waitFor(`the loop to sleep until ${what}`, () => f.clock.nextIn() === 500, {
        timeoutMs: 5_000,
      });
    for (let poll = 1; poll <= 4; poll++) {
      await asleep(`poll ${poll}`);
      assert.equal(
        server.requests.length,
        start + poll - 1,
        "no poll while the clock stands still",
      );
      await f.clock.advance(500);
      await waitFor(`poll ${poll}`, () => server.requests.length >= start + poll, {
        timeoutMs: 5_000,
      });
    }
    await asleep("the next poll");
    assert.equal(server.requests.length, start + 4, "one poll each time the clock moved 500 ms");
    assert.ok(
      server.requests.slice(-4).every((r) => r.headers["if-none-match"] === '"v1"'),
      "the polls were conditional",
    );
  } finally {
    stop.abort();
    await loop;
    await url!.settled();
  }
});
