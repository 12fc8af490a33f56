/**
 * A small HTTP/1.1 server on `Deno.listen`, for the agent's endpoint: GET and HEAD without a
 * body, keep-alive, and every connection bounded (`Deno.serve` offers no header or idle timeout
 * and no connection cap):
 *
 * - a request's headers must arrive within `headerTimeoutMs` of the connection's start or of the
 *   first byte after the last response, and fit in `maxHeaderBytes` (else 431);
 * - a kept-alive connection waits at most `idleTimeoutMs` for its next request;
 * - a response must be written within `writeTimeoutMs` (a peer that does not read is dropped);
 * - at most `maxConnections` are served at once: one more gets 503 and is closed.
 *
 * A connection past a timeout is closed without an answer. A connection the server ends after
 * an answer (a refusal, a request with a body, `Connection: close`) is ended in order: the
 * answer, then the end of the stream, while what the peer still sends is read and dropped (at
 * most {@linkcode LINGER_BYTES}, within `writeTimeoutMs`; meanwhile it still counts against the
 * cap), so the kernel does not answer unread input with a reset that can cost the peer the
 * answer. Aborting the signal closes the listener and every connection at once.
 *
 * @module
 */
import { headEnd, parseHead, plain, Refusal, responseHead } from "./http_message.ts";

/** The bounds of {@linkcode serveBounded}. */
export interface HttpLimits {
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  writeTimeoutMs: number;
  maxConnections: number;
  maxHeaderBytes: number;
}

/** The agent's bounds: a local endpoint for probes and scrapers. */
export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = {
  headerTimeoutMs: 5_000,
  idleTimeoutMs: 5_000,
  writeTimeoutMs: 10_000,
  maxConnections: 16,
  maxHeaderBytes: 8 * 1024,
};

/**
 * Most bytes read and dropped from a peer after the server's last answer, before it closes
 * anyway: a request and a small body, not an upload.
 */
export const LINGER_BYTES = 64 * 1024;

/**
 * Most connections over the cap ended in order at once (each holds a descriptor until its peer
 * closes, at most `writeTimeoutMs`); past that, a flood's connections are answered and closed
 * at once, and their peers may see a reset.
 */
export const MAX_LINGERING_REFUSALS = 64;

const encoder = new TextEncoder();
const decoder = new TextDecoder("latin1");

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

/**
 * After the last answer: shuts the write side (the peer reads the answer, then the end of the
 * stream) and reads what the peer still sends, dropping it, until the peer closes or
 * {@linkcode LINGER_BYTES} have come. The caller bounds the time (by closing `conn`) and
 * closes it after. Closing at once would leave that input unread, and the kernel answers
 * unread input with a reset, not an orderly end: the peer may lose the answer to it.
 */
async function closeWriteAndDrain(conn: Deno.Conn): Promise<void> {
  try {
    await conn.closeWrite();
    const buf = new Uint8Array(4096);
    for (let left = LINGER_BYTES; left > 0;) {
      const n = await conn.read(buf);
      if (n === null) return;
      left -= n;
    }
  } catch {
    // Reset by the peer, or closed by the time bound or the stop.
  }
}

/** One connection: requests until the peer closes, asks to close, or a bound is passed. */
class Connection {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** Waiting for the first byte of a request after a response: the idle timeout runs. */
  #awaitingNext = false;
  /** Between reading a request's head and the end of its response. */
  #busy = false;
  #buf: Uint8Array;
  #length = 0;

  constructor(
    readonly conn: Deno.Conn,
    readonly limits: HttpLimits,
    readonly route: (req: Request) => Response | Promise<Response>,
  ) {
    this.#buf = new Uint8Array(limits.maxHeaderBytes + 4);
  }

  /** Nothing of a request is read or answered: closing it loses nothing. */
  get idle(): boolean {
    return !this.#busy && this.#length === 0;
  }

  close(): void {
    clearTimeout(this.#timer);
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }

  #arm(ms: number) {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.close(), ms);
  }

  async serve(draining: () => boolean): Promise<void> {
    try {
      // A new connection's headers are due headerTimeoutMs after it opened.
      this.#arm(this.limits.headerTimeoutMs);
      while (!this.#closed) {
        const end = await this.#readHead();
        if (end === undefined) return;
        this.#busy = true;
        const text = decoder.decode(this.#buf.subarray(0, end.head));
        this.#buf.copyWithin(0, end.next, this.#length);
        this.#length -= end.next;
        const parsed = parseHead(text);
        let keepAlive = !(parsed instanceof Refusal) && parsed.keepAlive && !parsed.hasBody;
        let res: Response;
        if (parsed instanceof Refusal) res = plain(parsed.status, parsed.message);
        else if (parsed.method !== "GET" && parsed.method !== "HEAD") {
          res = new Response("Use GET\n", { status: 405, headers: { allow: "GET, HEAD" } });
          keepAlive = false;
        } else {
          try {
            res = await this.route(
              new Request(new URL(parsed.target, "http://tinylet"), { method: parsed.method }),
            );
          } catch {
            res = plain(500, "Internal error");
          }
        }
        if (draining()) keepAlive = false;
        const body = new Uint8Array(await res.arrayBuffer());
        const isHead = !(parsed instanceof Refusal) && parsed.method === "HEAD";
        const bytes = encoder.encode(responseHead(res.status, res.headers, body.length, keepAlive));
        this.#arm(this.limits.writeTimeoutMs);
        await writeAll(this.conn, bytes);
        if (!isHead && body.length > 0) await writeAll(this.conn, body);
        if (!keepAlive) return await this.#linger();
        this.#busy = false;
        // A pipelined request already begun gets the header timeout, else the idle one.
        this.#awaitingNext = this.#length === 0;
        this.#arm(this.#awaitingNext ? this.limits.idleTimeoutMs : this.limits.headerTimeoutMs);
      }
    } catch {
      // Reset, closed by a timeout or by the stop: nothing to answer.
    } finally {
      this.close();
    }
  }

  /** Reads until a whole head is buffered; undefined when the connection ends or is refused. */
  async #readHead(): Promise<{ head: number; next: number } | undefined> {
    while (true) {
      const end = headEnd(this.#buf, this.#length);
      if (end) return end;
      if (this.#length > this.limits.maxHeaderBytes) {
        await this.#refuse(431, "Request headers too large");
        return undefined;
      }
      const n = await this.conn.read(this.#buf.subarray(this.#length));
      if (n === null) return undefined;
      if (this.#awaitingNext && n > 0) {
        // The next request has begun: its headers get the header timeout from here.
        this.#awaitingNext = false;
        this.#arm(this.limits.headerTimeoutMs);
      }
      this.#length += n;
    }
  }

  async #refuse(status: number, message: string) {
    const body = encoder.encode(`${message}\n`);
    const h = new Headers({ "content-type": "text/plain; charset=utf-8" });
    this.#arm(this.limits.writeTimeoutMs);
    await writeAll(this.conn, encoder.encode(responseHead(status, h, body.length, false)));
    await writeAll(this.conn, body);
    await this.#linger();
  }

  /** Ends the connection in order after its last answer, within `writeTimeoutMs`. */
  async #linger() {
    this.#arm(this.limits.writeTimeoutMs);
    await closeWriteAndDrain(this.conn);
  }
}

