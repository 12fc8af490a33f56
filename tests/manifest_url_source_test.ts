import assert from "node:assert/strict";
import { AgentMetrics } from "../lib/base/metrics.ts";
import { createLogger } from "../lib/base/log.ts";
import { handler } from "../lib/agent/routes.ts";
import { ManifestSource } from "../lib/manifest/source.ts";
import { ManifestSources } from "../lib/node/manifest_sources.ts";
import { UrlSource } from "../lib/node/url_source.ts";
import { type Answer, type DocumentServer, documentServer } from "../testing/document_server.ts";
import type { ReconcilerFixture } from "../testing/reconciler_fixture.ts";
import {
  runningSources as running,
  URL_POLL_MS,
  urlFixture,
  urlPod as pod,
} from "../testing/url_fixture.ts";

/** The hand clock's start: 2026-11-27T12:00:00Z. */
const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);

function calls(f: ReconcilerFixture, method: string): number {
  return f.cri.calls.filter((c) => c.method === method).length;
}

/** The URL's fixture on `server`, with its own metrics and a 2 s fetch timeout. */
async function sourceFixture(server: DocumentServer, timeoutMs = 2_000) {
  const metrics = new AgentMetrics();
  return { ...await urlFixture(server.url, { metrics, timeoutMs }), metrics };
}

Deno.test("pods from the URL run with the URL as their source; an unchanged document costs a 304", async () => {
  await using server = documentServer({ kind: "document", text: pod("web"), etag: '"v1"' });
  const { f, metrics, sync, next } = await sourceFixture(server);
  await using _f = f;
  await sync();
  assert.deepEqual(await running(f), { web: server.url });
  assert.equal(f.reconciler.pods[0]?.source, server.url);
  assert.deepEqual(f.reconciler.health(), { ok: true, reason: "" });
  assert.ok(
    f.lines.some((l) => l.includes(`Fetched a new document from ${server.url}: 1 pod (96 bytes)`)),
    f.lines.join("\n"),
  );
  await next();
  assert.equal(server.requests.length, 2);
  assert.equal(server.requests[0]!.headers["if-none-match"], undefined);
  assert.equal(server.requests[1]!.headers["if-none-match"], '"v1"');
  assert.equal(calls(f, "RunPodSandbox"), 1);
  const text = metrics.render();
  assert.match(text, /^tinylet_manifest_url_fetches_total\{result="changed"\} 1$/m);
  assert.match(text, /^tinylet_manifest_url_fetches_total\{result="unchanged"\} 1$/m);
  assert.match(text, /^tinylet_manifest_url_up 1$/m);
  assert.match(text, /^tinylet_manifest_url_bytes_total 96$/m);
  assert.match(text, /^tinylet_manifest_url_last_success_timestamp_seconds 1795780820$/m);
});

Deno.test("the pass wakes for the next poll; a fetch asks for a pass when it changed something or a pass waited for it", async () => {
  await using server = documentServer({ kind: "document", text: pod("web"), etag: '"v1"' });
  const { f, url, sync } = await sourceFixture(server);
  await using _f = f;
  let pokes = 0;
  url.wakeWith(() => pokes++);
  await sync();
  assert.equal(pokes, 1);
  const quiet = await f.reconciler.pass();
  assert.equal(quiet.wakeAt, T0 + URL_POLL_MS);
  // A poll no pass waited for, answered 304: nothing changed, no pass is asked for.
  await f.clock.advance(URL_POLL_MS);
  url.poll();
  await url.settled();
  assert.equal(pokes, 1);
  assert.equal(url.wakeAt(f.clock.epochMs()), T0 + 2 * URL_POLL_MS);
  // A pass that found the poll running learnt no wake time: the poll's end asks for a pass.
  await f.clock.advance(URL_POLL_MS);
  url.poll();
  assert.equal(url.wakeAt(f.clock.epochMs()), undefined);
  await url.settled();
  assert.equal(server.requests.at(-1)?.headers["if-none-match"], '"v1"');
  assert.equal(pokes, 2);
  assert.equal(url.wakeAt(f.clock.epochMs()), T0 + 3 * URL_POLL_MS);
  server.answer = { kind: "status", status: 503 };
  await f.clock.advance(URL_POLL_MS);
  url.poll();
  await url.settled();
  assert.equal(pokes, 3);
});

