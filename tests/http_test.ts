/**
 * The agent's HTTP endpoint on real TCP connections on 127.0.0.1: timeouts, the connection cap,
 * HTTP/1.1 framing, the stop, and `/healthz` of a running agent (`main.ts` in a child process, on
 * the fake runtime served over gRPC).
 */
import assert from "node:assert/strict";
import { type HttpHandlers, serveHttp } from "../lib/agent/routes.ts";
import { concatBytes } from "../lib/base/bytes.ts";
import {
  DEFAULT_HTTP_LIMITS,
  type HttpLimits,
  MAX_LINGERING_REFUSALS,
} from "../lib/agent/http_server.ts";
import { startAgent } from "../testing/agent_process.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { serveCri } from "../testing/fake_cri_server.ts";
import { waitFor } from "../testing/wait.ts";
import { HandDrivenTime } from "../testing/hand_time.ts";
import { STOP_DEADLINE_MS } from "../main.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The real timer and clock, which hand-driven time leaves alone: deadlines of the test's waits. */
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const realNow = performance.now.bind(performance);

/** Calls `probe` every 5 ms of real time until it returns a value; throws after `timeoutMs`. */
async function poll<T>(
  what: () => string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = realNow() + timeoutMs;
  while (true) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (realNow() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what()}`);
    }
    await new Promise((r) => realSetTimeout(r, 5));
  }
}

const HANDLERS: HttpHandlers = {
  health: () => ({ ok: true, reason: "" }),
  metrics: () => "tinylet_passes_total 1\n",
  pods: () => [{ name: "web" }],
};

const FAST: HttpLimits = {
  headerTimeoutMs: 400,
  idleTimeoutMs: 300,
  writeTimeoutMs: 1_000,
  maxConnections: 3,
  maxHeaderBytes: 1024,
};

interface Served extends AsyncDisposable {
  port: number;
  server: Deno.HttpServer<Deno.NetAddr>;
  stop: AbortController;
}

function serve(limits: HttpLimits = FAST, handlers = HANDLERS): Served {
  const stop = new AbortController();
  const server = serveHttp(
    { hostname: "127.0.0.1", port: 0 },
    handlers,
    stop.signal,
    undefined,
    limits,
  );
  return {
    port: server.addr.port,
    server,
    stop,
    async [Symbol.asyncDispose]() {
      stop.abort();
      await server.finished;
    },
  };
}

/** Waits for `p` at most `timeoutMs` of real time; throws after. */
async function settles<T>(what: string, p: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: ReturnType<typeof realSetTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = realSetTimeout(
      () => reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    realClearTimeout(timer);
  }
}

/**
 * A client connection that reads what the server sends and knows when the server closed it.
 * Its times are `performance.now()`, hand-driven where the test drives time by hand.
 */
class Client {
  #got = new Uint8Array(0);
  /** performance.now() when the server closed the connection (EOF or reset). */
  closedAt: number | undefined;
  readonly #reading: Promise<void>;

  /** `openedAt`: performance.now() before connecting, so no earlier than the server's accept. */
  constructor(readonly conn: Deno.TcpConn, readonly openedAt: number) {
    this.#reading = (async () => {
      const buf = new Uint8Array(4096);
      try {
        while (true) {
          const n = await conn.read(buf);
          if (n === null) break;
          const next = new Uint8Array(this.#got.length + n);
          next.set(this.#got);
          next.set(buf.subarray(0, n), this.#got.length);
          this.#got = next;
        }
      } catch {
        // Reset by the server, or closed by the test.
      }
      this.closedAt = performance.now();
    })();
  }

  static async open(port: number): Promise<Client> {
    const before = performance.now();
    return new Client(await Deno.connect({ hostname: "127.0.0.1", port }), before);
  }

  get text(): string {
    return dec.decode(this.#got);
  }

  async send(text: string): Promise<void> {
    await this.conn.write(enc.encode(text));
  }

  /** Waits until `n` whole responses have arrived; returns them as [head, body]. */
  async responses(n: number, timeoutMs = 5_000): Promise<[string, string][]> {
    return await poll(() => `${n} responses; got ${JSON.stringify(this.text)}`, () => {
      const out: [string, string][] = [];
      let rest = this.text;
      while (out.length < n) {
        const end = rest.indexOf("\r\n\r\n");
        if (end < 0) return false;
        const head = rest.slice(0, end);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? "0");
        if (rest.length < end + 4 + length) return false;
        out.push([head, rest.slice(end + 4, end + 4 + length)]);
        rest = rest.slice(end + 4 + length);
      }
      return out;
    }, timeoutMs);
  }

  /**
   * Waits (`timeoutMs` of real time at most) until the server closed the connection; returns
   * after how long, on the clock of `performance.now()`.
   */
  async closed(timeoutMs: number, from = this.openedAt): Promise<number> {
    await poll(
      () => "the server to close the connection",
      () => this.closedAt !== undefined,
      timeoutMs,
    );
    return this.closedAt! - from;
  }

  async close(): Promise<void> {
    try {
      this.conn.close();
    } catch {
      // Closed already.
    }
    await this.#reading;
  }
}

/**
 * One request answered (or refused) on a new connection, after which the server has accepted
 * every connection opened before it (it accepts in order) and armed their timers; and any
 * connection it closed before has seen its end (the answer came through the same event loop).
 */
async function roundTrip(port: number): Promise<void> {
  const w = await Client.open(port);
  try {
    await w.send("GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
    await w.responses(1);
  } finally {
    await w.close();
  }
}

Deno.test("connections that sent partial headers are closed at the header timeout", async () => {
  using time = new HandDrivenTime();
  await using s = serve();
  const clients = await Promise.all(Array.from({ length: 5 }, () => Client.open(s.port)));
  try {
    for (const c of clients.slice(0, 3)) await c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    await roundTrip(s.port);
    // The cap is 3: the two others are answered 503 and ended at once.
    await poll(
      () => "two connections refused",
      () => clients.filter((c) => c.closedAt !== undefined).length === 2,
    );
    await time.advance(FAST.headerTimeoutMs - 1);
    await roundTrip(s.port);
    assert.equal(clients.filter((c) => c.closedAt === undefined).length, 3);
    await time.advance(1);
    for (const c of clients) {
      const took = await c.closed(5_000);
      if (c.text === "") {
        assert.equal(took, FAST.headerTimeoutMs);
      } else {
        assert.match(c.text, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
        assert.match(c.text, /\r\n\r\nToo many connections\n$/);
      }
    }
    assert.equal(clients.filter((c) => c.text === "").length, 3);
  } finally {
    for (const c of clients) await c.close();
  }
});

Deno.test("a connection that sends nothing is closed at the header timeout", async () => {
  using time = new HandDrivenTime();
  await using s = serve();
  const c = await Client.open(s.port);
  try {
    await roundTrip(s.port);
    await time.advance(FAST.headerTimeoutMs - 1);
    await roundTrip(s.port);
    assert.equal(c.closedAt, undefined);
    await time.advance(1);
    assert.equal(await c.closed(5_000), FAST.headerTimeoutMs);
    assert.equal(c.text, "");
  } finally {
    await c.close();
  }
});

Deno.test("headers trickled a byte at a time are still due at the header timeout", async () => {
  using time = new HandDrivenTime();
  await using s = serve();
  const c = await Client.open(s.port);
  try {
    await roundTrip(s.port);
    const request = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + "a".repeat(500);
    for (const ch of request) {
      if (c.closedAt !== undefined) break;
      await c.send(ch).catch(() => {});
      // The pace of the trickle; each byte is seen before the clock moves on.
      await roundTrip(s.port);
      await time.advance(20);
    }
    await roundTrip(s.port);
    // Every byte came before the timeout fired, and the end right after it.
    assert.equal(await c.closed(5_000), FAST.headerTimeoutMs);
    assert.equal(c.text, "");
  } finally {
    await c.close();
  }
});

Deno.test("a kept-alive connection is served again, then closed at the idle timeout", async () => {
  using time = new HandDrivenTime();
  await using s = serve();
  const c = await Client.open(s.port);
  try {
    await c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    await c.responses(1);
    await c.send("GET /pods HTTP/1.1\r\nHost: x\r\n\r\n");
    const [first, second] = await c.responses(2);
    const answeredAt = performance.now();
    assert.match(first![0], /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(first![0], /\r\nconnection: keep-alive/);
    assert.equal(first![1], "ok\n");
    assert.deepEqual(JSON.parse(second![1]), [{ name: "web" }]);
    await time.advance(FAST.idleTimeoutMs - 1);
    await roundTrip(s.port);
    assert.equal(c.closedAt, undefined);
    await time.advance(1);
    assert.equal(await c.closed(5_000, answeredAt), FAST.idleTimeoutMs);
  } finally {
    await c.close();
  }
});

Deno.test("the cap refuses one connection more with 503, and serves again once one closes", async () => {
  await using s = serve();
  const held = await Promise.all([1, 2, 3].map(() => Client.open(s.port)));
  try {
    for (const c of held) await c.send("GET /healthz HTTP/1.1\r\n");
    const extra = await Client.open(s.port);
    await extra.closed(2_000);
    assert.match(extra.text, /^HTTP\/1\.1 503 Service Unavailable\r\n[^]*connection: close\r\n/);
    await extra.close();
    // One of the three finishes its request: room for one more.
    await held[0]!.send("\r\n");
    await held[0]!.responses(1);
    await held[0]!.close();
    const next = await waitFor("a connection under the cap", async () => {
      const c = await Client.open(s.port);
      await c.send("GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
      await c.closed(2_000);
      if (c.text.startsWith("HTTP/1.1 200")) return c;
      await c.close();
      return false;
    });
    assert.match(next.text, /\r\n\r\nok\n$/);
    await next.close();
  } finally {
    for (const c of held) await c.close();
  }
});

const FRAMING: { name: string; send: string; status: number; body?: string; closes: boolean }[] = [
  {
    name: "HEAD gets the headers of GET and no body",
    send: "HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    status: 200,
    body: "",
    closes: true,
  },
  {
    name: "HTTP/1.0 is answered and closed",
    send: "GET /healthz HTTP/1.0\r\n\r\n",
    status: 200,
    body: "ok\n",
    closes: true,
  },
  {
    name: "a bare LF ends lines too",
    send: "GET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n",
    status: 200,
    body: "ok\n",
    closes: true,
  },
  {
    name: "an absolute-form target is served by its path",
    send: "GET http://127.0.0.1:10248/healthz HTTP/1.1\r\nConnection: close\r\n\r\n",
    status: 200,
    body: "ok\n",
    closes: true,
  },
  {
    name: "an empty line before the request line is ignored",
    send: "\r\nGET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n",
    status: 200,
    body: "ok\n",
    closes: true,
  },
  {
    name: "a request with a body is answered and closed",
    send: "GET /healthz HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
    status: 200,
    body: "ok\n",
    closes: true,
  },
  {
    name: "a bad Content-Length is 400",
    send: "GET /healthz HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    status: 400,
    closes: true,
  },
  {
    name: "POST is refused with 405 and closed (its body is not read)",
    send: "POST /healthz HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
    status: 405,
    closes: true,
  },
  {
    name: "an unknown path is 404",
    send: "GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n",
    status: 404,
    closes: true,
  },
  {
    name: "a garbage request line is 400",
    send: "hello\r\n\r\n",
    status: 400,
    closes: true,
  },
  {
    name: "a target that is not a path is 400",
    send: "GET healthz HTTP/1.1\r\n\r\n",
    status: 400,
    closes: true,
  },
  {
    name: "a folded header line is 400",
    send: "GET /healthz HTTP/1.1\r\nHost: x\r\n  folded\r\n\r\n",
    status: 400,
    closes: true,
  },
  {
    name: "HTTP/2's preface is 505",
    send: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    status: 505,
    closes: true,
  },
  {
    name: "headers past the limit are 431",
    send: `GET /healthz HTTP/1.1\r\nX-Big: ${"a".repeat(2_000)}\r\n\r\n`,
    status: 431,
    closes: true,
  },
];

for (const c of FRAMING) {
  Deno.test(`HTTP framing: ${c.name}`, async () => {
    using _time = new HandDrivenTime();
    await using s = serve();
    const client = await Client.open(s.port);
    try {
      await client.send(c.send);
      // The clock stands still: no timeout can fire, so an end comes from the answer.
      const took = c.closes ? await client.closed(5_000) : 0;
      assert.equal(took, 0, "closed by a timeout, not by the answer");
      const m = /^HTTP\/1\.1 (\d{3}) [^\r\n]+\r\n([^]*?)\r\n\r\n([^]*)$/.exec(client.text);
      assert.ok(m, `got ${JSON.stringify(client.text)}`);
      assert.equal(Number(m[1]), c.status);
      if (c.body !== undefined) assert.equal(m[3], c.body);
      if (c.closes) assert.match(m[2]!, /^connection: close$/m);
      if (c.send.startsWith("HEAD")) assert.match(m[2]!, /^content-length: 3$/m);
    } finally {
      await client.close();
    }
  });
}

Deno.test("pipelined requests are answered in order on one connection", async () => {
  using _time = new HandDrivenTime();
  await using s = serve();
  const c = await Client.open(s.port);
  try {
    await c.send(
      "GET /healthz HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\n\r\nGET /pods HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    // The clock stands still: the end comes from the last request's Connection: close.
    assert.equal(await c.closed(5_000), 0);
    const [a, b, p] = await c.responses(3);
    assert.equal(a![1], "ok\n");
    assert.equal(b![1], "tinylet_passes_total 1\n");
    assert.deepEqual(JSON.parse(p![1]), [{ name: "web" }]);
  } finally {
    await c.close();
  }
});

Deno.test("fetch reads /healthz, /metrics and /pods, and an unhealthy reason is the 503 body", async () => {
  let healthy = true;
  await using s = serve(FAST, {
    ...HANDLERS,
    health: () =>
      healthy ? { ok: true, reason: "" } : { ok: false, reason: "Refusing the manifest directory" },
  });
  const base = `http://127.0.0.1:${s.port}`;
  const ok = await fetch(`${base}/healthz`);
  assert.equal(ok.status, 200);
  assert.equal(await ok.text(), "ok\n");
  healthy = false;
  const sick = await fetch(`${base}/healthz`);
  assert.equal(sick.status, 503);
  assert.equal(await sick.text(), "Refusing the manifest directory\n");
  assert.equal(await (await fetch(`${base}/metrics`)).text(), "tinylet_passes_total 1\n");
  assert.deepEqual(await (await fetch(`${base}/pods`)).json(), [{ name: "web" }]);
});

