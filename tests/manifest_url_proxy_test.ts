/**
 * The HTTP client of `--manifest-url` and the proxies of the environment: a loopback URL is
 * fetched directly (a plain http:// request with its headers never leaves the host through a
 * proxy), any other host still through the proxy, and `NO_PROXY` is put back as it was.
 */
import assert from "node:assert/strict";
import { manifestUrlClient } from "../lib/manifest/url_client.ts";
import { fetchManifestUrl, ManifestUrlError } from "../lib/manifest/url_fetch.ts";
import { documentServer } from "../testing/document_server.ts";

const POD = "name: web\ncontainers:\n  - name: app\n    image: busybox\n";
const PROXY_VARS = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"];

/** Runs `fn` with every proxy variable set to `proxy` and `NO_PROXY` to `noProxy`, then puts them back. */
async function withProxyEnv(
  proxy: string,
  noProxy: string | undefined,
  fn: () => Promise<void>,
): Promise<void> {
  const names = [...PROXY_VARS, "NO_PROXY", "no_proxy"];
  const before = new Map(names.map((n) => [n, Deno.env.get(n)]));
  try {
    for (const n of PROXY_VARS) Deno.env.set(n, proxy);
    Deno.env.delete("no_proxy");
    if (noProxy === undefined) Deno.env.delete("NO_PROXY");
    else Deno.env.set("NO_PROXY", noProxy);
    await fn();
  } finally {
    for (const [n, v] of before) v === undefined ? Deno.env.delete(n) : Deno.env.set(n, v);
  }
}

Deno.test("a loopback URL is fetched directly, never through the environment's proxy", async () => {
  // The proxy: whatever reaches it is recorded, and answered 502.
  await using proxy = documentServer({ kind: "status", status: 502 });
  await using server = documentServer({ kind: "document", text: POD });
  const origin = `http://127.0.0.1:${proxy.port}`;
  await withProxyEnv(origin, undefined, async () => {
    // Deno's own client reads the environment: the request goes to the proxy.
    {
      using plain = Deno.createHttpClient({});
      const res = await fetch(server.url, { client: plain, headers: { "x-token": "s3cret" } });
      await res.body?.cancel();
      assert.equal(res.status, 502);
      assert.equal(proxy.requests.length, 1);
      assert.equal(proxy.requests[0]!.headers["x-token"], "s3cret");
    }
    using client = await manifestUrlClient(undefined, []);
    const got = await fetchManifestUrl(server.url, {
      client,
      headers: [["X-Token", "s3cret"]],
    });
    assert.equal(got.kind === "document" && got.text, POD);
    assert.equal(server.requests.length, 1);
    assert.equal(proxy.requests.length, 1, "the proxy got nothing more");
    assert.equal(Deno.env.get("NO_PROXY"), undefined, "NO_PROXY is put back");
    // Any other host still goes through the proxy.
    const e = await fetchManifestUrl("http://tinylet.invalid/pods.yaml", { client, insecure: true })
      .catch((err) => err);
    assert.ok(e instanceof ManifestUrlError);
    assert.equal(
      e.message,
      "Check the server of http://tinylet.invalid/pods.yaml: it answered HTTP 502 Bad Gateway, not 200",
    );
    assert.equal(proxy.requests.length, 2);
  });
});

Deno.test("the hosts of the environment's NO_PROXY stay unproxied beside loopback, and it is put back", async () => {
  await using proxy = documentServer({ kind: "status", status: 502 });
  const origin = `http://127.0.0.1:${proxy.port}`;
  await withProxyEnv(origin, "tinylet.invalid", async () => {
    using client = await manifestUrlClient(undefined, []);
    assert.equal(Deno.env.get("NO_PROXY"), "tinylet.invalid");
    // Not sent to the proxy: the name is looked up, and does not exist.
    const e = await fetchManifestUrl("http://tinylet.invalid/pods.yaml", { client, insecure: true })
      .catch((err) => err);
    assert.ok(e instanceof ManifestUrlError);
    assert.match(e.message, /^Check that http:\/\/tinylet\.invalid\/pods\.yaml is reachable: /);
    assert.equal(proxy.requests.length, 0);
  });
});
