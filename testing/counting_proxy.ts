/**
 * A TCP relay on loopback in front of a test server, for measuring what a client costs on the
 * wire: it counts the bytes each way, connection by connection, and cuts each connection into
 * exchanges (the client's bytes, then the server's answer: a new exchange starts when the client
 * writes again after the server wrote, or after the connection was idle for a second, as when
 * the client acknowledged the last answer at the end of an exchange). For plain HTTP/1.1 an
 * exchange is one request and its response, and its first bytes are the request line and headers. The relay can be stopped (the
 * port then refuses connections, as a stopped server's does) and started again on the same port.
 *
 * @module
 */

/** One request and its answer on one connection, as bytes on the wire. */
export interface Exchange {
  /** The connection's number, from 1 in the order accepted. */
  connection: number;
  /** When the client's first byte of it arrived (`performance.now()`). */
  at: number;
  /** Bytes from the client (request line, headers, any body; TLS records when encrypted). */
  sent: number;
  /** Bytes from the server (status line, headers, body; TLS records when encrypted). */
  received: number;
  /** The client's first bytes up to the blank line that ends HTTP headers, as Latin-1 text. */
  requestHead: string;
  /** The server's first bytes up to the blank line that ends HTTP headers, as Latin-1 text. */
  responseHead: string;
}

/** A running relay. */
export interface CountingProxy extends AsyncDisposable {
  /** The port it listens on (the same after a restart). */
  readonly port: number;
  /** Every exchange, oldest first; the newest may still grow. */
  readonly exchanges: Exchange[];
  /** Connections accepted so far. */
  readonly connections: number;
  /** True while it accepts connections. */
  readonly listening: boolean;
  /** Closes the port and every open connection (both ends); the port then refuses. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): void;
}

const HEAD_END = "\r\n\r\n";
/** By default, a client write after this long without a byte either way starts an exchange. */
const IDLE_MS = 1_000;
/** The most of a head kept as text. */
const HEAD_MAX = 16 * 1024;
const latin1 = new TextDecoder("latin1");

/**
 * Starts a relay on 127.0.0.1 (a random port) to `127.0.0.1:<upstreamPort>`; a client write
 * after `idleMs` without a byte either way starts a new exchange (default 1 s).
 */
export function countingProxy(
  upstreamPort: number,
  { idleMs = IDLE_MS }: { idleMs?: number } = {},
): CountingProxy {
  const exchanges: Exchange[] = [];
  const open = new Set<Deno.Conn>();
  const pumps = new Set<Promise<void>>();
  let accepted = 0;
  let listener: Deno.Listener | undefined;
  let accepting: Promise<void> | undefined;
  let port = 0;

  const relay = async (client: Deno.Conn, n: number) => {
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: upstreamPort });
    } catch {
      if (open.delete(client)) client.close();
      return;
    }
    if (!open.has(client)) {
      upstream.close(); // stopped while connecting
      return;
    }
    open.add(upstream);
    let current: Exchange | undefined;
    let serverSpoke = false;
    let lastByteAt = 0;
    const pump = async (from: Deno.Conn, to: Deno.Conn, fromClient: boolean) => {
      const buf = new Uint8Array(64 * 1024);
      try {
        for (;;) {
          const got = await from.read(buf);
          if (got === null) break;
          const chunk = buf.subarray(0, got);
          const now = performance.now();
          const idle = now - lastByteAt > idleMs;
          lastByteAt = now;
          if (fromClient) {
            if (!current || serverSpoke || idle) {
              current = {
                connection: n,
                at: now,
                sent: 0,
                received: 0,
                requestHead: "",
                responseHead: "",
              };
              exchanges.push(current);
              serverSpoke = false;
            }
            current.sent += got;
            current.requestHead = grow(current.requestHead, chunk);
          } else if (current) {
            serverSpoke = true;
            current.received += got;
            current.responseHead = grow(current.responseHead, chunk);
          }
          for (let off = 0; off < got;) off += await to.write(chunk.subarray(off));
        }
      } catch {
        // A connection closed by the other side or by stop(): the relay of it ends.
      }
      for (const c of [client, upstream]) {
        if (open.delete(c)) c.close();
      }
    };
    await Promise.all([pump(client, upstream, true), pump(upstream, client, false)]);
  };

  const start = () => {
    if (listener) return;
    const l = Deno.listen({ hostname: "127.0.0.1", port });
    listener = l;
    port = (l.addr as Deno.NetAddr).port;
    accepting = (async () => {
      try {
        for await (const conn of l) {
          open.add(conn);
          const p = relay(conn, ++accepted);
          pumps.add(p);
          p.finally(() => pumps.delete(p));
        }
      } catch {
        // The listener was closed.
      }
    })();
  };

  const stop = async () => {
    const l = listener;
    listener = undefined;
    if (l) {
      l.close();
      await accepting;
    }
    for (const c of open) c.close();
    open.clear();
    await Promise.all([...pumps]);
  };

  start();
  return {
    get port() {
      return port;
    },
    exchanges,
    get connections() {
      return accepted;
    },
    get listening() {
      return listener !== undefined;
    },
    stop,
    start,
    [Symbol.asyncDispose]: stop,
  };
}

/** `head` with `chunk` appended while it has not reached the blank line that ends headers. */
function grow(head: string, chunk: Uint8Array): string {
  const end = head.indexOf(HEAD_END);
  if (end >= 0 || head.length >= HEAD_MAX) return head;
  const text = head + latin1.decode(chunk.subarray(0, HEAD_MAX - head.length));
  const at = text.indexOf(HEAD_END);
  return at >= 0 ? text.slice(0, at + HEAD_END.length) : text;
}