Deno.test("/pods and the /healthz reason reach a terminal with no raw control character, and /pods parses back", async () => {
  const source = "/etc/tinylet/manifests/web\x1b]0;owned\x07\u009b2J.yaml";
  await using s = serve(FAST, {
    ...HANDLERS,
    health: () => ({ ok: false, reason: "Refusing the file \x1b[31mweb\u009b.yaml" }),
    pods: () => [{ name: "web", source }],
  });
  const base = `http://127.0.0.1:${s.port}`;
  const sick = await fetch(`${base}/healthz`);
  assert.equal(sick.status, 503);
  assert.equal(await sick.text(), "Refusing the file \\x1b[31mweb\\u009b.yaml\n");
  const body = await (await fetch(`${base}/pods`)).text();
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(body, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  assert.ok(body.includes(String.raw`web\u001b]0;owned\u0007\u009b2J.yaml`), body);
  assert.deepEqual(JSON.parse(body), [{ name: "web", source }]);
});

Deno.test("aborting the signal closes the listener and every connection at once", async () => {
  using _time = new HandDrivenTime();
  const s = serve({ ...FAST, headerTimeoutMs: 60_000, idleTimeoutMs: 60_000 });
  const partial = await Client.open(s.port);
  await partial.send("GET /healthz HTTP/1.1\r\n");
  const idle = await Client.open(s.port);
  await idle.send("GET /healthz HTTP/1.1\r\n\r\n");
  await idle.responses(1);
  const t0 = performance.now();
  s.stop.abort();
  // The clock stands still: the server finishes and ends both without waiting for a timer.
  await settles("the server to finish", s.server.finished, 5_000);
  assert.equal(await partial.closed(5_000, t0), 0);
  assert.equal(await idle.closed(5_000, t0), 0);
  await assert.rejects(() => Deno.connect({ hostname: "127.0.0.1", port: s.port }));
  await partial.close();
  await idle.close();
});

Deno.test("the agent's defaults: headers within 5 s, 5 s idle, 16 connections", () => {
  assert.deepEqual(DEFAULT_HTTP_LIMITS, {
    headerTimeoutMs: 5_000,
    idleTimeoutMs: 5_000,
    writeTimeoutMs: 10_000,
    maxConnections: 16,
    maxHeaderBytes: 8 * 1024,
  });
});

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

Deno.test({
  name:
    "the running agent closes partial-header connections within its 5 s header timeout, and /healthz reports a refused manifest directory",
  sanitizeResources: true,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tinylet-http-" });
    const fake = new FakeCri();
    await using server = await serveCri(fake, `${dir}/cri.sock`);
    const manifests = `${dir}/manifests`;
    await Deno.mkdir(manifests);
    await Deno.chmod(manifests, 0o755);
    const port = freePort();
    await using agent = startAgent([
      "--socket",
      server.socketPath,
      "--manifests",
      manifests,
      "--root",
      `${dir}/root`,
      "--pod-log-root",
      `${dir}/logs`,
      "--listen",
      `127.0.0.1:${port}`,
    ]);
    try {
      await agent.waitForLine(/Serving \/healthz/);
      const base = `http://127.0.0.1:${port}`;
      await waitFor("a healthy agent", async () => {
        const r = await fetch(`${base}/healthz`);
        return (await r.text()) === "ok\n" && r.status === 200;
      });
      // Five connections that send part of their headers, as the review did.
      const clients = await Promise.all([1, 2, 3, 4, 5].map(() => Client.open(port)));
      for (const c of clients) await c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n");
      for (const c of clients) {
        const took = await c.closed(DEFAULT_HTTP_LIMITS.headerTimeoutMs + 3_000);
        assert.ok(took >= DEFAULT_HTTP_LIMITS.headerTimeoutMs - 100, `closed after ${took} ms`);
        assert.equal(c.text, "");
        await c.close();
      }
      // A manifest directory others can write to is refused: the agent is not healthy.
      await Deno.chmod(manifests, 0o777);
      const sick = await waitFor("/healthz to report the refused directory", async () => {
        const r = await fetch(`${base}/healthz`);
        const text = await r.text();
        return r.status === 503 && text;
      });
      assert.match(sick, /^Refusing the manifest directory .*manifests: it is writable by/);
      await Deno.chmod(manifests, 0o755);
      await waitFor("/healthz healthy again", async () => {
        const r = await fetch(`${base}/healthz`);
        return (await r.text()) === "ok\n" && r.status === 200;
      });
      // A manifest directory that is gone cannot be read either.
      await Deno.remove(manifests);
      const gone = await waitFor("/healthz to report the missing directory", async () => {
        const r = await fetch(`${base}/healthz`);
        const text = await r.text();
        return r.status === 503 && text;
      });
      assert.equal(gone, `Cannot read the manifest directory ${manifests}: it does not exist\n`);
      assert.equal(await agent.stop("SIGTERM"), 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the running agent stops at once on SIGTERM with partial and kept-alive connections open", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-http-stop-" });
  const fake = new FakeCri();
  await using server = await serveCri(fake, `${dir}/cri.sock`);
  await Deno.mkdir(`${dir}/manifests`);
  const port = freePort();
  await using agent = startAgent([
    "--socket",
    server.socketPath,
    "--manifests",
    `${dir}/manifests`,
    "--root",
    `${dir}/root`,
    "--pod-log-root",
    `${dir}/logs`,
    "--listen",
    `127.0.0.1:${port}`,
  ]);
  const clients: Client[] = [];
  try {
    await agent.waitForLine(/Serving \/healthz/);
    for (let i = 0; i < 3; i++) {
      const c = await Client.open(port);
      await c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n");
      clients.push(c);
    }
    const kept = await Client.open(port);
    clients.push(kept);
    await kept.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    await kept.responses(1);
    const t0 = performance.now();
    assert.equal(await agent.stop("SIGTERM"), 0);
    // The agent says when its server and loop outlast its stop deadline (STOP_DEADLINE_MS,
    // 2.5 s), shorter than the 5 s header timeout: its silence says the connections were closed
    // by the stop, not by their timeouts.
    assert.ok(STOP_DEADLINE_MS < DEFAULT_HTTP_LIMITS.headerTimeoutMs);
    assert.ok(!agent.lines.some((l) => /Stopping took longer/.test(l)), agent.lines.join("\n"));
    assert.ok(agent.lines.some((l) => /tinylet stopped/.test(l)), agent.lines.join("\n"));
    for (const c of clients) await c.closed(1_000, t0);
  } finally {
    for (const c of clients) await c.close();
    await Deno.remove(dir, { recursive: true });
  }
});

// ---- the end after a final answer: in order, never a reset ----
//
// The server closing a socket with input it has not read makes the kernel send a reset instead
// of an orderly end; a reset can cost the peer an answer it has not read yet (on Linux, data
// already received stays readable, so the tests here look at the reset itself): a client that
// has read the answer and the end, then writes one byte, gets a broken pipe after a reset, and
// nothing wrong after an orderly end.

/** What a client got: the bytes before the server's end, and whether the server reset it. */
interface Exchange {
  text: string;
  /** An error on read, or on a write after the end (the connection was reset). */
  reset: unknown;
}

/**
 * Connects, writes `bytes` at once (as curl sends its request), reads until the server ends
 * the connection, then writes one byte more to learn whether the end was a reset. A write the
 * server cut short before the end is not counted: what it answered is what counts.
 */
async function exchange(port: number, bytes: Uint8Array): Promise<Exchange> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const chunks: Uint8Array[] = [];
  let reset: unknown;
  const reading = (async () => {
    const buf = new Uint8Array(4096);
    try {
      while (true) {
        const n = await conn.read(buf);
        if (n === null) return;
        chunks.push(buf.slice(0, n));
      }
    } catch (err) {
      reset = err;
    }
  })();
  try {
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
  } catch {
    // Cut short: see above.
  }
  await reading;
  if (reset === undefined) {
    try {
      await conn.write(enc.encode("x"));
    } catch (err) {
      reset = err;
    }
  }
  conn.close();
  return { text: dec.decode(concatBytes(chunks)), reset };
}