const FAILURES: { name: string; answer: Answer | "closed"; reason: string; timeoutMs?: number }[] =
  [
    {
      name: "an HTTP error",
      answer: { kind: "status", status: 500 },
      reason: "Check the server of URL: it answered HTTP 500 Internal Server Error, not 200",
    },
    {
      name: "garbage",
      answer: { kind: "document", text: "name: [web\n", etag: '"bad"' },
      reason: "Fix the document at URL: it has 1 error (see tinylet check --manifest-url URL)",
    },
    {
      name: "a document that declares no pod",
      answer: { kind: "document", text: "# nothing here\n", etag: '"none"' },
      reason: "Fix the document at URL: it has 1 error (see tinylet check --manifest-url URL)",
    },
    {
      name: "an empty body",
      answer: { kind: "bytes", body: new Uint8Array(0) },
      reason: "Fix the document at URL: it is empty (0 bytes), and an empty answer removes no pod",
    },
    {
      name: "a body over 1 MiB",
      answer: { kind: "bytes", body: new Uint8Array(1024 * 1024 + 1).fill(0x23) },
      reason: "Shrink the document at URL: it has more than 1048576 bytes (1 MiB)",
    },
    {
      name: "no answer",
      answer: { kind: "hang" },
      reason: "Check that URL answers: it did not answer within 0.3 s",
      timeoutMs: 300,
    },
    {
      name: "an unreachable server",
      answer: "closed",
      reason: "Check that URL is reachable: tcp connect error: Connection refused",
    },
  ];

for (const c of FAILURES) {
  Deno.test(`${c.name} at the URL keeps its pods, degrades /healthz and is logged once`, async () => {
    await using server = documentServer({
      kind: "document",
      text: pod("web") + "---\n" + pod("db"),
      etag: '"v1"',
    });
    const { f, metrics, sync, next } = await sourceFixture(server, c.timeoutMs);
    await using _f = f;
    await sync();
    assert.deepEqual(await running(f), { db: server.url, web: server.url });
    assert.match(metrics.render(), /^tinylet_manifest_url_up 1$/m);
    if (c.answer === "closed") await server.close();
    else server.answer = c.answer;
    // A fetch that hangs ends when the clock reaches its timeout.
    await next(c.timeoutMs);
    await next(c.timeoutMs);
    const reason = c.reason.replaceAll("URL", server.url);
    const degraded =
      `${reason}; running the pods of its last good document (fetched at 2026-11-27T12:00:00Z: 2 pods)`;
    assert.deepEqual(await running(f), { db: server.url, web: server.url });
    assert.equal(calls(f, "StopPodSandbox"), 0);
    // Still declared, by the last good document: not shown as kept from an invalid source.
    assert.deepEqual(f.reconciler.pods.map((p) => [p.name, p.stale ?? false]), [
      ["db", false],
      ["web", false],
    ]);
    assert.deepEqual(f.reconciler.health(), { ok: true, reason: "", degraded });
    assert.equal(f.lines.filter((l) => l.includes(degraded)).length, 1, f.lines.join("\n"));
    const text = metrics.render();
    assert.match(text, /^tinylet_manifest_url_up 0$/m);
    assert.match(text, /^tinylet_manifest_url_fetches_total\{result="failed"\} 2$/m);
    const res = await handler({
      health: () => f.reconciler.health(),
      metrics: () => "",
      pods: () => [],
    })(new Request("http://127.0.0.1/healthz"));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), `degraded: ${degraded}\n`);
  });
}

Deno.test("the URL answering again ends the degradation, and says so once", async () => {
  await using server = documentServer({ kind: "document", text: pod("web"), etag: '"v1"' });
  const { f, metrics, sync, next } = await sourceFixture(server);
  await using _f = f;
  await sync();
  server.answer = { kind: "status", status: 502 };
  await next();
  assert.equal(f.reconciler.health().ok, true);
  assert.notEqual(f.reconciler.health().degraded, undefined);
  server.answer = { kind: "document", text: pod("web"), etag: '"v1"' };
  await next();
  await next();
  assert.deepEqual(f.reconciler.health(), { ok: true, reason: "" });
  const back =
    `${server.url} answers: its document is unchanged (fetched at 2026-11-27T12:00:00Z: 1 pod)`;
  assert.equal(f.lines.filter((l) => l.includes(back)).length, 1, f.lines.join("\n"));
  assert.match(metrics.render(), /^tinylet_manifest_url_up 1$/m);
  assert.equal(calls(f, "RunPodSandbox"), 1);
});

Deno.test("a pod removed from a valid document is torn down, the others stay", async () => {
  await using server = documentServer({
    kind: "document",
    text: pod("web") + "---\n" + pod("db"),
    etag: '"v1"',
  });
  const { f, next, sync } = await sourceFixture(server);
  await using _f = f;
  await sync();
  assert.deepEqual(await running(f), { db: server.url, web: server.url });
  server.answer = { kind: "document", text: pod("web"), etag: '"v2"' };
  await next();
  assert.deepEqual(await running(f), { web: server.url });
  assert.equal((await f.cri.listPodSandbox()).length, 1, "db's sandbox is removed");
});

