/**
 * A token in the query of `--manifest-url` never leaves the fetch: the URL is shown and
 * recorded (the pods' source, logs, the status file, /healthz, the kept document, errors) with
 * its query's values redacted, and a new token for the same URL keeps the kept document and
 * the pods.
 */
import assert from "node:assert/strict";
import { AgentMetrics } from "../lib/base/metrics.ts";
import { createLogger } from "../lib/base/log.ts";
import { parseCommandLine, UsageError } from "../lib/cmd/cli.ts";
import { fetchManifestUrl, ManifestUrlError } from "../lib/manifest/url_fetch.ts";
import { shownUrl } from "../lib/manifest/url_rules.ts";
import { ManifestSource } from "../lib/manifest/source.ts";
import { ManifestSources } from "../lib/node/manifest_sources.ts";
import { UrlDocumentStore } from "../lib/node/url_document.ts";
import { UrlSource } from "../lib/node/url_source.ts";
import { documentServer } from "../testing/document_server.ts";
import { urlFixture } from "../testing/url_fixture.ts";
import { FIXTURE_IMAGE } from "../testing/reconciler_fixture.ts";

const SECRET = "s3cr3t-t0ken";
const POD = `name: web\ncontainers:\n  - name: app\n    image: ${FIXTURE_IMAGE}\n`;

const SHOWN: [string, string][] = [
  [
    "https://git.example/raw/pods.yaml?private_token=abc&ref=main",
    "https://git.example/raw/pods.yaml?private_token=<redacted>&ref=<redacted>",
  ],
  ["https://config.example.com/web.yaml", "https://config.example.com/web.yaml"],
  ["https://config.example.com/web.yaml#top", "https://config.example.com/web.yaml"],
  [
    "https://ops:pw@config.example.com/web.yaml?a=1",
    "https://config.example.com/web.yaml?a=<redacted>",
  ],
  ["http://127.0.0.1:8000/a.yaml?empty=&x=%2F", "http://127.0.0.1:8000/a.yaml?empty=&x=<redacted>"],
  // A part without "=" may be a token itself.
  ["https://h.example/a.yaml?abc123", "https://h.example/a.yaml?<redacted>"],
];

for (const [url, shown] of SHOWN) {
  Deno.test(`shownUrl: ${url} shows as ${shown}`, () => {
    assert.equal(shownUrl(url), shown);
    assert.equal(shownUrl(shown), shown, "showing it again changes nothing");
  });
}

Deno.test("--manifest-url with a token in its query: shown redacted, fetched whole", () => {
  const url = `https://git.example/raw/pods.yaml?private_token=${SECRET}&ref=main#x`;
  const c = parseCommandLine(["--manifest-url", url], { cwd: "/", hostname: "node1" });
  assert.ok("config" in c);
  assert.equal(
    c.config.manifestUrl?.url,
    "https://git.example/raw/pods.yaml?private_token=<redacted>&ref=<redacted>",
  );
  assert.equal(c.config.manifestUrl?.fetchUrl, url);
  // Refused URLs and text that is not a URL are shown without their query too.
  for (const text of [`http://198.18.0.1/a.yaml?t=${SECRET}`, `pods.yaml?t=${SECRET}`]) {
    assert.throws(
      () => parseCommandLine(["--manifest-url", text], { cwd: "/", hostname: "node1" }),
      (e: Error) => e instanceof UsageError && !e.message.includes(SECRET),
    );
  }
});

/** Every message of `e` and of its causes. */
function messages(e: unknown): string {
  const out: string[] = [];
  for (let x: unknown = e; x instanceof Error; x = x.cause) out.push(x.message);
  return out.join("\n");
}

Deno.test("the errors of a fetch quote the URL as shown, their causes and redirects too", async () => {
  // Unreachable, with a ")" in the query that would end Deno's own quoting of the URL.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const base = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/p(1).yaml`;
  listener.close();
  const refused = await fetchManifestUrl(`${base}?token=${SECRET})x#frag`).catch((e) => e);
  assert.ok(refused instanceof ManifestUrlError);
  assert.equal(
    refused.message,
    `Check that ${base}?token=<redacted> is reachable: tcp connect error: Connection refused`,
  );
  assert.equal(refused.url, `${base}?token=<redacted>`);
  assert.ok(!messages(refused).includes(SECRET), messages(refused));
  // A redirect to a URL with a signature, which then fails.
  await using target = documentServer({ kind: "status", status: 500 });
  await using server = documentServer({
    kind: "redirect",
    location: `${target.url}?sig=${SECRET}`,
  });
  const redirected = await fetchManifestUrl(`${server.url}?token=${SECRET}`).catch((e) => e);
  assert.equal(
    redirected.message,
    `Check the server of ${server.url}?token=<redacted>: it answered HTTP 500 Internal Server Error (redirected to ${target.url}?sig=<redacted>), not 200`,
  );
  assert.equal(target.requests[0]!.query, `?sig=${SECRET}`, "the whole URL was fetched");
  // A redirect to a host refused, and a server that does not answer in time.
  server.answer = { kind: "redirect", location: `http://198.18.0.1/x.yaml?sig=${SECRET}` };
  const hop = await fetchManifestUrl(`${server.url}?token=${SECRET}`).catch((e) => e);
  assert.match(
    hop.message,
    /^Use https:\/\/ for http:\/\/198\.18\.0\.1\/x\.yaml\?sig=<redacted>: /,
  );
  server.answer = { kind: "hang" };
  const slow = await fetchManifestUrl(`${server.url}?token=${SECRET}`, { timeoutMs: 100 })
    .catch((e) => e);
  assert.match(slow.message, /\?token=<redacted> answers: it did not answer within 0\.1 s$/);
  for (const e of [redirected, hop, slow]) {
    assert.ok(e instanceof ManifestUrlError);
    assert.ok(!messages(e).includes(SECRET), messages(e));
  }
});