/** A request with a body of `size` bytes, which the server does not read. */
function withBody(requestLine: string, size: number): Uint8Array {
  return enc.encode(
    `${requestLine}\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n${"b".repeat(size)}`,
  );
}

/** Asserts that every exchange got the whole answer, `status` with `body`, and no reset. */
function assertAnswered(got: Exchange[], status: number, body: string) {
  const lost = got.filter((g) =>
    g.reset !== undefined || !g.text.startsWith(`HTTP/1.1 ${status} `) ||
    !g.text.endsWith(`\r\n\r\n${body}`)
  );
  const first = lost[0];
  assert.equal(
    lost.length,
    0,
    `${lost.length} of ${got.length} were reset or lost the ${status} answer; the first: ${
      JSON.stringify(first?.text)
    } ${first?.reset}`,
  );
}

/** Whether the server still holds the connection open for reading: a write is not reset. */
async function stillOpen(conn: Deno.TcpConn): Promise<boolean> {
  // Each probe byte goes out at once, not held back behind an unacknowledged one.
  conn.setNoDelay(true);
  try {
    await conn.write(enc.encode("x"));
    // A write to a closed peer succeeds once (the peer answers with a reset); the next fails.
    await new Promise((r) => realSetTimeout(r, 5));
    await conn.write(enc.encode("x"));
    return true;
  } catch {
    return false;
  }
}