Deno.test("a pod in the directory and at the URL: the directory wins, both sides are reported", async () => {
  await using server = documentServer({
    kind: "document",
    text: pod("api") + "---\n" + pod("web", "url"),
    etag: '"v1"',
  });
  const { f, sync } = await sourceFixture(server);
  await using _f = f;
  await f.write("web.yaml", pod("web", "directory"));
  await sync();
  const file = `${f.manifests}/web.yaml`;
  assert.deepEqual(await running(f), { api: server.url, web: file });
  const problems = (await f.reconciler.pass()).problems.map((p) =>
    `${p.file}:${p.line}: ${p.severity}: ${p.message}`
  );
  assert.deepEqual(problems, [
    `${server.url}:7: error: Rename or remove this pod: "default/web" is also declared in ${file}:1, which wins (the lexically first file)`,
    `${file}:1: warning: Pod "default/web" is also declared in ${server.url}:7; this file wins (the lexically first file)`,
  ]);
});

Deno.test("the document is remembered across a restart: a new agent with the server down runs the same pods", async () => {
  await using server = documentServer({
    kind: "document",
    text: pod("web") + "---\n" + pod("db"),
    etag: '"v1"',
  });
  const { f, sync } = await sourceFixture(server);
  await using _f = f;
  await sync();
  const kept = `${f.root}/manifest-url/document.json`;
  assert.equal((await Deno.stat(kept)).mode! & 0o777, 0o600);
  assert.equal((await Deno.stat(`${f.root}/manifest-url`)).mode! & 0o777, 0o700);
  const url = server.url;
  await server.close();
  const lines: string[] = [];
  const restarted = (source: UrlSource) =>
    f.restarted({
      source: new ManifestSources(new ManifestSource(f.manifests), source),
      log: createLogger({ write: (l) => lines.push(l) }),
    });
  const source = new UrlSource({
    url,
    root: f.root,
    log: createLogger({ write: (l) => lines.push(l) }),
    clock: f.clock,
  });
  const again = restarted(source);
  try {
    await again.pass();
    await source.settled();
    const r = await again.pass();
    assert.deepEqual(r.actions, []);
    assert.deepEqual(await running(f), { db: url, web: url });
    assert.deepEqual(again.pods.map((p) => [p.name, p.source, p.stale ?? false]), [
      ["db", url, false],
      ["web", url, false],
    ]);
    assert.ok(
      lines.some((l) =>
        l.includes(
          `Running the pods of the document of ${url} kept in ${kept} (fetched at 2026-11-27T12:00:00Z: 2 pods) until it is fetched again`,
        )
      ),
      lines.join("\n"),
    );
    assert.equal(
      again.health().degraded,
      `Check that ${url} is reachable: tcp connect error: Connection refused; running the pods of its last good document (fetched at 2026-11-27T12:00:00Z: 2 pods)`,
    );
  } finally {
    await again.stop();
  }
  // Without the kept document, the pods are kept too, but shown as from an invalid source.
  await Deno.remove(kept);
  const bare = new UrlSource({ url, root: f.root, clock: f.clock });
  const third = restarted(bare);
  try {
    await third.pass();
    await bare.settled();
    const r = await third.pass();
    assert.deepEqual(r.actions, []);
    assert.deepEqual(await running(f), { db: url, web: url });
    assert.deepEqual(third.pods.map((p) => [p.name, p.stale ?? false]), [
      ["db", true],
      ["web", true],
    ]);
  } finally {
    await third.stop();
  }
});

Deno.test("a restarted agent's first poll is conditional on the kept document's ETag", async () => {
  await using server = documentServer({ kind: "document", text: pod("web"), etag: '"v1"' });
  const { f, sync } = await sourceFixture(server);
  await using _f = f;
  await sync();
  const source = new UrlSource({ url: server.url, root: f.root, clock: f.clock });
  await source.fetchNow();
  assert.equal(server.requests.length, 2);
  assert.equal(server.requests[1]!.headers["if-none-match"], '"v1"');
  assert.equal(source.status().state, "ok");
  assert.equal(source.entry().manifest.pods.length, 1);
});

Deno.test("with --manifest-url, a missing directory is healthy and removals from the URL still happen", async () => {
  await using server = documentServer({
    kind: "document",
    text: pod("web") + "---\n" + pod("db"),
    etag: '"v1"',
  });
  const { f, sync, next } = await sourceFixture(server);
  await using _f = f;
  await f.write("local.yaml", pod("local"));
  await sync();
  await Deno.remove(f.manifests, { recursive: true });
  await sync();
  assert.deepEqual(f.reconciler.health(), { ok: true, reason: "" });
  server.answer = { kind: "document", text: pod("web"), etag: '"v2"' };
  await next();
  // The directory's pod waits for its directory; the URL's db is gone.
  assert.deepEqual(await running(f), { local: `${f.manifests}/local.yaml`, web: server.url });
  assert.ok(
    f.lines.some((l) =>
      l.includes(
        `Manifest directory ${f.manifests} does not exist: reading --manifest-url only (pods from the directory's files are kept)`,
      )
    ),
  );
});
