import assert from "node:assert/strict";
import {
  type FetchFunction,
  fetchManifestUrl,
  ManifestUrlError,
} from "../lib/manifest/url_fetch.ts";
import { manifestUrlClient, systemBundlePaths } from "../lib/manifest/url_client.ts";
import { parseUrlHeaders } from "../lib/manifest/url_rules.ts";
import { UrlSource } from "../lib/node/url_source.ts";
import { documentServer, makeTestCertificates } from "../testing/document_server.ts";
import { HandClock } from "../testing/hand_clock.ts";
import { waitFor } from "../testing/wait.ts";

const POD = "name: web\ncontainers:\n  - name: app\n    image: busybox\n";
const MIB = 1024 * 1024;

/** The failure of `p`, which must reject with a ManifestUrlError. */
async function failure(p: Promise<unknown>): Promise<ManifestUrlError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ManifestUrlError, `a ManifestUrlError, not ${err}`);
    return err;
  }
  assert.fail("the fetch succeeded");
}

/** Deno's fetch, recording each URL it is asked for. */
function recording(): { fetch: FetchFunction; urls: string[] } {
  const urls: string[] = [];
  return {
    urls,
    fetch: (input, init) => {
      urls.push(input.href);
      return fetch(input, init);
    },
  };
}

Deno.test("sends the headers of --manifest-url-header, several values of one name in order", async () => {
  await using server = documentServer({ kind: "document", text: POD });
  const headers = parseUrlHeaders(["a:hello,b:again", "a:world, X-Token: s3cret"]);
  const got = await fetchManifestUrl(server.url, { headers });
  assert.equal(got.kind, "document");
  const seen = server.requests[0]!.headers;
  assert.equal(seen["a"], "hello, world");
  assert.equal(seen["b"], "again");
  assert.equal(seen["x-token"], "s3cret");
  assert.equal(seen["if-none-match"], undefined);
  assert.equal(seen["if-modified-since"], undefined);
});

Deno.test("a document with an ETag comes back 304 to If-None-Match, and a new one as 200", async () => {
  await using server = documentServer({ kind: "document", text: POD, etag: '"v1"' });
  const first = await fetchManifestUrl(server.url);
  assert.deepEqual(first, {
    kind: "document",
    text: POD,
    etag: '"v1"',
    lastModified: undefined,
    bytes: 55,
  });
  assert.deepEqual(await fetchManifestUrl(server.url, { etag: '"v1"' }), {
    kind: "unchanged",
    bytes: 0,
  });
  assert.equal(server.requests[1]!.headers["if-none-match"], '"v1"');
  server.answer = { kind: "document", text: `${POD}# v2\n`, etag: '"v2"' };
  const changed = await fetchManifestUrl(server.url, { etag: '"v1"' });
  assert.equal(changed.kind === "document" && changed.text, `${POD}# v2\n`);
  assert.equal(changed.kind === "document" && changed.etag, '"v2"');
});

Deno.test("a document with only Last-Modified comes back 304 to If-Modified-Since", async () => {
  const at = "Wed, 21 Oct 2015 07:28:00 GMT";
  await using server = documentServer({ kind: "document", text: POD, lastModified: at });
  const first = await fetchManifestUrl(server.url);
  assert.equal(first.kind === "document" && first.lastModified, at);
  assert.deepEqual(await fetchManifestUrl(server.url, { lastModified: at }), {
    kind: "unchanged",
    bytes: 0,
  });
  assert.equal(server.requests[1]!.headers["if-modified-since"], at);
  server.answer = {
    kind: "document",
    text: `${POD}# later\n`,
    lastModified: "Wed, 21 Oct 2015 07:29:00 GMT",
  };
  const later = await fetchManifestUrl(server.url, { lastModified: at });
  assert.equal(later.kind, "document");
});