Deno.test("50 connections over the cap, each with its whole request sent (half with a body), read the 503 answer and an orderly end, none a reset", async () => {
  await using s = serve({ ...FAST, headerTimeoutMs: 60_000, writeTimeoutMs: 5_000 });
  const held = await Promise.all([1, 2, 3].map(() => Client.open(s.port)));
  try {
    for (const c of held) await c.send("GET /healthz HTTP/1.1\r\n");
    const got: Exchange[] = [];
    for (let i = 0; i < 50; i++) {
      const send = i % 2 === 0
        ? enc.encode("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        : withBody("POST /healthz HTTP/1.1", 16 * 1024);
      got.push(await exchange(s.port, send));
    }
    assertAnswered(got, 503, "Too many connections\n");
  } finally {
    for (const c of held) await c.close();
  }
});

Deno.test("answers that end the connection with input unread (431, 405 with a body, a GET with a body, 400 with more after it) are read in full, then an orderly end, 20 times each", async () => {
  await using s = serve({ ...FAST, headerTimeoutMs: 5_000, writeTimeoutMs: 5_000 });
  const cases: { send: Uint8Array; status: number; body: string }[] = [
    {
      send: enc.encode(`GET /healthz HTTP/1.1\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`),
      status: 431,
      body: "Request headers too large\n",
    },
    { send: withBody("POST /healthz HTTP/1.1", 32 * 1024), status: 405, body: "Use GET\n" },
    { send: withBody("GET /healthz HTTP/1.1", 32 * 1024), status: 200, body: "ok\n" },
    {
      send: enc.encode("hello\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n"),
      status: 400,
      body: "Bad request line\n",
    },
  ];
  for (const c of cases) {
    const got: Exchange[] = [];
    for (let i = 0; i < 20; i++) got.push(await exchange(s.port, c.send));
    assertAnswered(got, c.status, c.body);
  }
});

Deno.test("after its last answer the server reads a bounded amount: a peer that keeps sending is cut well before the write timeout", async () => {
  using _time = new HandDrivenTime();
  await using s = serve({ ...FAST, writeTimeoutMs: 30_000 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
  const t0 = realNow();
  await conn.write(enc.encode("POST /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"));
  // Sends until the server ends the connection (a reset or a broken pipe once it closed).
  const chunk = new Uint8Array(16 * 1024);
  let sent = 0;
  const cut = await (async () => {
    try {
      while (realNow() - t0 < 20_000) sent += await conn.write(chunk);
      return undefined;
    } catch (err) {
      return err;
    }
  })();
  conn.close();
  // The clock stood still, so no timeout fired: the bound on what is read cut the peer.
  assert.ok(cut instanceof Error, `still sending after ${sent} bytes`);
  assert.equal(performance.now(), 0);
});

Deno.test("after its last answer the server waits for a peer that does not close at most the write timeout", async () => {
  using time = new HandDrivenTime();
  const writeTimeoutMs = 500;
  await using s = serve({ ...FAST, writeTimeoutMs });
  const quiet = await Client.open(s.port);
  await quiet.send("POST /healthz HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
  await quiet.responses(1);
  assert.match(quiet.text, /^HTTP\/1\.1 405 /);
  // The answer and its end came at once; the server reads on until the write timeout.
  assert.equal(await quiet.closed(5_000), 0);
  await time.advance(writeTimeoutMs - 1);
  assert.ok(await stillOpen(quiet.conn), "closed before the write timeout");
  await time.advance(1);
  await poll(() => "the server to close the connection", async () => !await stillOpen(quiet.conn));
  await quiet.close();
});

Deno.test("a stop closes at once the connections that wait for their peer after the last answer, refused ones included", async () => {
  using _time = new HandDrivenTime();
  const s = serve({ ...FAST, writeTimeoutMs: 60_000, maxConnections: 1 });
  const inside = await Client.open(s.port);
  await inside.send("POST /healthz HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
  await inside.responses(1);
  const over = await Client.open(s.port);
  await over.send("GET /healthz HTTP/1.1\r\n\r\n");
  await over.responses(1);
  assert.match(inside.text, /^HTTP\/1\.1 405 /);
  assert.match(over.text, /^HTTP\/1\.1 503 /);
  assert.ok(await stillOpen(inside.conn) && await stillOpen(over.conn));
  s.stop.abort();
  // The clock stands still: the server finishes and ends both without waiting for a timer.
  await settles("the server to finish", s.server.finished, 5_000);
  for (const c of [inside, over]) {
    await poll(() => "the stop to close the connection", async () => !await stillOpen(c.conn));
  }
  assert.equal(performance.now(), 0);
  await inside.close();
  await over.close();
});

Deno.test("a flood over the cap holds at most MAX_LINGERING_REFUSALS refused connections open; the ones past that are closed at once", async () => {
  const limits = { ...FAST, headerTimeoutMs: 60_000, writeTimeoutMs: 60_000, maxConnections: 2 };
  await using s = serve(limits);
  const held = await Promise.all([1, 2].map(() => Client.open(s.port)));
  const refused: Client[] = [];
  try {
    for (const c of held) await c.send("GET /healthz HTTP/1.1\r\n");
    for (let i = 0; i < MAX_LINGERING_REFUSALS + 2; i++) {
      const c = await Client.open(s.port);
      refused.push(c);
      await c.responses(1);
      assert.match(c.text, /^HTTP\/1\.1 503 /);
    }
    const open = [];
    for (const c of refused) open.push(await stillOpen(c.conn));
    assert.deepEqual(open, [...Array(MAX_LINGERING_REFUSALS).fill(true), false, false]);
  } finally {
    for (const c of [...held, ...refused]) await c.close();
  }
});
