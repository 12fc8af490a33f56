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
        now: () => clock.epochMs(),
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
  // Each answer takes 200 ms: every pass that starts a poll ends before it does.
  server.delayMs = 200;
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
        now: () => clock.epochMs(),
      });
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
    // Unchanged answers (304) from here: a poll every 500 ms, about 6 in 3 s; stuck at the
    // first 304 if the end of a fetch no pass waited for did not wake the loop.
    const start = server.requests.length;
    const t0 = performance.now();
    await waitFor("four more polls", () => server.requests.length >= start + 4, {
      timeoutMs: 4_000,
    });
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= 1_200, `four polls 500 ms apart took ${elapsed} ms`);
    assert.ok(
      server.requests.slice(start).every((r) => r.headers["if-none-match"] === '"v1"'),
      "the polls were conditional",
    );
  } finally {
    stop.abort();
    await loop;
    await url!.settled();
  }
});
