/**
 * Runs one probe or lifecycle handler, once, from the agent, with kubelet's
 * rules (`pkg/probe/{exec,http,tcp,grpc}`): `exec` through the runtime's
 * `ExecSync`; `httpGet` (`http_get.ts`), `tcpSocket` and `grpc` from the node to the pod's
 * address; `sleep` (hooks only) in the agent. Every failure, a timeout
 * included, is an outcome, never an exception.
 *
 * @module
 */
import type { Cri } from "../runtime/cri.ts";
import { CriError } from "../runtime/errors.ts";
import { grpcHealthCheck } from "../runtime/grpc_health.ts";
import type { HandlerSpec } from "../manifest/types.ts";
import type { ProbeOutcome, ProbeTarget } from "./probes.ts";
import { scheduleAfter, sleep } from "../base/timer.ts";
import { clipOutcome, decodeBytes, errorText } from "./handler_output.ts";
import { PROBE_USER_AGENT, probeHeaders, runHttpGet } from "./http_get.ts";

/** A Kubernetes probe or lifecycle handler, as written in a Pod (already validated). */
export type ProbeHandler = HandlerSpec;

/** What {@linkcode runHandler} needs from the agent. */
export interface HandlerDeps {
  cri: Cri;
  /** Cancels the run: it then ends at once with a failed outcome. */
  signal?: AbortSignal;
}

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
      return clipOutcome({ ok: false, output: `${action.what}: cancelled: ${errorText(err)}` });
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
        output: `Build the probe URL from ${JSON.stringify(path)}: ${errorText(err)}`,
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

// ---- tcpSocket ----

async function runTcp(host: string, port: number, signal: AbortSignal): Promise<ProbeOutcome> {
  try {
    const conn = await Deno.connect({ hostname: host, port, signal });
    conn.close();
    return { ok: true, output: "" };
  } catch (err) {
    return { ok: false, output: `dial tcp ${joinHostPort(host, port)}: ${errorText(err)}` };
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
