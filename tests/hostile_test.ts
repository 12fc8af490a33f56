import assert from "node:assert/strict";
import { formatProblem, parseManifest } from "../lib/manifest/parse.ts";

Deno.test("a document nested 100000 levels deep is refused at once, with its position", () => {
  // The duplicate "name" on line 3 is what the YAML parser would report: the one problem
  // below is the nesting guard's alone, so the text was refused before the parser built it.
  const m = parseManifest(
    "/m/deep.yaml",
    `name: web\nx: ${"[".repeat(100_000)}${"]".repeat(100_000)}\nname: again\n`,
  );
  assert.deepEqual(m.problems.map(formatProblem), [
    // Line 2 is "x: " then brackets: the 101st "[" is at column 3 + 101 = 104.
    "/m/deep.yaml:2:104: error: Fix the syntax: it nests deeper than 100 levels (a pod needs about 10)",
  ]);
  // The same duplicate, nested within the bound, reaches the parser, which reports it.
  const shallow = parseManifest(
    "/m/shallow.yaml",
    `name: web\nx: ${"[".repeat(99)}${"]".repeat(99)}\nname: again\n`,
  );
  assert.deepEqual(shallow.problems.map((p) => `${p.line}:${p.field}`), ["3:name"]);
});

Deno.test("brackets inside quotes and comments do not count as nesting", () => {
  const text = `name: web # [[[[[[[[[[\ncontainers: [{name: c, image: busybox, args: ["${
    "[".repeat(200)
  }", '${"{".repeat(200)}']}]\n`;
  const m = parseManifest("/m/q.yaml", text);
  assert.deepEqual(m.problems, []);
});

Deno.test("a billion-laughs alias bomb is refused quickly instead of expanding", () => {
  const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 10; i++) {
    const prev = String.fromCharCode(96 + i);
    const cur = String.fromCharCode(97 + i);
    lines.push(`${cur}: &${cur} [${Array(10).fill(`*${prev}`).join(",")}]`);
  }
  lines.push("name: bomb", "containers: [{name: c, image: busybox}]");
  const m = parseManifest("/m/bomb.yaml", lines.join("\n") + "\n");
  assert.equal(m.valid, false);
  assert.match(formatProblem(m.problems[0]!), /^\/m\/bomb\.yaml:\d+:\d+: error: .*alias/i);
  // Refused by the alias count, a bound on work (100 nodes reached through aliases), not by
  // running out of time or memory while expanding.
  assert.match(m.problems[0]!.message, /Excessive alias count/);
  assert.equal(m.problems.length, 1);
  assert.deepEqual(m.pods, []);
});
