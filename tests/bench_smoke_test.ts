/**
 * The bench cannot rot: `bench/bench.ts --quick` runs against a private real
 * containerd and prints every section with numbers. Speed is never asserted.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { missingPrerequisites } from "../testing/host_prerequisites.ts";

const BENCH = fileURLToPath(new URL("../bench/bench.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const NAME = "the bench runs in --quick mode and prints every section's figures";
/** The quick run takes about a minute on a quiet 2-core machine; more means it hangs. */
const TIMEOUT_MS = 240_000;

const NUMBER = String.raw`\d+(?:\.\d+)?`;
const MS = String.raw`${NUMBER} ms`;
const VERDICT = String.raw`(?:ok|MISSED)`;

/** What the table must show: each section's header and its figures. */
const EXPECTED: RegExp[] = [
  /^tinylet benchmarks$/m,
  new RegExp(String.raw`^Machine: .+, \d+ cores, ${NUMBER} GiB memory`, "m"),
  /^Runtime: containerd \S+/m,
  /^Deno: \d+\.\d+\.\d+/m,
  /^Cold start: /m,
  new RegExp(String.raw`^  2 pods: tinylet\s+${MS}$`, "m"),
  new RegExp(String.raw`^  2 pods: bare client\s+${MS}$`, "m"),
  new RegExp(
    String.raw`^  2 pods: bare client, to the last StartContainer's return\s+${MS}$`,
    "m",
  ),
  new RegExp(String.raw`^  2 pods: bare client, bench polling meanwhile\s+${MS}$`, "m"),
  new RegExp(String.raw`^  2 pods: tinylet agent CPU meanwhile\s+${MS} CPU$`, "m"),
  new RegExp(
    String.raw`^  2 pods: 4 calls per pod: CreateContainer 1 \(${MS}\), ImageStatus 1`,
    "m",
  ),
  new RegExp(String.raw`^  2 pods: ratio tinylet / bare\s+${NUMBER}\s+<= 1\.10\s+${VERDICT}$`, "m"),
  new RegExp(
    String.raw`^  2 pods: ${NUMBER} calls per pod in \d+ passes: .*RunPodSandbox 1 \(${MS}\)`,
    "m",
  ),
  /^Reaction: /m,
  new RegExp(String.raw`^  tinylet p50\s+${MS}\s+<= bare p50 \+ 100 ms = ${MS}\s+${VERDICT}$`, "m"),
  new RegExp(String.raw`^  tinylet p95\s+${MS}$`, "m"),
  new RegExp(String.raw`^  bare client one pod p50\s+${MS}$`, "m"),
  new RegExp(
    String.raw`^Teardown: N files.*\n  2 pods: tinylet\s+${MS}\n  2 pods: bare client\s+${MS}\n` +
      String.raw`  2 pods: ratio tinylet / bare\s+${NUMBER}$`,
    "m",
  ),
  new RegExp(
    String.raw`^  2 pods: ${NUMBER} calls per pod in \d+ passes: .*RemovePodSandbox 1 \(${MS}\)`,
    "m",
  ),
  /^Idle: 2 pods converged/m,
  new RegExp(String.raw`^  agent CPU\s+${NUMBER} % of a core\s+<= 0\.5 %\s+${VERDICT}$`, "m"),
  new RegExp(
    String.raw`^  agent RSS \(VmRSS\) at the end\s+${NUMBER} MB\s+<= 100 MB\s+${VERDICT}$`,
    "m",
  ),
  new RegExp(String.raw`^  CRI calls per pass\s+${NUMBER}\s+2 \(the two lists`, "m"),
  new RegExp(String.raw`^    ListPodSandbox per pass\s+${NUMBER}$`, "m"),
  new RegExp(
    String.raw`^  first \d+ s after converging: CPU \(\d+ passes\)\s+${NUMBER} % of a core$`,
    "m",
  ),
  new RegExp(
    String.raw`^  same agent before any pod: CPU \(\d+ passes\)\s+${NUMBER} % of a core$`,
    "m",
  ),
  /^Pass without a runtime: /m,
  new RegExp(String.raw`^  10 pods: first \(every file parsed\)\s+${MS}`, "m"),
  new RegExp(
    String.raw`^  10 pods: files changed in the last 2 s \(read, not parsed\)\s+${MS}$`,
    "m",
  ),
  new RegExp(String.raw`^  10 pods: warm \(unchanged files: stat only\)\s+${MS}$`, "m"),
  new RegExp(String.raw`^  10 pods: whole Reconciler\.pass\(\) on the fake runtime\s+${MS}$`, "m"),
];

async function runQuickBench(): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", BENCH, "--quick"],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const signal = (sig: Deno.Signal) => {
    try {
      child.kill(sig);
    } catch {
      // Already gone.
    }
  };
  // SIGINT first: the bench then removes its containerd before it exits.
  const timers = [
    setTimeout(() => signal("SIGINT"), TIMEOUT_MS),
    setTimeout(() => signal("SIGKILL"), TIMEOUT_MS + 60_000),
  ];
  const t0 = performance.now();
  let out: Deno.CommandOutput;
  try {
    out = await child.output();
  } finally {
    for (const timer of timers) clearTimeout(timer);
  }
  const text = new TextDecoder();
  const stdout = text.decode(out.stdout);
  const stderr = text.decode(out.stderr);
  const seconds = Math.round((performance.now() - t0) / 1000);
  console.log(`bench --quick took ${seconds} s:\n${stdout}`);
  const context = `stdout:\n${stdout}\nstderr:\n${stderr}`;
  assert.equal(out.code, 0, `bench --quick exited with ${out.code}\n${context}`);
  for (const re of EXPECTED) {
    assert.match(stdout, re, `the table lacks ${re}\n${context}`);
  }
  assert.doesNotMatch(
    stdout,
    /NaN|undefined|Infinity/,
    `the table has a broken figure\n${context}`,
  );
}

const missing = await missingPrerequisites();
if (missing.length === 0) {
  Deno.test(NAME, runQuickBench);
} else {
  const message = `Cannot run "${NAME}" against the real containerd: ${missing.join("; ")}`;
  if (Deno.env.get("CI") === "true") {
    Deno.test(NAME, () => {
      throw new Error(message);
    });
  } else {
    console.log(`ignored: ${message}`);
    Deno.test({ name: NAME, ignore: true, fn: () => {} });
  }
}
