/**
 * The `httpGet` handler, with kubelet's rules (`pkg/probe/http`): one GET on its own
 * connection, certificates not verified, kubelet's headers, redirects followed to the same
 * host only, at most 10 KiB of the body read, and 2xx and 3xx a success.
 *
 * @module
 */
import http from "node:http";
import https from "node:https";
import type { ProbeOutcome } from "./probes.ts";
import { concatBytes } from "../base/bytes.ts";
import { decodeBytes, errorText } from "./handler_output.ts";

/** The User-Agent of HTTP and gRPC probes (kubelet sends `kube-probe/<major>.<minor>`). */
export const PROBE_USER_AGENT = "tinylet-probe/0.1";
/** How much of an HTTP response body is read before the connection is dropped (as kubelet). */
const MAX_BODY_BYTES = 10 * 1024;
/** kubelet's redirect policy stops after 10 requests. */
const MAX_REDIRECTS = 10;

/** Header values by lower-case name. */
export type HeaderMap = Record<string, string[]>;

/** The probe's headers, plus kubelet's User-Agent and `Accept: * /*` unless set (an empty Accept removes it). */
export function probeHeaders(list: { name: string; value: string }[]): HeaderMap {
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
export async function runHttpGet(
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
      return { ok: false, output: `Get "${current.href}": ${errorText(err)}` };
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
          }: ${errorText(err)}`,
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
          body: concatBytes(chunks),
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
