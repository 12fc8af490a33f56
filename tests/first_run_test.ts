/**
 * A fresh checkout's first `deno task demo` and `deno task test` print no warning about npm
 * build scripts. protobufjs (under @grpc/proto-loader) has a postinstall script; Deno runs
 * such scripts only into a node_modules directory, and otherwise warns once per project and
 * package, in a boxed "Ignored build scripts" message. deno.json denies that script instead.
 *
 * The checkout is a copy of this one without its test files, in a new directory. The Deno
 * cache is a copy of this machine's npm packages without the markers Deno leaves once it has
 * warned, so each run is a first run, and needs no network.
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
/**
 * The checkout's files, without what a run would not see on a fresh machine, and without the
 * test files (one probe stands for them): top-level entries, then those of `tests/`.
 */
async function checkoutFiles(): Promise<string[]> {
  const files: string[] = [];
  for await (const e of Deno.readDir(ROOT)) {
    if ([".git", "node_modules", "dist", ".tinylet", "tests"].includes(e.name)) continue;
    files.push(e.name);
  }
  for await (const e of Deno.readDir(`${ROOT}/tests`)) {
    if (!e.name.endsWith("_test.ts")) files.push(`tests/${e.name}`);
  }
  return files;
}
/** Stands for the test suite: it loads what the real tests load from npm. */
const PROBE_TEST = `import "@grpc/grpc-js";
import "@grpc/proto-loader";
import "yaml";
import { connectCri } from "../lib/runtime/grpc.ts";

Deno.test("the gRPC client loads", () => {
  connectCri("/nonexistent.sock", { timeoutMs: 1 }).close();
});
`;

async function run(cmd: string, args: string[], options: Deno.CommandOptions = {}) {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", ...options })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

/** The npm cache this machine's Deno uses. */
async function npmCache(): Promise<string> {
  const info = await run(Deno.execPath(), ["info", "--json"]);
  assert.equal(info.code, 0, info.text);
  const cache = JSON.parse(info.text).npmCache;
  assert.equal(typeof cache, "string", info.text);
  return cache;
}

/** Deletes Deno's "warned about this package's scripts" markers under `dir`. */
async function forgetWarnings(dir: string): Promise<number> {
  let removed = 0;
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) removed += await forgetWarnings(path);
    else if (e.name.startsWith(".scripts-warned-")) {
      await Deno.remove(path);
      removed++;
    }
  }
  return removed;
}

/**
 * Runs `deno ARGS` once in a fresh copy of the checkout, with a Deno cache that has never
 * warned about anything.
 */
async function firstRun(args: string[]): Promise<{ code: number; text: string }> {
  const tmp = await Deno.makeTempDir({ prefix: "tinylet-first-run-" });
  try {
    const checkout = `${tmp}/checkout`;
    const denoDir = `${tmp}/deno`;
    await Deno.mkdir(`${checkout}/tests`, { recursive: true });
    await Deno.mkdir(denoDir);
    const copy = await run("cp", ["-a", await npmCache(), `${denoDir}/npm`]);
    assert.equal(copy.code, 0, copy.text);
    await forgetWarnings(`${denoDir}/npm`);
    for (const f of await checkoutFiles()) {
      const r = await run("cp", ["-a", `${ROOT}/${f}`, `${checkout}/${f}`]);
      assert.equal(r.code, 0, r.text);
    }
    await Deno.writeTextFile(`${checkout}/tests/grpc_probe_test.ts`, PROBE_TEST);
    return await run(Deno.execPath(), args, {
      cwd: checkout,
      env: { DENO_DIR: denoDir, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

const WARNING = /Warning|Ignored build scripts|protobufjs/;

Deno.test("a fresh checkout's first deno task demo prints no build-script warning", async () => {
  // The demo's own flag check ends it early, after Deno has set up its npm packages.
  const demo = await firstRun(["task", "demo", "--local", "--manifests", "/no/such/dir"]);
  assert.equal(demo.code, 2, demo.text);
  assert.match(demo.text, /Open the manifest directory "\/no\/such\/dir": it does not exist/);
  assert.doesNotMatch(demo.text, WARNING, demo.text);
});

Deno.test("a fresh checkout's first deno task test prints no build-script warning", async () => {
  const test = await firstRun(["task", "test", "--cached-only"]);
  assert.equal(test.code, 0, test.text);
  assert.match(test.text, /ok \| 1 passed \| 0 failed/);
  assert.doesNotMatch(test.text, WARNING, test.text);
});