Deno.test("a body of exactly 1 MiB is taken, one byte more is refused", async () => {
  await using server = documentServer({ kind: "bytes", body: new Uint8Array(MIB).fill(0x61) });
  const got = await fetchManifestUrl(server.url);
  assert.equal(got.kind === "document" && got.text.length, 1048576);
  server.answer = { kind: "bytes", body: new Uint8Array(MIB + 1).fill(0x61) };
  const e = await failure(fetchManifestUrl(server.url));
  assert.equal(
    e.message,
    `Shrink the document at ${server.url}: it has more than 1048576 bytes (1 MiB)`,
  );
});

Deno.test("a long body stops being read past the cap, and a Content-Length over it is not read", async () => {
  await using server = documentServer({ kind: "bytes", body: new Uint8Array(8 * MIB).fill(0x61) });
  const e = await failure(fetchManifestUrl(server.url));
  assert.match(e.message, /^Shrink the document at .*: it has more than 1048576 bytes \(1 MiB\)$/);
  assert.ok(e.bytes > 1048576 && e.bytes < 2 * MIB, `read ${e.bytes} bytes, not 8 MiB`);
  server.answer = { kind: "bytes", body: new Uint8Array(2 * MIB).fill(0x61), length: true };
  const announced = await failure(fetchManifestUrl(server.url));
  assert.equal(announced.bytes, 0);
  assert.match(announced.message, /^Shrink the document at /);
});

Deno.test("a server that never answers times out on the clock given, naming the URL and the timeout", async () => {
  await using server = documentServer({ kind: "hang" });
  const clock = new HandClock();
  const schedule = (fn: () => void, ms: number) => clock.schedule(fn, ms);
  let ended: { error: unknown } | undefined;
  fetchManifestUrl(server.url, { timeoutMs: 200, schedule }).then(
    () => ended = { error: undefined },
    (error) => ended = { error },
  );
  assert.equal(clock.nextIn(), 200, "the timeout is set on the clock given");
  await waitFor("the request at the server", () => server.requests.length === 1);
  await clock.advance(199);
  assert.equal(ended, undefined, "the fetch waits while the clock is short of its timeout");
  await clock.advance(1);
  const { error } = await waitFor("the fetch to end", () => ended);
  assert.ok(error instanceof ManifestUrlError, `a ManifestUrlError, not ${error}`);
  assert.equal(error.message, `Check that ${server.url} answers: it did not answer within 0.2 s`);
  // A fetch that ends in time leaves no timer on the clock.
  server.answer = { kind: "document", text: POD };
  await fetchManifestUrl(server.url, { schedule });
  assert.equal(clock.pending, 0);
});

Deno.test("an aborted fetch rejects with the signal's reason, not as a failure", async () => {
  await using server = documentServer({ kind: "hang" });
  const stop = new AbortController();
  const p = fetchManifestUrl(server.url, { signal: stop.signal });
  stop.abort(new Error("stopping"));
  await assert.rejects(p, { message: "stopping" });
});

const FAILURES: { name: string; answer: Parameters<typeof documentServer>[0]; message: string }[] =
  [
    {
      name: "an HTTP error",
      answer: { kind: "status", status: 500, body: "oops" },
      message: "Check the server of URL: it answered HTTP 500 Internal Server Error, not 200",
    },
    {
      name: "a 404",
      answer: { kind: "status", status: 404 },
      message: "Check the server of URL: it answered HTTP 404 Not Found, not 200",
    },
    {
      name: "an empty body",
      answer: { kind: "bytes", body: new Uint8Array(0) },
      message: "Fix the document at URL: it is empty (0 bytes), and an empty answer removes no pod",
    },
    {
      name: "a body of whitespace",
      answer: { kind: "bytes", body: new TextEncoder().encode(" \n\t\n") },
      message: "Fix the document at URL: it is empty (4 bytes), and an empty answer removes no pod",
    },
    {
      name: "a body that is not UTF-8",
      answer: { kind: "bytes", body: new Uint8Array([0x6e, 0x3a, 0xff, 0xfe]) },
      message: "Serve the document at URL as UTF-8 text: it is binary or in another encoding",
    },
    {
      name: "a 304 to a request that was not conditional",
      answer: { kind: "status", status: 304 },
      message:
        "Check the server of URL: it answered 304 Not Modified to a request that was not conditional",
    },
  ];

