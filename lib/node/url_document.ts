/**
 * The last valid document of `--manifest-url`, kept under `<root>/manifest-url/` so that an
 * agent restarted while the server is down runs the same pods:
 *
 * ```text
 * <root>/manifest-url/                mode 0700
 * <root>/manifest-url/document.json   mode 0600: {"version":1,"url":"https://...","fetchedAt":<ms>,
 *                                     "etag":"...","lastModified":"...","text":"<the document>"}
 * ```
 *
 * A write goes to a temp file beside it (`.document.json.tmp`, created exclusively, 0600,
 * synced), is renamed over the file, and the directory is synced, as the rollback state is: a
 * reader sees the old document or the new, never half of one. A file that cannot be read or
 * understood reads as none, with a warning naming it and what to do. The URL kept and matched is
 * the URL as shown (`shownUrl`: its query's values redacted), so a token in the query is never
 * written here, and a new token for the same URL keeps the document.
 *
 * @module
 */
import { shownUrl } from "../manifest/url_rules.ts";
import { ensurePrivateDir, reasonOf, writePrivateFile } from "./private_file.ts";

/** A document as kept: its URL, its text, its validators and when it was fetched. */
export interface StoredDocument {
  /** The URL as shown (`shownUrl`). */
  url: string;
  text: string;
  etag?: string;
  lastModified?: string;
  /** When it was fetched, in milliseconds since the epoch. */
  fetchedAt: number;
}

/** What a read found: the document of the URL asked for, or none, and why not. */
export interface StoredRead {
  document?: StoredDocument;
  /** Set when a file is there but cannot be used: names it and what to do. */
  warning?: string;
}

const VERSION = 1;
/** A 1 MiB document escaped as JSON fits well. */
const MAX_BYTES = 8 * 1024 * 1024;

/** The directory of the kept document: `<root>/manifest-url`. */
export function manifestUrlDir(root: string): string {
  return `${root}/manifest-url`;
}

/** The kept document of `--manifest-url` under one `--root`. */
export class UrlDocumentStore {
  /** `<root>/manifest-url`. */
  readonly dir: string;
  /** `<root>/manifest-url/document.json`. */
  readonly file: string;
  #turn: Promise<void> = Promise.resolve();

  /** `root` is the agent's `--root`; nothing is touched until the first call. */
  constructor(root: string) {
    this.dir = manifestUrlDir(root);
    this.file = `${this.dir}/document.json`;
  }

  /**
   * The document kept for `url` (as shown): none when there is no file; none with a warning
   * when the file cannot be read or understood, or holds the document of another URL. Never
   * throws.
   */
  async read(url: string): Promise<StoredRead> {
    const ignoring = (why: string): StoredRead => ({
      warning: `Ignoring the kept document of --manifest-url in ${this.file}: ${why}`,
    });
    let bytes: Uint8Array;
    try {
      const info = await Deno.lstat(this.file);
      if (!info.isFile) {
        return ignoring(`it is not a regular file; remove it (the next fetch writes it again)`);
      }
      if (info.size > MAX_BYTES) {
        return ignoring(`it has more than ${MAX_BYTES} bytes; remove it`);
      }
      bytes = await Deno.readFile(this.file);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return {};
      return ignoring(`it cannot be read (${reasonOf(err)}); check the permissions of --root`);
    }
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch (err) {
      return ignoring(`it is not JSON (${reasonOf(err)}); remove it`);
    }
    const v = (typeof value === "object" && value !== null ? value : {}) as Record<
      string,
      unknown
    >;
    if (v.version !== VERSION) {
      return ignoring(
        `its version is ${JSON.stringify(v.version) ?? "missing"}, not ${VERSION}; remove it`,
      );
    }
    const optional = (x: unknown) => x === undefined || typeof x === "string";
    if (
      typeof v.url !== "string" || typeof v.text !== "string" ||
      typeof v.fetchedAt !== "number" || !Number.isFinite(v.fetchedAt) ||
      !optional(v.etag) || !optional(v.lastModified)
    ) {
      return ignoring("it lacks the url, text or fetchedAt of a document; remove it");
    }
    const kept = URL.canParse(v.url) ? shownUrl(v.url) : undefined;
    if (kept !== url) {
      return ignoring(
        `it is the document of ${
          kept ?? "something that is not a URL"
        }, not of ${url} (the next fetch of ${url} replaces it)`,
      );
    }
    return {
      document: {
        url: kept,
        text: v.text,
        fetchedAt: v.fetchedAt,
        ...(typeof v.etag === "string" ? { etag: v.etag } : {}),
        ...(typeof v.lastModified === "string" ? { lastModified: v.lastModified } : {}),
      },
    };
  }

  /**
   * Replaces the kept document, atomically (see the module's doc). Writes take turns in call
   * order. Throws an error naming the file and what to do when it fails; the old file is then
   * untouched and no temp file is left.
   */
  write(document: StoredDocument): Promise<void> {
    const text = JSON.stringify({
      version: VERSION,
      url: document.url,
      fetchedAt: document.fetchedAt,
      ...(document.etag !== undefined ? { etag: document.etag } : {}),
      ...(document.lastModified !== undefined ? { lastModified: document.lastModified } : {}),
      text: document.text,
    }) + "\n";
    const done = this.#turn.then(() => this.#write(text));
    this.#turn = done.catch(() => {});
    return done;
  }

  async #write(text: string): Promise<void> {
    try {
      const instead = await ensurePrivateDir(this.dir);
      if (instead) {
        throw new Error(`${this.dir} is not a directory: remove it, the agent makes it`);
      }
      await writePrivateFile(this.dir, this.file, `${this.dir}/.document.json.tmp`, text);
    } catch (err) {
      throw new Error(
        `Cannot keep the document of --manifest-url in ${this.file}: ${
          reasonOf(err)
        } (check that --root is writable and its disk has room; an agent restarted while the server is down would not have it)`,
        { cause: err },
      );
    }
  }
}
