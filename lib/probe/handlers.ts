/**
 * Runs one probe or lifecycle handler, once, from the agent, with kubelet's
 * rules (`pkg/probe/{exec,http,tcp,grpc}`): `exec` through the runtime's
 * `ExecSync`; `httpGet`, `tcpSocket` and `grpc` from the node to the pod's
 * address; `sleep` (hooks only) in the agent. Every failure, a timeout
 * included, is an outcome, never an exception.
 *
 * @module
 */
import http from "node:http";
import https from "node:https";
import type { Cri } from "../runtime/cri.ts";
import { CriError } from "../runtime/errors.ts";
import { grpcHealthCheck } from "../runtime/grpc_health.ts";
import type { HandlerSpec } from "../manifest/types.ts";
import type { ProbeOutcome, ProbeTarget } from "./probes.ts";
import { scheduleAfter, sleep } from "../base/timer.ts";

/** A Kubernetes probe or lifecycle handler, as written in a Pod (already validated). */
export type ProbeHandler = HandlerSpec;

export type { ProbeOutcome, ProbeTarget };

/** What {@linkcode runHandler} needs from the agent. */
export interface HandlerDeps {
  cri: Cri;
  /** Cancels the run: it then ends at once with a failed outcome. */
  signal?: AbortSignal;
}

/** The User-Agent of HTTP and gRPC probes (kubelet sends `kube-probe/<major>.<minor>`). */
export const PROBE_USER_AGENT = "tinylet-probe/0.1";
/** Longest `output` kept, in characters. */
export const MAX_OUTPUT_CHARS = 1024;
/** How much of an HTTP response body is read before the connection is dropped (as kubelet). */
const MAX_BODY_BYTES = 10 * 1024;
/** kubelet's redirect policy stops after 10 requests. */
const MAX_REDIRECTS = 10;

/**
 * Runs `handler` once against `target` within `timeoutSeconds` (0: no limit but
 * `deps.signal`), with kubelet's rules. Never throws for a probe failure (only for
 * programming errors: no action set, a negative timeout); a timeout is a failure, and so
 * is a cancellation through `deps.signal`.
 */
export async function runHandler(
  handler: ProbeHandler,
  target: ProbeTarget,
  timeoutSeconds: number,
  deps: HandlerDeps,
): Promise<ProbeOutcome> {
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0) {
    throw new RangeError(`Run handler: timeout must be 0 or more seconds, got ${timeoutSeconds}`);
  }
  const action = prepare(handler, target, timeoutSeconds, deps.cri);
  if ("ok" in action) return clipOutcome(action);
  const scope = new Deadline(timeoutSeconds, deps.signal);
  try {
    scope.signal.throwIfAborted();
    return clipOutcome(await untilAborted(action.run(scope.signal), scope.signal));
  } catch (err) {
    if (scope.timedOut) {
      return clipOutcome({
        ok: false,
        output: `${action.what}: timed out after ${timeoutSeconds}s`,
      });
    }
    if (scope.signal.aborted) {
      return clipOutcome({ ok: false, output: `${action.what}: cancelled: ${message(err)}` });
    }
    throw err;
  } finally {
    scope.dispose();
  }
}

/** One handler, ready to run: what it does (for messages) and how. */
interface Action {
  what: string;
  run(signal: AbortSignal): Promise<ProbeOutcome>;
}

