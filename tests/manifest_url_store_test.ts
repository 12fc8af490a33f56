/** The kept document of `--manifest-url` under `<root>/manifest-url/`. */
import assert from "node:assert/strict";
import { createLogger } from "../lib/base/log.ts";
import { UrlDocumentStore } from "../lib/node/url_document.ts";
import { UrlSource } from "../lib/node/url_source.ts";

const URL_A = "https://config.example.com/nodes/web.yaml";
const URL_B = "https://config.example.com/nodes/db.yaml";
const WEB = "name: web\ncontainers:\n  - name: app\n    image: busybox\n";

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-url-store-" });
  try {
    await fn(`${dir}/root`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a kept document is written 0600 in a 0700 directory, whole, and read back", async () => {
  await withRoot(async (root) => {
    const store = new UrlDocumentStore(root);
    assert.equal(store.file, `${root}/manifest-url/document.json`);
    await Deno.mkdir(`${root}/manifest-url`, { recursive: true, mode: 0o755 });
    await Deno.writeTextFile(`${root}/manifest-url/.document.json.tmp`, "left by a crash");
    await store.write({ url: URL_A, text: WEB, etag: '"v1"', fetchedAt: 1_700_000_000_000 });
    assert.equal((await Deno.stat(store.file)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(store.dir)).mode! & 0o777, 0o700);
    assert.deepEqual(
      [...Deno.readDirSync(store.dir)].map((e) => e.name),
      ["document.json"],
    );
    assert.equal(
      await Deno.readTextFile(store.file),
      `{"version":1,"url":"${URL_A}","fetchedAt":1700000000000,"etag":"\\"v1\\"","text":"name: web\\ncontainers:\\n  - name: app\\n    image: busybox\\n"}\n`,
    );
    assert.deepEqual(await store.read(URL_A), {
      document: { url: URL_A, text: WEB, etag: '"v1"', fetchedAt: 1_700_000_000_000 },
    });
    await store.write({
      url: URL_A,
      text: "# v2\n" + WEB,
      lastModified: "Wed, 21 Oct 2015 07:28:00 GMT",
      fetchedAt: 1_700_000_020_000,
    });
    assert.deepEqual(await store.read(URL_A), {
      document: {
        url: URL_A,
        text: "# v2\n" + WEB,
        lastModified: "Wed, 21 Oct 2015 07:28:00 GMT",
        fetchedAt: 1_700_000_020_000,
      },
    });
  });
});

Deno.test("a kept document that cannot be used reads as none, with a warning naming the file", async () => {
  await withRoot(async (root) => {
    const store = new UrlDocumentStore(root);
    assert.deepEqual(await store.read(URL_A), {});
    const warning = (why: string) => ({
      warning: `Ignoring the kept document of --manifest-url in ${store.file}: ${why}`,
    });
    await store.write({ url: URL_B, text: WEB, fetchedAt: 1 });
    assert.deepEqual(
      await store.read(URL_A),
      warning(
        `it is the document of ${URL_B}, not of ${URL_A} (the next fetch of ${URL_A} replaces it)`,
      ),
    );
    await Deno.writeTextFile(store.file, "{not json");
    const broken = await store.read(URL_A);
    assert.match(broken.warning!, /: it is not JSON \(.*\); remove it$/);
    assert.equal(broken.document, undefined);
    await Deno.writeTextFile(store.file, `{"version":2,"url":"${URL_A}","text":"","fetchedAt":1}`);
    assert.deepEqual(await store.read(URL_A), warning("its version is 2, not 1; remove it"));
    await Deno.writeTextFile(store.file, `{"version":1,"url":"${URL_A}","fetchedAt":1}`);
    assert.deepEqual(
      await store.read(URL_A),
      warning("it lacks the url, text or fetchedAt of a document; remove it"),
    );
    await Deno.remove(store.file);
    await Deno.mkdir(store.file);
    assert.deepEqual(
      await store.read(URL_A),
      warning("it is not a regular file; remove it (the next fetch writes it again)"),
    );
  });
});

Deno.test("a kept document that cannot be written says where and what to do", async () => {
  await withRoot(async (root) => {
    await Deno.mkdir(root, { recursive: true });
    await Deno.writeTextFile(`${root}/manifest-url`, "a file in the way");
    const store = new UrlDocumentStore(root);
    await assert.rejects(store.write({ url: URL_A, text: WEB, fetchedAt: 1 }), {
      message:
        `Cannot keep the document of --manifest-url in ${root}/manifest-url/document.json: ${root}/manifest-url is not a directory: remove it, the agent makes it (check that --root is writable and its disk has room; an agent restarted while the server is down would not have it)`,
    });
  });
});

Deno.test("the URL source seeds its last valid document from the kept one, and warns about one it cannot use", async () => {
  await withRoot(async (root) => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) });
    const store = new UrlDocumentStore(root);
    await store.write({ url: URL_B, text: WEB, fetchedAt: 1 });
    const other = new UrlSource({ url: URL_A, root, log });
    await other.load();
    assert.equal(other.entry().lastValid, undefined);
    assert.match(lines.at(-2)!, /WARN +Ignoring the kept document .*: it is the document of/);
    assert.match(
      lines.at(-1)!,
      /INFO +No valid document of https:\/\/config\.example\.com\/nodes\/web\.yaml is kept in .*: no pod is removed, from any source, until it serves one$/,
    );
    await store.write({ url: URL_A, text: "name: Bad_Name\n", fetchedAt: 1 });
    const invalid = new UrlSource({ url: URL_A, root, log });
    await invalid.load();
    assert.equal(invalid.entry().lastValid, undefined);
    assert.match(
      lines.at(-2)!,
      /WARN +Ignoring the kept document of https:\/\/config\.example\.com\/nodes\/web\.yaml in .*: it is no longer valid \(see tinylet check --manifest-url https:\/\/config\.example\.com\/nodes\/web\.yaml\)$/,
    );
    await store.write({ url: URL_A, text: WEB, fetchedAt: Date.UTC(2026, 0, 2, 3, 4, 5) });
    const seeded = new UrlSource({ url: URL_A, root, log });
    await seeded.load();
    const { manifest, lastValid } = seeded.entry();
    assert.equal(manifest.valid, false);
    assert.deepEqual(manifest.problems, []);
    assert.deepEqual(lastValid?.pods.map((p) => p.pod.metadata.name), ["web"]);
    assert.deepEqual(seeded.status(), {
      state: "unfetched",
      fetchedAt: Date.UTC(2026, 0, 2, 3, 4, 5),
      declares: "1 pod",
    });
    assert.equal(
      seeded.degraded(),
      `${URL_A} has not answered yet; running the pods of its last good document (fetched at 2026-01-02T03:04:05Z: 1 pod)`,
    );
  });
});
