/**
 * The operator commands with `--manifest-url`: `check` validates what the URL serves, `plan`
 * includes its pods (from its kept document when it cannot be fetched), and `pods -o wide` and
 * `describe` show the URL as a pod's source.
 */
import assert from "node:assert/strict";
import { type AgentConfig, parseCommandLine } from "../lib/cmd/cli.ts";
import { checkCommand } from "../lib/cmd/check.ts";
import { planCommand } from "../lib/cmd/plan.ts";
import { describeCommand, podsCommand } from "../lib/cmd/pods.ts";
import type { ManifestUrlConfig } from "../lib/cmd/url_flags.ts";
import { UrlDocumentStore } from "../lib/node/url_document.ts";
import { documentServer } from "../testing/document_server.ts";
import { urlFixture } from "../testing/url_fixture.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { FIXTURE_IMAGE } from "../testing/reconciler_fixture.ts";

const WEB = `name: web\ncontainers:\n  - name: app\n    image: ${FIXTURE_IMAGE}\n`;
const DB_WITH_COLOUR =
  `name: db\ncontainers:\n  - name: app\n    image: ${FIXTURE_IMAGE}\n    colour: blue\n`;

function urlConfig(url: string): ManifestUrlConfig {
  return { url, fetchUrl: url, headers: [], intervalMs: 20_000, ca: undefined, insecure: false };
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

async function check(paths: string[], url: string, dir: string) {
  const c = capture();
  const code = await checkCommand(paths, {
    strict: false,
    insecure: false,
    instance: "default",
    root: `${dir}/root`,
    podLogRoot: `${dir}/logs`,
    manifestUrl: urlConfig(url),
  }, c.io);
  return { code, out: c.out, err: c.err };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-url-cmd-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("tinylet check --manifest-url validates what the URL serves", async () => {
  await withDir(async (dir) => {
    await using server = documentServer({ kind: "document", text: `${WEB}---\n${DB_WITH_COLOUR}` });
    assert.deepEqual(await check([], server.url, dir), {
      code: 0,
      out: [
        `${server.url}:10:5: warning: Ignoring unknown field "colour" (field containers[0].colour)`,
      ],
      err: ["1 file, 2 pods: 0 errors, 1 warning"],
    });
    server.answer = { kind: "document", text: WEB.replace("name: web", "name: Bad_Name") };
    assert.deepEqual(await check([], server.url, dir), {
      code: 1,
      out: [
        `${server.url}:1:1: error: Rename the pod "Bad_Name": the name must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (field name)`,
      ],
      err: ["1 file, 0 pods: 1 error, 0 warnings"],
    });
    server.answer = { kind: "status", status: 404 };
    assert.deepEqual(await check([], server.url, dir), {
      code: 1,
      out: [
        `${server.url}:1:1: error: Check the server of ${server.url}: it answered HTTP 404 Not Found, not 200`,
      ],
      err: ["1 file, 0 pods: 1 error, 0 warnings"],
    });
    assert.equal(server.requests.every((r) => r.headers["if-none-match"] === undefined), true);
    await assert.rejects(Deno.stat(`${dir}/root`), Deno.errors.NotFound, "check keeps nothing");
  });
});

Deno.test("tinylet check FILE --manifest-url judges them together: the file wins a conflict, both are told", async () => {
  await withDir(async (dir) => {
    await using server = documentServer({ kind: "document", text: WEB });
    await Deno.writeTextFile(`${dir}/web.yaml`, WEB);
    const r = await check([`${dir}/web.yaml`], server.url, dir);
    assert.deepEqual(r, {
      code: 1,
      out: [
        `${server.url}:1:1: error: Rename or remove this pod: "default/web" is also declared in ${dir}/web.yaml:1, which wins (the lexically first file)`,
        `${dir}/web.yaml:1:1: warning: Pod "default/web" is also declared in ${server.url}:1; this file wins (the lexically first file)`,
      ],
      err: ["2 files, 2 pods: 1 error, 1 warning"],
    });
  });
});

Deno.test("tinylet check DIR --manifest-url judges the directory's files with the URL's document, as the agent does", async () => {
  await withDir(async (dir) => {
    await using server = documentServer({ kind: "document", text: WEB });
    await Deno.mkdir(`${dir}/m`);
    await Deno.writeTextFile(`${dir}/m/web.yaml`, WEB);
    const r = await check([`${dir}/m`], server.url, dir);
    assert.deepEqual(r, {
      code: 1,
      out: [
        `${server.url}:1:1: error: Rename or remove this pod: "default/web" is also declared in ${dir}/m/web.yaml:1, which wins (the lexically first file)`,
        `${dir}/m/web.yaml:1:1: warning: Pod "default/web" is also declared in ${server.url}:1; this file wins (the lexically first file)`,
      ],
      err: ["2 files, 2 pods: 1 error, 1 warning"],
    });
  });
});

function planConfig(dir: string, url: string): AgentConfig {
  const c = parseCommandLine(
    ["plan", "--manifests", `${dir}/manifests`, "--root", `${dir}/root`, "--manifest-url", url],
    { cwd: dir, hostname: "node1" },
  );
  assert.ok(c.command === "plan");
  return c.config;
}

Deno.test("tinylet plan includes the URL's pods, and its kept document when the URL cannot be fetched", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/manifests`);
    await using server = documentServer({ kind: "document", text: WEB, etag: '"v1"' });
    const url = server.url;
    const config = planConfig(dir, url);
    const cri = new FakeCri({ images: [FIXTURE_IMAGE] });
    let c = capture();
    assert.equal(await planCommand(config, cri, c.io), 0);
    assert.deepEqual(c.out, [`create   default/web: declared in ${url} (starts app)`]);
    await assert.rejects(Deno.stat(`${dir}/root`), Deno.errors.NotFound, "plan keeps nothing");
    await server.close();
    c = capture();
    assert.equal(await planCommand(config, cri, c.io), 0);
    assert.deepEqual(c.out, ["Nothing to do: 0 pods as declared"]);
    assert.equal(
      c.err[0],
      `Check that ${url} is reachable: tcp connect error: Connection refused; no document of it kept under ${dir}/root can be used, so the plan removes no pod`,
    );
    await new UrlDocumentStore(`${dir}/root`).write({
      url,
      text: WEB,
      etag: '"v1"',
      fetchedAt: Date.UTC(2026, 0, 2, 3, 4, 5),
    });
    c = capture();
    assert.equal(await planCommand(config, cri, c.io), 0);
    assert.deepEqual(c.out, [`create   default/web: declared in ${url} (starts app)`]);
    assert.equal(
      c.err[0],
      `Check that ${url} is reachable: tcp connect error: Connection refused; planning with its document kept under ${dir}/root (fetched at 2026-01-02T03:04:05Z: 1 pod)`,
    );
  });
});

Deno.test("tinylet plan says why a kept document cannot be used, and that it then removes no pod", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/manifests`);
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const url = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/pods.yaml`;
    listener.close();
    const store = new UrlDocumentStore(`${dir}/root`);
    await store.write({ url: "https://other.example/pods.yaml", text: WEB, fetchedAt: 1 });
    const cri = new FakeCri({ images: [FIXTURE_IMAGE] });
    const c = capture();
    assert.equal(await planCommand(planConfig(dir, url), cri, c.io), 0);
    assert.deepEqual(c.err, [
      `Ignoring the kept document of --manifest-url in ${store.file}: it is the document of https://other.example/pods.yaml, not of ${url} (the next fetch of ${url} replaces it)`,
      `Check that ${url} is reachable: tcp connect error: Connection refused; no document of it kept under ${dir}/root can be used, so the plan removes no pod`,
    ]);
  });
});

Deno.test("pods -o wide and describe show the URL as the pod's source", async () => {
  await using server = documentServer({ kind: "document", text: WEB });
  const { f, sync } = await urlFixture(server.url);
  await using _f = f;
  await sync();
  const c = parseCommandLine(["pods", "-o", "wide", "--root", f.root], {
    cwd: f.dir,
    hostname: "node1",
  });
  assert.ok(c.command === "pods");
  const wide = capture();
  assert.equal(await podsCommand(c.config, f.cri, c, wide.io), 0);
  assert.match(
    wide.out[0]!,
    /^NAMESPACE +NAME +READY +STATUS +RESTARTS +AGE +IP +SANDBOX +SOURCE$/,
  );
  assert.match(wide.out[1]!, new RegExp(`^default +web +.* ${RegExp.escape(server.url)}$`));
  const d = capture();
  assert.equal(
    await describeCommand(c.config, f.cri, { namespace: "default", name: "web" }, d.io),
    0,
  );
  assert.ok(d.out.includes(`Source:       ${server.url}`), d.out.join("\n"));
});
