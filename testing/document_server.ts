/**
 * A document served over HTTP on loopback (a random port, or one given), for the tests of
 * `--manifest-url`: what it answers is set by the test (a document with its ETag, Last-Modified
 * and Date, answered 304 to a request that still has it; a status; raw bytes; a redirect; no
 * answer at all), after a delay when asked; every request is recorded with its query and
 * headers, and it serves HTTPS with a certificate made by `openssl` when asked.
 *
 * @module
 */

/** One request as the server saw it. */
export interface SeenRequest {
  path: string;
  /** Its query, with its `?` (empty without one). */
  query: string;
  /** Its headers, names in lower case; several lines of one name joined with ", ". */
  headers: Record<string, string>;
}

/** What the server answers. */
export type Answer =
  /** 200 with the text, or 304 when the request's validators still match. */
  | {
    kind: "document";
    text: string;
    etag?: string;
    lastModified?: string;
    /** The Date header (an HTTP date); the server's clock when absent. */
    date?: string;
  }
  /** The status, with a body. */
  | { kind: "status"; status: number; body?: string }
  /** 200 with these bytes; without Content-Length (chunked) unless `length`. */
  | { kind: "bytes"; body: Uint8Array<ArrayBuffer>; length?: boolean }
  /** A redirect to `location`. */
  | { kind: "redirect"; location: string; status?: number }
  /** Nothing, until the server closes. */
  | { kind: "hang" };

/** A running server; closing it answers whatever still hangs. */
export interface DocumentServer extends AsyncDisposable {
  /** `http(s)://127.0.0.1:<port>/pods.yaml`. */
  url: string;
  port: number;
  /** Every request, oldest first. */
  requests: SeenRequest[];
  /** What the next requests get. */
  answer: Answer;
  /** How long each answer waits, in milliseconds (default 0). */
  delayMs: number;
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1 (on `port`, else a free one), over TLS with `tls`. */
export function documentServer(
  answer: Answer,
  options: { tls?: { cert: string; key: string }; port?: number } = {},
): DocumentServer {
  const requests: SeenRequest[] = [];
  const stop = new AbortController();
  let release = () => {};
  const released = new Promise<void>((resolve) => release = resolve);
  const state = { answer, delayMs: 0 };
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    signal: stop.signal,
    onListen: () => {},
    ...(options.tls ?? {}),
  }, async (req) => {
    const url = new URL(req.url);
    requests.push({
      path: url.pathname,
      query: url.search,
      headers: Object.fromEntries(req.headers),
    });
    if (state.delayMs > 0) {
      // The delay ends early when the server closes, leaving no timer behind.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        timer = setTimeout(resolve, state.delayMs);
        released.then(resolve);
      });
      clearTimeout(timer);
    }
    const a = state.answer;
    switch (a.kind) {
      case "hang":
        await released;
        return new Response("closing\n", { status: 503 });
      case "status":
        // 204 and 304 have no body.
        return new Response(a.status === 204 || a.status === 304 ? null : a.body ?? "", {
          status: a.status,
        });
      case "redirect":
        return new Response(null, { status: a.status ?? 302, headers: { location: a.location } });
      case "bytes": {
        const body = a.length ? a.body : new Blob([a.body]).stream();
        return new Response(body, { status: 200 });
      }
      case "document": {
        const headers: Record<string, string> = {};
        if (a.etag !== undefined) headers.etag = a.etag;
        if (a.lastModified !== undefined) headers["last-modified"] = a.lastModified;
        if (a.date !== undefined) headers.date = a.date;
        if (notModified(req.headers, a)) return new Response(null, { status: 304, headers });
        return new Response(a.text, { status: 200, headers });
      }
    }
  });
  const port = server.addr.port;
  const close = async () => {
    release();
    stop.abort();
    await server.finished;
  };
  return {
    url: `${options.tls ? "https" : "http"}://127.0.0.1:${port}/pods.yaml`,
    port,
    requests,
    get answer() {
      return state.answer;
    },
    set answer(a: Answer) {
      state.answer = a;
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(ms: number) {
      state.delayMs = ms;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** RFC 9110: If-None-Match decides when present; else If-Modified-Since against Last-Modified. */
function notModified(h: Headers, a: { etag?: string; lastModified?: string }): boolean {
  const inm = h.get("if-none-match");
  if (inm !== null) return a.etag !== undefined && inm.split(/\s*,\s*/).includes(a.etag);
  const ims = h.get("if-modified-since");
  if (ims === null || a.lastModified === undefined) return false;
  return Date.parse(a.lastModified) <= Date.parse(ims);
}

/** A certificate authority and a server certificate it signed, for `IP:127.0.0.1`. */
export interface TestCertificates {
  /** The CA's certificate file (PEM). */
  caFile: string;
  /** The server's certificate and key (PEM text), for `Deno.serve`. */
  cert: string;
  key: string;
}

/**
 * Makes, with `openssl` in `dir`, a CA and a server certificate for `IP:127.0.0.1` signed by
 * it (rustls refuses a CA certificate as a server's, so two are made).
 */
export async function makeTestCertificates(dir: string): Promise<TestCertificates> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const caFile = `${dir}/ca.crt`;
  await openssl([
    ...["req", "-x509", ...ec, "-keyout", `${dir}/ca.key`, "-out", caFile],
    ...["-days", "2", "-subj", "/CN=tinylet test document CA"],
  ]);
  await openssl([
    ...["req", "-x509", ...ec, "-CA", caFile, "-CAkey", `${dir}/ca.key`],
    ...["-keyout", `${dir}/server.key`, "-out", `${dir}/server.crt`, "-days", "2"],
    ...["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
    ...["-addext", "basicConstraints=critical,CA:FALSE"],
  ]);
  return {
    caFile,
    cert: await Deno.readTextFile(`${dir}/server.crt`),
    key: await Deno.readTextFile(`${dir}/server.key`),
  };
}

async function openssl(args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}
