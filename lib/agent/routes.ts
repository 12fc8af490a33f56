/**
 * The agent's HTTP endpoint (`--listen`): `/healthz` (200 `ok`, 200 `degraded: <why>` while
 * `--manifest-url` fails and its pods run from the last good document, 503 with the reason),
 * `/metrics` in the Prometheus text format, and `/pods` as JSON.
 *
 * @module
 */
import { printable, terminalJson } from "../base/escape.ts";
import { DEFAULT_HTTP_LIMITS, type HttpLimits, serveBounded } from "./http_server.ts";

/** What the endpoint serves. */
export interface HttpHandlers {
  /** Healthy or not (the reason); when healthy, why it is degraded, if it is. */
  health(): { ok: boolean; reason: string; degraded?: string };
  /** The exposition text; read when scraped (the resource metrics ask the runtime). */
  metrics(): string | Promise<string>;
  pods(): unknown;
}

/** The routes, as a plain request handler (served by {@linkcode serveHttp}, called directly by tests). */
export function handler(h: HttpHandlers): (req: Request) => Promise<Response> {
  return async (req) => {
    const url = new URL(req.url);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("Use GET\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    switch (url.pathname) {
      case "/healthz": {
        const { ok, reason, degraded } = h.health();
        // Read with curl on a terminal as often as by a monitor: no control character reaches it.
        const body = !ok ? reason : degraded === undefined ? "ok" : `degraded: ${degraded}`;
        return new Response(`${printable(body)}\n`, {
          status: ok ? 200 : 503,
          headers: { "content-type": "text/plain; charset=utf-8" },
        });
      }
      case "/metrics":
        return new Response(await h.metrics(), {
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
        });
      case "/pods":
        return new Response(terminalJson(h.pods(), 2) + "\n", {
          headers: { "content-type": "application/json" },
        });
      default:
        return new Response("Not found: try /healthz, /metrics or /pods\n", { status: 404 });
    }
  };
}

/**
 * Serves `handlers` on `hostname:port` until `signal` aborts, every connection bounded
 * ({@linkcode DEFAULT_HTTP_LIMITS}: headers within 5 s, 5 s idle between requests, 16 at once).
 */
export function serveHttp(
  listen: { hostname: string; port: number },
  handlers: HttpHandlers,
  signal: AbortSignal,
  onListen?: (addr: { hostname: string; port: number }) => void,
  limits: HttpLimits = DEFAULT_HTTP_LIMITS,
): Deno.HttpServer<Deno.NetAddr> {
  return serveBounded(listen, handler(handlers), signal, limits, onListen);
}
