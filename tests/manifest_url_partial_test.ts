/**
 * While `--manifest-url` has given no valid document (none fetched, none kept), nothing is
 * removed from any source: a changed URL, a file moved to the URL, or a first start with the
 * server down keeps the pods recorded as from elsewhere until the URL answers; then removals
 * resume. The status of a pod kept so says why.
 */
import assert from "node:assert/strict";
import { createLogger } from "../lib/base/log.ts";
import { ManifestSource } from "../lib/manifest/source.ts";
import { ManifestSources } from "../lib/node/manifest_sources.ts";
import { UrlSource } from "../lib/node/url_source.ts";
import { documentServer } from "../testing/document_server.ts";
import { type ReconcilerFixture, reconcilerFixture } from "../testing/reconciler_fixture.ts";
import { runningSources as running, urlFixture, urlPod as pod } from "../testing/url_fixture.ts";

/** The ids of the containers the fake runs, sorted. */
async function containerIds(f: ReconcilerFixture): Promise<string[]> {
  return (await f.cri.listContainers({ state: "CONTAINER_RUNNING" })).map((c) => c.id).sort();
}

/** A loopback URL nothing listens on, and its port (to serve on later). */
function unreachable(): { url: string; port: number } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return { url: `http://127.0.0.1:${port}/pods.yaml`, port };
}

/** A new agent on the fixture's runtime and root, reading the directory and `url`. */
function restarted(f: ReconcilerFixture, url: string, lines: string[]) {
  const log = createLogger({ write: (l) => lines.push(l) });
  const source = new UrlSource({ url, root: f.root, log, clock: f.clock });
  const reconciler = f.restarted({
    source: new ManifestSources(new ManifestSource(f.manifests), source),
    log,
  });
  /** A pass that starts a fetch, and one that reads what it brought. */
  const sync = async () => {
    await reconciler.pass();
    await source.settled();
    return await reconciler.pass();
  };
  return { reconciler, source, sync };
}

Deno.test("a changed URL that has not answered removes nothing; once it serves a document, the old URL's pods go", async () => {
  await using a = documentServer({
    kind: "document",
    text: pod("web") + "---\n" + pod("db"),
    etag: '"a"',
  });
  const { f, sync } = await urlFixture(a.url);
  await using _f = f;
  await sync();
  assert.deepEqual(await running(f), { db: a.url, web: a.url });
  const ids = await containerIds(f);
  await f.reconciler.stop();

  const b = unreachable();
  const lines: string[] = [];
  const again = restarted(f, b.url, lines);
  try {
    const r = await again.sync();
    assert.deepEqual(r.actions, []);
    assert.deepEqual(await running(f), { db: a.url, web: a.url });
    assert.deepEqual(await containerIds(f), ids);
    const why =
      `Check that ${b.url} is reachable: tcp connect error: Connection refused; no pod is removed until it serves a valid document`;
    assert.deepEqual(
      again.reconciler.pods.map((p) => [p.name, p.source, p.stale, p.lastError]),
      [
        ["db", a.url, true, `${why}: the pod keeps running as it was`],
        ["web", a.url, true, `${why}: the pod keeps running as it was`],
      ],
    );
    for (
      const said of [
        `Ignoring the kept document of --manifest-url in ${f.root}/manifest-url/document.json: it is the document of ${a.url}, not of ${b.url}`,
        `No valid document of ${b.url} is kept in ${f.root}/manifest-url/document.json: no pod is removed, from any source, until it serves one`,
        `Check that ${b.url} is reachable: tcp connect error: Connection refused; no valid document of it was fetched yet and none is kept: no pod is removed, from any source, until it serves one`,
      ]
    ) {
      assert.ok(lines.some((l) => l.includes(said)), `${said}\n---\n${lines.join("\n")}`);
    }
    // The new URL answers: web as it declares it replaces A's, db (A's only) goes.
    await using served = documentServer({ kind: "document", text: pod("web", "b") }, {
      port: b.port,
    });
    await f.clock.advance(20_000);
    await again.sync();
    assert.deepEqual(await running(f), { web: b.url });
    assert.equal(
      (await f.cri.listPodSandbox()).length,
      1,
      "db's sandbox and web's old one are gone",
    );
    assert.equal(served.requests.length, 1);
  } finally {
    await again.reconciler.stop();
  }
});

Deno.test("a file moved to a URL that has not answered keeps its pods until the URL serves them", async () => {
  await using f = await reconcilerFixture();
  await f.write("web.yaml", pod("web"));
  await f.write("api.yaml", pod("api"));
  await f.reconciler.pass();
  const file = `${f.manifests}/web.yaml`;
  assert.deepEqual(await running(f), { api: `${f.manifests}/api.yaml`, web: file });
  const ids = await containerIds(f);
  await f.reconciler.stop();
  await Deno.remove(file);

  // First start with --manifest-url, nothing kept, the server down.
  const url = unreachable();
  const lines: string[] = [];
  const again = restarted(f, url.url, lines);
  try {
    const r = await again.sync();
    assert.deepEqual(r.actions, []);
    assert.deepEqual(await containerIds(f), ids);
    const web = again.reconciler.pods.find((p) => p.name === "web");
    assert.equal(
      web?.lastError,
      `Check that ${url.url} is reachable: tcp connect error: Connection refused; no pod is removed until it serves a valid document: the pod keeps running as it was`,
    );
    await using served = documentServer({ kind: "document", text: pod("web", "url") }, {
      port: url.port,
    });
    await f.clock.advance(20_000);
    await again.sync();
    assert.deepEqual(await running(f), { api: `${f.manifests}/api.yaml`, web: url.url });
    assert.equal(served.requests.length, 1);
  } finally {
    await again.reconciler.stop();
  }
});

Deno.test("the status of a pod of a URL that has not answered, with no kept document, says so", async () => {
  await using server = documentServer({ kind: "document", text: pod("web") });
  const { f, sync } = await urlFixture(server.url);
  await using _f = f;
  await sync();
  await f.reconciler.stop();
  await server.close();
  await Deno.remove(`${f.root}/manifest-url/document.json`);
  const again = restarted(f, server.url, []);
  try {
    // Before the first fetch has ended.
    await again.reconciler.pass();
    assert.deepEqual(again.reconciler.pods.map((p) => [p.name, p.source, p.stale, p.lastError]), [
      [
        "web",
        server.url,
        true,
        `${server.url} has not answered yet: the pod keeps running as it was`,
      ],
    ]);
    await again.source.settled();
    const r = await again.reconciler.pass();
    assert.deepEqual(r.actions, []);
    assert.equal(
      again.reconciler.pods[0]?.lastError,
      `Check that ${server.url} is reachable: tcp connect error: Connection refused: the pod keeps running as it was`,
    );
  } finally {
    await again.reconciler.stop();
  }
});