/**
 * Answers 503 to a connection over the cap without reading its request, and ends it in order
 * (as {@linkcode closeWriteAndDrain}) when `linger`, else closes it at once; the answer and the
 * end each get `writeTimeoutMs`. `refusing` holds it meanwhile, so that the stop can close it.
 */
async function refuse(
  conn: Deno.Conn,
  writeTimeoutMs: number,
  refusing: Set<Deno.Conn>,
  linger: boolean,
): Promise<void> {
  const close = () => {
    try {
      conn.close();
    } catch {
      // Closed already.
    }
  };
  refusing.add(conn);
  let timer = setTimeout(close, writeTimeoutMs);
  try {
    const body = encoder.encode("Too many connections\n");
    const h = new Headers({ "content-type": "text/plain; charset=utf-8" });
    await writeAll(conn, encoder.encode(responseHead(503, h, body.length, false)));
    await writeAll(conn, body);
    if (linger) {
      clearTimeout(timer);
      timer = setTimeout(close, writeTimeoutMs);
      await closeWriteAndDrain(conn);
    }
  } catch {
    // The peer is gone, or the stop closed it.
  } finally {
    clearTimeout(timer);
    refusing.delete(conn);
    close();
  }
}

/** Serves `route` on `hostname:port` within `limits` until `signal` aborts. */
export function serveBounded(
  listen: { hostname: string; port: number },
  route: (req: Request) => Response | Promise<Response>,
  signal: AbortSignal,
  limits: HttpLimits = DEFAULT_HTTP_LIMITS,
  onListen?: (addr: { hostname: string; port: number }) => void,
): Deno.HttpServer<Deno.NetAddr> {
  const listener = Deno.listen({ hostname: listen.hostname, port: listen.port });
  const addr = listener.addr;
  const open = new Set<Connection>();
  /** Connections over the cap, being answered 503 and ended. */
  const refusing = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  let draining = false;
  let stopped = false;
  let failures = 0;
  /** Resolves after `ms`, or at once when the server stops. */
  let wakePause: (() => void) | undefined;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        wakePause = undefined;
        resolve();
      }
      wakePause = done;
    });

  const track = (p: Promise<void>) => {
    tasks.add(p);
    p.finally(() => tasks.delete(p));
  };
  const stopListening = () => {
    if (stopped) return;
    stopped = true;
    wakePause?.();
    try {
      listener.close();
    } catch {
      // Already closed.
    }
  };
  const shutdown = () => {
    draining = true;
    stopListening();
    for (const c of open) if (c.idle) c.close();
  };
  const abort = () => {
    draining = true;
    stopListening();
    for (const c of open) c.close();
    for (const conn of refusing) {
      try {
        conn.close();
      } catch {
        // Closed already.
      }
    }
  };

  const accepting = (async () => {
    while (!stopped) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
        failures = 0;
      } catch (err) {
        if (stopped || err instanceof Deno.errors.BadResource) return;
        // Out of descriptors, say: wait a little longer each time instead of spinning.
        await pause(Math.min(5 * 2 ** failures++, 1_000));
        continue;
      }
      if (open.size >= limits.maxConnections) {
        // Over the cap: answered at once and ended; its request is never parsed.
        const linger = refusing.size < MAX_LINGERING_REFUSALS;
        track(refuse(conn, limits.writeTimeoutMs, refusing, linger));
        continue;
      }
      const c = new Connection(conn, limits, route);
      open.add(c);
      track(c.serve(() => draining).finally(() => open.delete(c)));
    }
  })();

  if (signal.aborted) abort();
  else signal.addEventListener("abort", abort, { once: true });
  onListen?.({ hostname: addr.hostname, port: addr.port });

  const finished = (async () => {
    await accepting;
    while (tasks.size > 0) await Promise.allSettled([...tasks]);
    signal.removeEventListener("abort", abort);
  })();

  return {
    addr,
    finished,
    ref: () => listener.ref(),
    unref: () => listener.unref(),
    async shutdown() {
      shutdown();
      await finished;
    },
    async [Symbol.asyncDispose]() {
      shutdown();
      await finished;
    },
  };
}