/** Picks the action as kubelet does (the first set, in this order) and resolves its address. */
function prepare(
  handler: ProbeHandler,
  target: ProbeTarget,
  timeoutSeconds: number,
  cri: Cri,
): Action | ProbeOutcome {
  if (handler.exec) {
    const command = handler.exec.command;
    return {
      what: `Run command ${JSON.stringify(command.join(" "))}`,
      run: (signal) => runExec(cri, target.containerId, command, timeoutSeconds, signal),
    };
  }
  if (handler.httpGet) {
    const spec = handler.httpGet;
    const port = resolvePort(spec.port, target.namedPorts);
    if (typeof port !== "number") return port;
    const scheme = spec.scheme === "HTTPS" ? "https" : "http";
    const base = `${scheme}://${joinHostPort(spec.host || target.host, port)}`;
    const path = spec.path ?? "";
    let url: URL;
    try {
      url = new URL(base + (path.startsWith("/") ? path : `/${path}`));
    } catch (err) {
      return {
        ok: false,
        output: `Build the probe URL from ${JSON.stringify(path)}: ${message(err)}`,
      };
    }
    const headers = probeHeaders(spec.httpHeaders ?? []);
    return { what: `Get "${url.href}"`, run: (signal) => runHttpGet(url, headers, signal) };
  }
  if (handler.tcpSocket) {
    const port = resolvePort(handler.tcpSocket.port, target.namedPorts);
    if (typeof port !== "number") return port;
    const host = handler.tcpSocket.host || target.host;
    return {
      what: `dial tcp ${joinHostPort(host, port)}`,
      run: (signal) => runTcp(host, port, signal),
    };
  }
  if (handler.grpc) {
    const port = resolvePort(handler.grpc.port, target.namedPorts);
    if (typeof port !== "number") return port;
    const address = joinHostPort(target.host, port);
    const service = handler.grpc.service ?? "";
    const timeoutMs = timeoutSeconds > 0 ? timeoutSeconds * 1000 : Infinity;
    const what = `Check the health of ${JSON.stringify(service)} at "${address}"`;
    return {
      what,
      run: (signal) => runGrpc(what, address, service, timeoutMs, timeoutSeconds, signal),
    };
  }
  if (handler.sleep) {
    const seconds = handler.sleep.seconds;
    return { what: `Sleep ${seconds}s`, run: (signal) => runSleep(seconds, signal) };
  }
  throw new TypeError("Run handler: it sets none of exec, httpGet, tcpSocket, grpc or sleep");
}

/** A port number, or the number of a named port of the container; a failed outcome when neither. */
function resolvePort(
  port: number | string,
  namedPorts: Record<string, number>,
): number | ProbeOutcome {
  let n = port;
  if (typeof port === "string") {
    const found = Object.hasOwn(namedPorts, port) ? namedPorts[port] : undefined;
    if (found === undefined) {
      return {
        ok: false,
        output: `Resolve port ${JSON.stringify(port)}: the container declares no port of that name`,
      };
    }
    n = found;
  }
  if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > 65535) {
    return { ok: false, output: `Resolve port ${JSON.stringify(port)}: invalid port number ${n}` };
  }
  return n as number;
}

// ---- exec ----

async function runExec(
  cri: Cri,
  containerId: string,
  command: string[],
  timeoutSeconds: number,
  signal: AbortSignal,
): Promise<ProbeOutcome> {
  try {
    // The runtime enforces the timeout (whole seconds; 0: none); the call's own
    // deadline keeps the client's grace on top, and the signal cancels it.
    const r = await cri.execSync(containerId, command, Math.ceil(timeoutSeconds), { signal });
    const output = decodeBytes([r.stdout, r.stderr]);
    if (r.exitCode !== 0 && output === "") {
      return {
        ok: false,
        output: `Run command ${JSON.stringify(command.join(" "))}: exited with code ${r.exitCode}`,
      };
    }
    return { ok: r.exitCode === 0, output };
  } catch (err) {
    if (err instanceof CriError) return { ok: false, output: err.message };
    throw err;
  }
}

// ---- httpGet ----

type HeaderMap = Record<string, string[]>;

/** The probe's headers, plus kubelet's User-Agent and `Accept: * /*` unless set (an empty Accept removes it). */
function probeHeaders(list: { name: string; value: string }[]): HeaderMap {
  const headers: HeaderMap = {};
  for (const { name, value } of list) {
    const key = name.toLowerCase();
    (headers[key] ??= []).push(value);
  }
  headers["user-agent"] ??= [PROBE_USER_AGENT];
  if (!headers["accept"]) headers["accept"] = ["*/*"];
  else if (headers["accept"][0] === "") delete headers["accept"];
  // Like Go's Request.Host: the first Host header names the virtual host.
  const host = headers["host"]?.[0];
  if (host !== undefined) {
    if (host === "") delete headers["host"];
    else headers["host"] = [host];
  }
  return headers;
}

interface HttpReply {
  status: number;
  location: string | undefined;
  body: Uint8Array;
}