/** Every file under `dir`, read as text. */
async function filesUnder(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) { for (const [p, t] of await filesUnder(path)) out.set(p, t); }
    else if (e.isFile) out.set(path, await Deno.readTextFile(path));
  }
  return out;
}

Deno.test("a token in the URL's query is in no log, label, status or kept file; a new token keeps the pods", async () => {
  await using server = documentServer({ kind: "document", text: POD, etag: '"v1"' });
  const shown = `${server.url}?private_token=<redacted>`;
  const metrics = new AgentMetrics();
  const { f, url, sync } = await urlFixture(`${server.url}?private_token=${SECRET}#frag`, {
    metrics,
    statusFile: true,
  });
  await using _f = f;
  await sync();
  assert.equal(server.requests[0]!.query, `?private_token=${SECRET}`);
  const sandboxes = await f.cri.listPodSandbox();
  assert.deepEqual(sandboxes.map((s) => s.annotations["tinylet/source"]), [shown]);
  assert.deepEqual(f.reconciler.pods.map((p) => p.source), [shown]);
  // The server fails: the degraded text and its log line name the URL as shown.
  server.answer = { kind: "status", status: 503 };
  await f.clock.advance(20_000);
  await f.reconciler.pass();
  await url.settled();
  await f.reconciler.pass();
  const degraded = f.reconciler.health().degraded ?? "";
  assert.ok(degraded.startsWith(`Check the server of ${shown}: it answered HTTP 503`), degraded);
  const files = await filesUnder(f.dir);
  assert.ok(
    files.has(`${f.root}/status.json`) && files.has(`${f.root}/manifest-url/document.json`),
  );
  for (const [path, text] of files) assert.ok(!text.includes(SECRET), `${path} holds the token`);
  const said = [
    ...f.lines,
    degraded,
    metrics.render(),
    JSON.stringify(f.reconciler.pods),
    JSON.stringify(sandboxes),
  ];
  for (const text of said) assert.ok(!text.includes(SECRET), text);
  assert.ok(f.lines.some((l) => l.includes(`Fetched a new document from ${shown}`)));

  // A new agent with a new token and the server down: the kept document stands, nothing moves.
  await server.close();
  const lines: string[] = [];
  const log = createLogger({ write: (l) => lines.push(l) });
  const rotated = new UrlSource({
    url: `${server.url}?private_token=n3w-t0ken`,
    root: f.root,
    log,
    clock: f.clock,
  });
  const again = f.restarted({
    source: new ManifestSources(new ManifestSource(f.manifests), rotated),
    log,
  });
  try {
    await again.pass();
    await rotated.settled();
    const r = await again.pass();
    assert.deepEqual(r.actions, []);
    assert.deepEqual(again.pods.map((p) => [p.name, p.source, p.stale]), [["web", shown, false]]);
    assert.ok(
      lines.some((l) => l.includes(`Running the pods of the document of ${shown} kept in`)),
      lines.join("\n"),
    );
    assert.ok(!lines.some((l) => l.includes("n3w-t0ken")));
  } finally {
    await again.stop();
  }
});

Deno.test("a document kept under a whole URL is the shown URL's, and one of another URL is named as shown", async () => {
  const root = await Deno.makeTempDir({ prefix: "tinylet-url-redact-" });
  try {
    const store = new UrlDocumentStore(root);
    const url = "https://git.example/raw/pods.yaml";
    await store.write({ url: `${url}?private_token=${SECRET}`, text: POD, fetchedAt: 1 });
    const read = await store.read(`${url}?private_token=<redacted>`);
    assert.equal(read.document?.url, `${url}?private_token=<redacted>`);
    assert.equal(read.document?.text, POD);
    const other = await store.read(url);
    assert.equal(other.document, undefined);
    assert.equal(
      other.warning,
      `Ignoring the kept document of --manifest-url in ${store.file}: it is the document of ${url}?private_token=<redacted>, not of ${url} (the next fetch of ${url} replaces it)`,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