for (const c of FAILURES) {
  Deno.test(`${c.name} is a failure naming the URL and what to do`, async () => {
    await using server = documentServer(c.answer);
    const e = await failure(fetchManifestUrl(server.url));
    assert.equal(e.message, c.message.replace("URL", server.url));
    assert.equal(e.url, server.url);
  });
}

Deno.test("an unreachable server is a failure naming the URL and the connection's error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/pods.yaml`;
  listener.close();
  const e = await failure(fetchManifestUrl(url));
  assert.equal(e.message, `Check that ${url} is reachable: tcp connect error: Connection refused`);
});

Deno.test("plain http:// to a host that is not loopback is refused before any connection", async () => {
  const calls: string[] = [];
  const counting: FetchFunction = (input) => {
    calls.push(input.href);
    return Promise.resolve(new Response(POD));
  };
  const url = "http://198.18.0.1:8080/pods.yaml";
  const e = await failure(fetchManifestUrl(url, { fetch: counting }));
  assert.equal(
    e.message,
    "Use https:// for http://198.18.0.1:8080/pods.yaml: plain http:// is accepted for loopback addresses only, since whoever can change the document runs anything as root on this node; pass --insecure-manifest-url to accept it anyway",
  );
  assert.deepEqual(calls, []);
  // The same URL with --insecure-manifest-url goes out: the rule alone held it back.
  const got = await fetchManifestUrl(url, { fetch: counting, insecure: true });
  assert.equal(got.kind === "document" && got.text, POD);
  assert.deepEqual(calls, [url]);
});

Deno.test("a redirect to another origin is followed without the headers, one to plain http:// elsewhere is refused", async () => {
  await using target = documentServer({ kind: "document", text: POD });
  await using server = documentServer({ kind: "redirect", location: target.url });
  const { fetch, urls } = recording();
  const got = await fetchManifestUrl(server.url, {
    headers: [["Authorization", "Bearer t0ken"]],
    fetch,
  });
  assert.equal(got.kind === "document" && got.text, POD);
  assert.deepEqual(urls, [server.url, target.url]);
  assert.equal(server.requests[0]!.headers["authorization"], "Bearer t0ken");
  assert.equal(target.requests[0]!.headers["authorization"], undefined);
  server.answer = { kind: "redirect", location: "http://198.18.0.1:8080/pods.yaml" };
  const e = await failure(fetchManifestUrl(server.url, { fetch }));
  assert.match(e.message, /^Use https:\/\/ for http:\/\/198\.18\.0\.1:8080\/pods\.yaml: /);
  assert.match(e.message, new RegExp(`\\(redirected from ${RegExp.escape(server.url)}\\)$`));
  assert.deepEqual(urls, [server.url, target.url, server.url]);
});