/**
 * GETs `url`; follows redirects to the same host name (at most 10 requests) and stops at
 * a redirect to another host, whose 3xx then counts as success, as kubelet does.
 */
async function runHttpGet(
  url: URL,
  headers: HeaderMap,
  signal: AbortSignal,
): Promise<ProbeOutcome> {
  let current = url;
  let sent = { ...headers };
  for (let requests = 1;; requests++) {
    let reply: HttpReply;
    try {
      reply = await getOnce(current, sent, signal);
    } catch (err) {
      return { ok: false, output: `Get "${current.href}": ${message(err)}` };
    }
    const redirect = [301, 302, 303, 307, 308].includes(reply.status) &&
      reply.location !== undefined;
    if (redirect && reply.location !== undefined) {
      let next: URL;
      try {
        next = new URL(reply.location, current);
      } catch (err) {
        return {
          ok: false,
          output: `Get "${current.href}": failed to parse Location header ${
            JSON.stringify(reply.location)
          }: ${message(err)}`,
        };
      }
      if (next.protocol !== "http:" && next.protocol !== "https:") {
        return {
          ok: false,
          output: `Get "${next.href}": unsupported protocol scheme ${
            JSON.stringify(next.protocol)
          }`,
        };
      }
      if (next.hostname === url.hostname) {
        if (requests >= MAX_REDIRECTS) {
          return {
            ok: false,
            output: `Get "${next.href}": stopped after ${MAX_REDIRECTS} redirects`,
          };
        }
        // Go keeps a custom Host header only through a relative redirect.
        if (/^[a-z][a-z0-9+.-]*:/i.test(reply.location)) {
          const { host: _dropped, ...rest } = sent;
          sent = rest;
        }
        current = next;
        continue;
      }
    }
    const body = decodeBytes([reply.body]);
    if (reply.status >= 200 && reply.status < 400) {
      if (reply.status >= 300) {
        return { ok: true, output: `Probe terminated redirects, Response body: ${body}` };
      }
      return { ok: true, output: body };
    }
    // kubelet leaves the body out of a failure's message (issue 99425).
    return { ok: false, output: `HTTP probe failed with statuscode: ${reply.status}` };
  }
}

/**
 * One GET on its own connection (kubelet disables keep-alive), certificates not verified
 * (kubelet's InsecureSkipVerify; Deno's fetch cannot skip verification, node:https can).
 * Reads at most {@linkcode MAX_BODY_BYTES} of the body, then drops the connection.
 */
function getOnce(url: URL, headers: HeaderMap, signal: AbortSignal): Promise<HttpReply> {
  return new Promise<HttpReply>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const chunks: Uint8Array[] = [];
    let size = 0;
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      fn();
    };
    const options: https.RequestOptions = {
      method: "GET",
      hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: url.port || (url.protocol === "https:" ? 443 : 80),
      path: url.pathname + url.search,
      headers: Object.fromEntries(
        Object.entries(headers).map(([k, v]) => [k, v.length === 1 ? v[0] ?? "" : v]),
      ),
      agent: false,
      rejectUnauthorized: false,
    };
    let req: http.ClientRequest | undefined;
    const onAbort = () => {
      settle(() => reject(signal.reason));
      req?.destroy();
    };
    try {
      req = (url.protocol === "https:" ? https : http).request(options, (res) => {
        const reply = () => ({
          status: res.statusCode ?? 0,
          location: res.headers.location,
          body: concat(chunks, size),
        });
        res.on("data", (chunk: Uint8Array) => {
          const room = MAX_BODY_BYTES - size;
          if (room <= 0) return;
          const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
          chunks.push(part);
          size += part.length;
          if (size >= MAX_BODY_BYTES) {
            settle(() => resolve(reply()));
            res.destroy();
          }
        });
        res.on("end", () => settle(() => resolve(reply())));
        res.on("error", (err) => settle(() => reject(err)));
        res.on("close", () => settle(() => resolve(reply())));
      });
    } catch (err) {
      // Invalid header names or values are refused before anything is sent.
      return reject(err);
    }
    req.on("error", (err) => settle(() => reject(err)));
    signal.addEventListener("abort", onAbort, { once: true });
    req.end();
  });
}

