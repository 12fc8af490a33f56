/**
 * YAML (and JSON, a subset of YAML 1.2) behind one module of ours, so the
 * parser can be swapped by editing this file alone. Keeps positions: every
 * field path can be turned back into a line and column.
 *
 * @module
 */
import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseAllDocuments,
  stringify,
} from "yaml";

/**
 * A plain integer with a leading zero, such as `0644`, read as octal: kubectl reads manifests
 * with YAML 1.1's rules (Kubernetes' `sigs.k8s.io/yaml`), under which `defaultMode: 0400` is
 * 256, and manifests are written for that. YAML 1.2 alone would read it as 400.
 */
const LEADING_ZERO_OCTAL = {
  identify: (value: unknown) => typeof value === "number",
  default: true,
  tag: "tag:yaml.org,2002:int",
  test: /^0[0-7]+$/,
  resolve: (source: string) => parseInt(source, 8),
};

/** A document that says it is a Secret (loosely: a false match only says less). */
const SECRET_KIND = /["']?\bkind["']?\s*:\s*["']?Secret\b/;

/** A 1-based line and column. */
export interface Position {
  line: number;
  column: number;
}

/** A problem the parser found in the text. */
export interface SyntaxProblem extends Position {
  message: string;
  /** The field the problem is at, when it is inside a mapping or list. */
  path: FieldPath;
}

/** A path into a document: object keys and array indexes. */
export type FieldPath = (string | number)[];

/** One document of a YAML stream. */
export interface YamlDocument {
  /** The plain value; `undefined` for an empty document. */
  value: unknown;
  errors: SyntaxProblem[];
  /** Where the document starts. */
  start: Position;
  /**
   * Where `path` is written: the key of the last segment for a field, the
   * item for an array index, or the closest enclosing node that exists.
   */
  locate(path: FieldPath): Position;
}

/** Bounds alias expansion ("billion laughs"). */
const MAX_ALIAS_COUNT = 100;

/** Nesting deeper than this is refused before parsing (a pod needs about 10 levels). */
export const MAX_NESTING = 100;

/** The offset where flow collections (`[`, `{`) nest deeper than `max`, or -1. Quotes and comments are skipped. */
function tooDeepAt(text: string, max: number): number {
  let depth = 0;
  let quote = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === "\\" && quote === '"') i++;
      else if (ch === quote) quote = "";
      continue;
    }
    if (ch === '"' || ch === "'") {
      const prev = text[i - 1];
      if (prev === undefined || " \t\n[{,:-".includes(prev)) quote = ch;
    } else if (ch === "#" && (i === 0 || " \t\n".includes(text[i - 1]!))) {
      const end = text.indexOf("\n", i);
      i = end < 0 ? text.length : end;
    } else if (ch === "[" || ch === "{") {
      if (++depth > max) return i;
    } else if ((ch === "]" || ch === "}") && depth > 0) {
      depth--;
    }
  }
  return -1;
}

/** Parses a stream of `---`-separated documents. */
export function parseYamlStream(text: string): YamlDocument[] {
  const lineCounter = new LineCounter();
  const deep = tooDeepAt(text, MAX_NESTING);
  if (deep >= 0) {
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < deep; i++) {
      if (text[i] === "\n") {
        line++;
        lineStart = i + 1;
      }
    }
    const at = { line, column: deep - lineStart + 1 };
    return [{
      value: undefined,
      errors: [{
        ...at,
        path: [],
        message: `it nests deeper than ${MAX_NESTING} levels (a pod needs about 10)`,
      }],
      start: { line: 1, column: 1 },
      locate: () => at,
    }];
  }
  const docs = parseAllDocuments(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
    customTags: (tags) => [LEADING_ZERO_OCTAL, ...(Array.isArray(tags) ? tags : [])],
  });
  const pos = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  // An EmptyStream (no documents at all) is array-like with no items.
  return Array.from(docs).map((doc) => {
    const contents = doc.contents as Node | null;
    // In a Secret that does not parse, the parser's messages and the keys of the partial parse
    // may be a value's text (a mis-indented key, an alias name): only the place is said.
    const secret = SECRET_KIND.test(text.slice(doc.range[0], doc.range[2]));
    const errors: SyntaxProblem[] = doc.errors.map((e) => ({
      ...pos(e.pos[0]),
      message: secret
        ? `${e.code} in a Secret (its text is not shown: it may hold a value)`
        : e.message.split("\n")[0] ?? e.message,
      path: secret ? [] : pathAt(contents, e.pos[0]),
    }));
    let value: unknown = undefined;
    if (errors.length === 0) {
      try {
        value = doc.contents === null ? undefined : doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        errors.push({
          ...pos(doc.range[0]),
          message: secret
            ? "the document cannot be read as a Secret (its text is not shown)"
            : message,
          path: [],
        });
      }
    }
    const start = pos(doc.contents?.range?.[0] ?? doc.range[0]);
    return {
      value,
      errors,
      start,
      locate(path: FieldPath): Position {
        let node: Node | null = doc.contents as Node | null;
        let at = node?.range?.[0] ?? doc.range[0];
        for (const segment of path) {
          if (isMap(node)) {
            const pair = node.items.find((p) =>
              isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment)
            );
            if (!pair) break;
            const key = pair.key as Node;
            at = key.range?.[0] ?? at;
            node = pair.value as Node | null;
          } else if (isSeq(node) && typeof segment === "number") {
            const item = node.items[segment] as Node | undefined;
            if (!item) break;
            at = item.range?.[0] ?? at;
            node = item;
          } else {
            break;
          }
        }
        return pos(at);
      },
    };
  });
}

function contains(node: unknown, offset: number): boolean {
  const range = (node as Node | null)?.range;
  return !!range && range[0] <= offset && offset < Math.max(range[1], range[0] + 1);
}

/** The field path of the key or item at `offset` (as deep as the tree goes). */
function pathAt(root: Node | null, offset: number): FieldPath {
  const path: FieldPath = [];
  let node: unknown = root;
  for (let depth = 0; depth < 256; depth++) {
    if (isMap(node)) {
      const pair = node.items.find((p) => contains(p.key, offset) || contains(p.value, offset));
      if (!pair || !isScalar(pair.key)) break;
      path.push(String(pair.key.value));
      if (contains(pair.key, offset)) break;
      node = pair.value;
    } else if (isSeq(node)) {
      const i = node.items.findIndex((item) => contains(item, offset));
      if (i < 0) break;
      path.push(i);
      node = node.items[i];
    } else {
      break;
    }
  }
  return path;
}

/** Writes `value` as YAML. */
export function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0 });
}