Deno.test("HTTPS with a private CA fails without --manifest-url-ca and works with it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-url-tls-" });
  try {
    const certs = await makeTestCertificates(dir);
    await using server = documentServer({ kind: "document", text: POD }, { tls: certs });
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+\/pods\.yaml$/);
    {
      using plain = await manifestUrlClient(undefined, []);
      const e = await failure(fetchManifestUrl(server.url, { client: plain }));
      assert.equal(
        e.message,
        `Check the certificate of ${server.url}: invalid peer certificate: UnknownIssuer; for a private CA, pass --manifest-url-ca FILE`,
      );
    }
    {
      using trusting = await manifestUrlClient(certs.caFile, []);
      const got = await fetchManifestUrl(server.url, { client: trusting });
      assert.equal(got.kind === "document" && got.text, POD);
    }
    // The CA in the system's bundle (the first one that can be read) is trusted too.
    using system = await manifestUrlClient(undefined, [`${dir}/missing.pem`, certs.caFile]);
    const got = await fetchManifestUrl(server.url, { client: system });
    assert.equal(got.kind, "document");
    assert.equal(server.requests.length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--manifest-url-ca must name a readable file that holds a PEM certificate", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-url-ca-" });
  try {
    await Deno.writeTextFile(`${dir}/not-a-cert.pem`, "hello\n");
    await assert.rejects(manifestUrlClient(`${dir}/not-a-cert.pem`, []), {
      message:
        `--manifest-url-ca: ${dir}/not-a-cert.pem holds no PEM certificate; give a file with "-----BEGIN CERTIFICATE-----" blocks`,
    });
    await assert.rejects(manifestUrlClient(`${dir}/missing.pem`, []), {
      message:
        `--manifest-url-ca: cannot read ${dir}/missing.pem: No such file or directory; give the path of a PEM file holding the CA certificate`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the system's CA bundles are looked for where Go looks, $SSL_CERT_FILE first", () => {
  const env = new Map([["SSL_CERT_FILE", "/opt/ca.pem"]]);
  assert.deepEqual(systemBundlePaths(env), [
    "/opt/ca.pem",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
  ]);
  assert.equal(systemBundlePaths(new Map()).length, 6);
});

Deno.test("a Last-Modified of the answer's own second is no validator: the next fetch is unconditional and sees a change of that second", async () => {
  const at = "Wed, 21 Oct 2015 07:28:00 GMT";
  const later = "Wed, 21 Oct 2015 07:28:01 GMT";
  // As python -m http.server: Last-Modified only, here equal to the answer's Date.
  await using server = documentServer({ kind: "document", text: POD, lastModified: at, date: at });
  const first = await fetchManifestUrl(server.url);
  assert.equal(first.kind === "document" && first.lastModified, undefined);
  // The same Last-Modified a second later is a validator.
  server.answer = { kind: "document", text: POD, lastModified: at, date: later };
  const settled = await fetchManifestUrl(server.url);
  assert.equal(settled.kind === "document" && settled.lastModified, at);
  // No Date, nothing to judge it by: no validator either.
  server.answer = { kind: "bytes", body: new TextEncoder().encode(POD) };
  const undated = await fetchManifestUrl(server.url);
  assert.equal(undated.kind === "document" && undated.lastModified, undefined);

  // The URL's source: a change within the second of the first answer is not lost to a 304.
  server.answer = { kind: "document", text: POD, lastModified: at, date: at };
  const source = new UrlSource({ url: server.url });
  await source.fetchNow();
  const names = () => source.entry().manifest.pods.map((p) => p.pod.metadata.name);
  assert.deepEqual(names(), ["web"]);
  server.answer = {
    kind: "document",
    text: POD.replace("name: web", "name: api"),
    lastModified: at,
    date: at,
  };
  await source.fetchNow();
  assert.equal(server.requests.at(-1)!.headers["if-modified-since"], undefined);
  assert.deepEqual(names(), ["api"]);
  // Once the answer's Date is a second past it, Last-Modified is sent, and a 304 keeps the pods.
  server.answer = { ...server.answer, date: later };
  await source.fetchNow();
  assert.equal(server.requests.at(-1)!.headers["if-modified-since"], undefined);
  await source.fetchNow();
  assert.equal(server.requests.at(-1)!.headers["if-modified-since"], at);
  assert.deepEqual(names(), ["api"]);
  assert.equal(source.status().state, "ok");
});

Deno.test("a redirect from https:// to plain http:// is refused, even to loopback", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-url-downgrade-" });
  try {
    const certs = await makeTestCertificates(dir);
    await using plain = documentServer({ kind: "document", text: POD });
    await using secure = documentServer({ kind: "redirect", location: plain.url }, { tls: certs });
    using client = await manifestUrlClient(certs.caFile, []);
    const e = await failure(fetchManifestUrl(secure.url, { client }));
    assert.equal(
      e.message,
      `Check the server of ${secure.url}: it redirected from https:// to plain http:// (${plain.url}); a redirect may not leave https://, since whoever sees plain http:// can change the document`,
    );
    assert.equal(secure.requests.length, 1);
    assert.equal(plain.requests.length, 0, "nothing was asked of the http:// server");
    // From https:// to https:// is followed.
    await using other = documentServer({ kind: "document", text: POD }, { tls: certs });
    secure.answer = { kind: "redirect", location: other.url };
    const got = await fetchManifestUrl(secure.url, { client });
    assert.equal(got.kind === "document" && got.text, POD);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
