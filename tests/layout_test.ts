/**
 * The tree keeps its shape: no import cycle, `lib/` layers importing only downwards, `tests/`
 * holding only tests that nothing else imports, no module past 400 lines, every module named in
 * the README's layout table, and the type check covering every folder of code.
 */
import assert from "node:assert/strict";
import {
  cyclesOf,
  importsOf,
  layerOf,
  LAYERS,
  type ModuleGraph,
  readGraph,
  resolveSpecifier,
  tsFilesUnder,
} from "../testing/module_graph.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CODE_DIRS = ["lib", "testing", "bench", "demo"];
const MAX_LINES = 400;

let graph: ModuleGraph | undefined;

/** The project's module graph, read once for the tests that look at it. */
function projectGraph(): ModuleGraph {
  const files = () => ["main.ts", ...[...CODE_DIRS, "tests"].flatMap((d) => tsFilesUnder(ROOT, d))];
  return graph ??= readGraph(ROOT, files());
}

Deno.test("importsOf: static, type-only, re-exported, bare and dynamic imports, multi-line", () => {
  const text = [
    `import assert from "node:assert/strict";`,
    `import type { A } from "./a.ts";`,
    `import {`,
    `  b,`,
    `  type C,`,
    `} from "../x/b.ts";`,
    `import d, { e } from "./d.ts";`,
    `import * as f from "./f.ts";`,
    `export { g } from "./g.ts";`,
    `export * from "./h.ts";`,
    `export type { I } from "./i.ts";`,
    `import "./side.ts";`,
    `const j = await import("./j.ts");`,
    `// import k from "./k.ts" is said in a comment, after code: still on a code line`,
    ` * the text "import from" in a doc comment names no module`,
    `export function l() { return "from './l.ts'"; }`,
  ].join("\n");
  assert.deepEqual(importsOf(text), [
    "node:assert/strict",
    "./a.ts",
    "../x/b.ts",
    "./d.ts",
    "./f.ts",
    "./g.ts",
    "./h.ts",
    "./i.ts",
    "./side.ts",
    "./j.ts",
  ]);
});

Deno.test("resolveSpecifier: relative paths from the importing module; others are not ours", () => {
  assert.equal(resolveSpecifier("lib/cmd/top.ts", "../node/usage.ts"), "lib/node/usage.ts");
  assert.equal(resolveSpecifier("lib/cmd/top.ts", "./cli.ts"), "lib/cmd/cli.ts");
  assert.equal(resolveSpecifier("main.ts", "./lib/cmd/cli.ts"), "lib/cmd/cli.ts");
  assert.equal(resolveSpecifier("tests/a_test.ts", "../testing/wait.ts"), "testing/wait.ts");
  assert.equal(resolveSpecifier("main.ts", "../outside.ts"), undefined);
  assert.equal(resolveSpecifier("lib/base/log.ts", "npm:yaml"), undefined);
  assert.equal(resolveSpecifier("lib/base/log.ts", "node:util"), undefined);
});

Deno.test("cyclesOf: finds each cycle once, a self-import too, and none in a tree", () => {
  const graph: ModuleGraph = new Map([
    ["a", new Set(["b"])],
    ["b", new Set(["c", "outside"])],
    ["c", new Set(["a"])],
    ["d", new Set(["d"])],
    ["e", new Set(["a", "f"])],
    ["f", new Set<string>()],
  ]);
  assert.deepEqual(cyclesOf(graph), [["a", "b", "c"], ["d"]]);
  const tree: ModuleGraph = new Map([
    ["a", new Set(["b", "c"])],
    ["b", new Set(["c"])],
    ["c", new Set<string>()],
  ]);
  assert.deepEqual(cyclesOf(tree), []);
});

Deno.test("layerOf: the folder under lib/, and -1 elsewhere", () => {
  assert.equal(layerOf("lib/base/clock.ts"), 0);
  assert.equal(layerOf("lib/cmd/top.ts"), 8);
  assert.equal(layerOf("lib/loose.ts"), -1);
  assert.equal(layerOf("testing/wait.ts"), -1);
});

Deno.test("the project has no import cycle, type-only imports included", () => {
  assert.deepEqual(cyclesOf(projectGraph()), []);
});

Deno.test("lib/ is one folder per layer, each importing its own layer or lower ones only", () => {
  const wrong: string[] = [];
  for (const [file, deps] of projectGraph()) {
    if (!file.startsWith("lib/")) continue;
    const layer = layerOf(file);
    if (layer < 0) {
      wrong.push(`${file} is in no layer folder (${LAYERS.join(", ")})`);
      continue;
    }
    for (const dep of deps) {
      const to = layerOf(dep);
      if (to < 0) wrong.push(`${file} imports ${dep}, outside lib/'s layers`);
      else if (to > layer) wrong.push(`${file} (${LAYERS[layer]}) imports ${dep} (${LAYERS[to]})`);
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("tests/ holds only *_test.ts files, and nothing outside it imports them", () => {
  const others = [...Deno.readDirSync(`${ROOT}/tests`)]
    .filter((e) => !(e.isFile && e.name.endsWith("_test.ts")))
    .map((e) => e.name);
  assert.deepEqual(others, []);
  const into: string[] = [];
  for (const [file, deps] of projectGraph()) {
    if (file.startsWith("tests/")) continue;
    for (const dep of deps) if (dep.startsWith("tests/")) into.push(`${file} imports ${dep}`);
  }
  assert.deepEqual(into, []);
});

Deno.test(`no module of main.ts, lib/, testing/, bench/ or demo/ is over ${MAX_LINES} lines`, () => {
  const long = ["main.ts", ...CODE_DIRS.flatMap((d) => tsFilesUnder(ROOT, d))]
    .map((file) => ({
      file,
      lines: Deno.readTextFileSync(`${ROOT}/${file}`).split("\n").length - 1,
    }))
    .filter((m) => m.lines > MAX_LINES)
    .map((m) => `${m.file}: ${m.lines} lines`);
  assert.deepEqual(long, []);
});

Deno.test("the README's layout table names every module of main.ts, lib/, testing/, bench/ and demo/", () => {
  const readme = Deno.readTextFileSync(`${ROOT}/README.md`);
  const start = readme.indexOf("\n## Layout\n");
  assert.ok(start >= 0, "README.md has a ## Layout section");
  const end = readme.indexOf("\n## ", start + 1);
  const layout = readme.slice(start, end < 0 ? undefined : end);
  const unnamed = ["main.ts", ...CODE_DIRS.flatMap((d) => tsFilesUnder(ROOT, d))]
    .filter((file) => !layout.includes(`\`${file}\``));
  assert.deepEqual(unnamed, []);
});

Deno.test("deno task check type-checks main.ts and every folder of code", () => {
  const tasks = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`)).tasks as Record<
    string,
    string
  >;
  const args = (tasks.check ?? "").split(/\s+/);
  assert.deepEqual(args.slice(0, 2), ["deno", "check"]);
  for (const path of ["main.ts", "lib/", "tests/", "testing/", "bench/", "demo/"]) {
    assert.ok(args.includes(path), `deno task check covers ${path}: ${tasks.check}`);
  }
});
