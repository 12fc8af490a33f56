/**
 * The project's module graph as its source says it: which module imports which (type-only
 * imports included, as they tie modules together for a reader too), the import cycles in it, and
 * the layer of each `lib/` module. `tests/layout_test.ts` holds the tree to its rules with it.
 *
 * @module
 */

/** The layers of `lib/`, lowest first: a module imports only from its own layer or lower ones. */
export const LAYERS = [
  "base",
  "runtime",
  "manifest",
  "node",
  "translate",
  "probe",
  "reconcile",
  "agent",
  "cmd",
] as const;

/** Module path (relative to the root, `/`-separated) to the modules it imports. */
export type ModuleGraph = Map<string, Set<string>>;

const STATIC = new RegExp(
  String.raw`^[ \t]*(?:import|export)\s+(?:type\s+)?` +
    String.raw`(?:[\w$]+\s*,?\s*)?(?:\*\s+as\s+[\w$]+\s*)?(?:\*\s*)?(?:\{[^}]*\}\s*)?` +
    String.raw`from\s*["']([^"']+)["']`,
  "gm",
);
const BARE = /^[ \t]*import\s*["']([^"']+)["']/gm;
const DYNAMIC = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

/** The specifiers a module's text imports or re-exports from, in order of appearance. */
export function importsOf(text: string): string[] {
  const found: { at: number; spec: string }[] = [];
  for (const re of [STATIC, BARE, DYNAMIC]) {
    for (const m of text.matchAll(re)) found.push({ at: m.index, spec: m[1]! });
  }
  return found.sort((a, b) => a.at - b.at).map((f) => f.spec);
}

/** `spec` imported by the module at `from`, as a root-relative path; undefined if not relative. */
export function resolveSpecifier(from: string, spec: string): string | undefined {
  if (!spec.startsWith("./") && !spec.startsWith("../")) return undefined;
  const parts = from.split("/").slice(0, -1);
  for (const part of spec.split("/")) {
    if (part === ".") continue;
    if (part === "..") {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(part);
  }
  return parts.join("/");
}

/** Every `.ts` file under `dir` (relative to `root`), sorted. */
export function tsFilesUnder(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of Deno.readDirSync(`${root}/${rel}`)) {
      const path = `${rel}/${e.name}`;
      if (e.isDirectory) walk(path);
      else if (e.isFile && e.name.endsWith(".ts")) out.push(path);
    }
  };
  walk(dir);
  return out.sort();
}

/** The graph of `files` (root-relative), each read from `root`; imports of other files kept. */
export function readGraph(root: string, files: string[]): ModuleGraph {
  const graph: ModuleGraph = new Map();
  for (const file of files) {
    const deps = new Set<string>();
    for (const spec of importsOf(Deno.readTextFileSync(`${root}/${file}`))) {
      const path = resolveSpecifier(file, spec);
      if (path !== undefined) deps.add(path);
    }
    graph.set(file, deps);
  }
  return graph;
}

/**
 * The import cycles of `graph`: each strongly connected set of more than one module, or a module
 * importing itself, its members sorted; modules outside the graph's keys are leaves.
 */
export function cyclesOf(graph: ModuleGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const members: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      members.push(w);
    } while (w !== v);
    if (members.length > 1 || graph.get(v)?.has(v)) cycles.push(members.sort());
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return cycles;
}

/** The layer of a `lib/<layer>/…` path: its index in {@linkcode LAYERS}, or -1. */
export function layerOf(path: string): number {
  const [top, layer, rest] = path.split("/");
  if (top !== "lib" || rest === undefined) return -1;
  return (LAYERS as readonly string[]).indexOf(layer ?? "");
}