// ---- tcpSocket ----

async function runTcp(host: string, port: number, signal: AbortSignal): Promise<ProbeOutcome> {
  try {
    const conn = await Deno.connect({ hostname: host, port, signal });
    conn.close();
    return { ok: true, output: "" };
  } catch (err) {
    return { ok: false, output: `dial tcp ${joinHostPort(host, port)}: ${message(err)}` };
  }
}

// ---- grpc ----

async function runGrpc(
  what: string,
  address: string,
  service: string,
  timeoutMs: number,
  timeoutSeconds: number,
  signal: AbortSignal,
): Promise<ProbeOutcome> {
  try {
    const { status } = await grpcHealthCheck(address, service, timeoutMs, {
      signal,
      userAgent: PROBE_USER_AGENT,
    });
    if (status !== "SERVING") {
      return { ok: false, output: `service unhealthy (responded with "${status}")` };
    }
    return { ok: true, output: "service healthy" };
  } catch (err) {
    if (!(err instanceof CriError)) throw err;
    switch (err.kind) {
      case "Unimplemented":
        return {
          ok: false,
          output:
            `error: this server does not implement the grpc health protocol (grpc.health.v1.Health): ${err.message}`,
        };
      case "DeadlineExceeded":
        return { ok: false, output: `${what}: timed out after ${timeoutSeconds}s` };
      default:
        return { ok: false, output: `error: health rpc probe failed: ${err.message}` };
    }
  }
}

// ---- sleep ----

/** Waits `seconds` in full, however long (a timer-safe sleep); rejects when `signal` aborts. */
async function runSleep(seconds: number, signal: AbortSignal): Promise<ProbeOutcome> {
  await sleep(Math.max(0, seconds * 1000), signal);
  signal.throwIfAborted();
  return { ok: true, output: "" };
}

// ---- helpers ----

/**
 * One signal for a run: aborts at the deadline (any length, timer-safe) or when the caller's
 * signal does.
 */
class Deadline {
  readonly #controller = new AbortController();
  readonly #outer: AbortSignal | undefined;
  readonly #cancelTimer: () => void = () => {};
  readonly #onOuterAbort = () => this.#controller.abort(this.#outer?.reason);
  #timedOut = false;

  constructor(timeoutSeconds: number, outer: AbortSignal | undefined) {
    this.#outer = outer;
    if (outer?.aborted) this.#controller.abort(outer.reason);
    else outer?.addEventListener("abort", this.#onOuterAbort, { once: true });
    const ms = timeoutSeconds * 1000;
    if (ms > 0 && !this.#controller.signal.aborted) {
      this.#cancelTimer = scheduleAfter(() => {
        this.#timedOut = true;
        this.#controller.abort(new DOMException("The handler timed out", "TimeoutError"));
      }, ms);
    }
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get timedOut(): boolean {
    return this.#timedOut;
  }

  dispose(): void {
    this.#cancelTimer();
    this.#outer?.removeEventListener("abort", this.#onOuterAbort);
  }
}

/** Settles with `promise`, or rejects as soon as `signal` aborts (whichever comes first). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** `host:port`, with an IPv6 address in brackets (Go's net.JoinHostPort). */
function joinHostPort(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Text of `parts` joined, invalid UTF-8 replaced, cut well past the output limit. */
function decodeBytes(parts: Uint8Array[]): string {
  const limit = MAX_OUTPUT_CHARS * 4;
  const cut = parts.map((p) => p.subarray(0, limit));
  return new TextDecoder().decode(concat(cut, cut.reduce((n, p) => n + p.length, 0)));
}

const TRUNCATED = " [truncated]";

function clipOutcome(outcome: ProbeOutcome): ProbeOutcome {
  return { ok: outcome.ok, output: clip(outcome.output) };
}

/** `text`, at most {@linkcode MAX_OUTPUT_CHARS} long, marked when cut. */
function clip(text: string): string {
  if (text.length <= MAX_OUTPUT_CHARS) return text;
  let end = MAX_OUTPUT_CHARS - TRUNCATED.length;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--; // do not split a surrogate pair
  return text.slice(0, end) + TRUNCATED;
}

function message(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
