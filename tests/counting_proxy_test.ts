/**
 * The byte-counting relay of the `--manifest-url` wire tests (`testing/counting_proxy.ts`): it
 * relays, counts each request and its answer on a kept connection as one exchange with its heads,
 * refuses connections while stopped and relays again on the same port.
 */
import assert from "node:assert/strict";
import { countingProxy } from "../testing/counting_proxy.ts";
import { documentServer } from "../testing/document_server.ts";
import { pauseFor } from "../testing/wait.ts";

Deno.test("the relay counts each request and answer on a kept connection, with their heads", async () => {
  await using server = documentServer({ kind: "document", text: "name: a\n", etag: '"v1"' });
  await using proxy = countingProxy(server.port);
  using client = Deno.createHttpClient({});
  const url = `http://127.0.0.1:${proxy.port}/pods.yaml`;
  const first = await fetch(url, { client });
  assert.equal(await first.text(), "name: a\n");
  const again = await fetch(url, { client, headers: { "if-none-match": '"v1"' } });
  assert.equal(again.status, 304);
  await again.body?.cancel();
  assert.equal(proxy.connections, 1);
  assert.equal(proxy.exchanges.length, 2);
  const [a, b] = proxy.exchanges as [typeof proxy.exchanges[0], typeof proxy.exchanges[0]];
  assert.match(a.requestHead, /^GET \/pods\.yaml HTTP\/1\.1\r\n[\s\S]*\r\n\r\n$/);
  assert.equal(a.sent, a.requestHead.length);
  assert.match(a.responseHead, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\ncontent-length: 8\r\n/);
  assert.equal(a.received, a.responseHead.length + 8);
  assert.match(b.requestHead, /\r\nif-none-match: "v1"\r\n/);
  assert.match(b.responseHead, /^HTTP\/1\.1 304 Not Modified\r\n/);
  assert.equal(b.received, b.responseHead.length);
  assert.deepEqual([a.connection, b.connection], [1, 1]);
  assert.ok(b.at > a.at);
});

Deno.test("a stopped relay refuses connections; started again, it relays on the same port", async () => {
  await using server = documentServer({ kind: "document", text: "name: a\n" });
  await using proxy = countingProxy(server.port);
  const port = proxy.port;
  await proxy.stop();
  assert.equal(proxy.listening, false);
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
  proxy.start();
  assert.equal(proxy.port, port);
  using client = Deno.createHttpClient({});
  const res = await fetch(`http://127.0.0.1:${port}/pods.yaml`, { client });
  assert.equal(await res.text(), "name: a\n");
  assert.equal(proxy.connections, 1);
});

Deno.test("a client write after the connection was idle starts an exchange, though the server said nothing since", async () => {
  // An upstream that answers "pong" to each "ping" and nothing to anything else.
  const upstream = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await upstream.accept();
    const buf = new Uint8Array(64);
    for (let n; (n = await conn.read(buf)) !== null;) {
      if (new TextDecoder().decode(buf.subarray(0, n)).startsWith("ping")) {
        await conn.write(new TextEncoder().encode("pong"));
      }
    }
    conn.close();
  })();
  await using proxy = countingProxy((upstream.addr as Deno.NetAddr).port, { idleMs: 100 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
  const pong = async () => {
    const buf = new Uint8Array(4);
    let got = 0;
    while (got < 4) got += (await conn.read(buf.subarray(got))) ?? 4;
    assert.equal(new TextDecoder().decode(buf), "pong");
  };
  await conn.write(new TextEncoder().encode("ping1"));
  await pong();
  // An acknowledgement right after the answer, then the next request after a quiet while.
  await conn.write(new TextEncoder().encode("ack"));
  await pauseFor(300);
  await conn.write(new TextEncoder().encode("ping2"));
  await pong();
  conn.close();
  await served;
  upstream.close();
  assert.deepEqual(
    proxy.exchanges.map((e) => [e.requestHead, e.sent, e.received]),
    [["ping1", 5, 4], ["ack", 3, 0], ["ping2", 5, 4]],
  );
});
