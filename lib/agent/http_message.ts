/**
 * HTTP/1.1 messages as the agent's server reads and writes them (RFC 9112): a request head
 * parsed into its method, target and framing, or refused with a status; a response head
 * formatted; the end of a head found in a buffer. Pure.
 *
 * @module
 */

/** The reason phrase of each status the server sends. */
const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

/** A request that cannot be served: answered with `status` and `message`, then closed. */
export class Refusal {
  constructor(readonly status: number, readonly message: string) {}
}

/** A request head the server can answer. */
export interface RequestHead {
  method: string;
  target: string;
  keepAlive: boolean;
  /** The request announces a body, which is not read: the connection closes after the answer. */
  hasBody: boolean;
}

/** Parses a request head (the request line and header lines, without the blank line). */
export function parseHead(head: string): RequestHead | Refusal {
  // Empty lines before the request line are ignored (RFC 9112 2.2).
  const lines = head.replace(/^(?:\r?\n)+/, "").split(/\r?\n/);
  const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/(\d)\.(\d)$/.exec(lines[0] ?? "");
  if (!m) return new Refusal(400, "Bad request line");
  const [, method = "", target = "", major, minor] = m;
  if (major !== "1") return new Refusal(505, "Use HTTP/1.1");
  let keepAlive = minor !== "0";
  let hasBody = false;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    // No name, whitespace before the colon, or a folded line (RFC 9112 5.1, 5.2).
    if (colon <= 0 || /[\s]/.test(line.slice(0, colon))) {
      return new Refusal(400, "Bad header line");
    }
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "connection") {
      const tokens = value.toLowerCase().split(",").map((t) => t.trim());
      if (tokens.includes("close")) keepAlive = false;
      if (tokens.includes("keep-alive") && minor === "0") keepAlive = true;
    } else if (name === "transfer-encoding") {
      hasBody = true;
    } else if (name === "content-length") {
      if (!/^\d+$/.test(value)) return new Refusal(400, "Bad Content-Length");
      if (Number(value) > 0) hasBody = true;
    }
  }
  // Origin form (`/healthz`), or absolute form (`http://host/healthz`), which RFC 9112 3.2.2
  // says a server must accept.
  const absolute = /^https?:\/\/[^/?#]*(.*)$/i.exec(target);
  const path = absolute ? absolute[1] || "/" : target;
  if (!path.startsWith("/")) return new Refusal(400, "Use a path that starts with /");
  return { method, target: path, keepAlive, hasBody };
}

/** The head of a response: status line, `headers`, then its length and keep-alive framing. */
export function responseHead(
  status: number,
  headers: Headers,
  length: number,
  keepAlive: boolean,
): string {
  let out = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "Unknown"}\r\n`;
  headers.forEach((value, name) => {
    if (name !== "content-length" && name !== "connection") out += `${name}: ${value}\r\n`;
  });
  out += `content-length: ${length}\r\nconnection: ${keepAlive ? "keep-alive" : "close"}\r\n\r\n`;
  return out;
}

/** A plain-text response of `text` and a newline. */
export function plain(status: number, text: string): Response {
  return new Response(`${text}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/**
 * Where the head in `buf[0..length]` ends: `head`, the end of its last line (its line break
 * excluded), and `next`, the first byte after the blank line; undefined: not all of it is here.
 */
export function headEnd(
  buf: Uint8Array,
  length: number,
): { head: number; next: number } | undefined {
  for (let i = 0; i < length; i++) {
    if (buf[i] !== 0x0a) continue;
    if (buf[i + 1] === 0x0a && i + 1 < length) return { head: i, next: i + 2 };
    if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a && i + 2 < length) {
      return { head: i > 0 && buf[i - 1] === 0x0d ? i - 1 : i, next: i + 3 };
    }
  }
  return undefined;
}
