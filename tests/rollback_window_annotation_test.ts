import assert from "node:assert/strict";
import { formatProblem, parseManifest } from "../lib/manifest/parse.ts";
import { rollbackWindowOf } from "../lib/manifest/opt_in.ts";

function withAnnotations(annotations: string): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: web
  annotations:
${annotations}
spec:
  containers: [{name: app, image: busybox:1.36}]
`;
}

Deno.test("tinylet.dev/rollback-window takes a duration from 1s, or 0", () => {
  const cases: [string, ReturnType<typeof rollbackWindowOf>][] = [
    ["5m", { ms: 300_000 }],
    ["1s", { ms: 1_000 }],
    ["1m30s", { ms: 90_000 }],
    ["0", { ms: 0 }],
    ["0s", { ms: 0 }],
    ["999ms", { error: '"999ms" is negative or shorter than 1s' }],
    ["-5m", { error: '"-5m" is negative or shorter than 1s' }],
    ["700h", { error: '"700h" is longer than 596h31m23.647s' }],
  ];
  for (const [value, want] of cases) assert.deepEqual(rollbackWindowOf(value), want, value);
  assert.ok("error" in rollbackWindowOf("soon"));
});

Deno.test("a bad tinylet.dev/rollback-window is an error at the annotation; a good one is quiet", () => {
  const good = parseManifest(
    "/m/web.yaml",
    withAnnotations(`    tinylet.dev/rollback-window: "2m"`),
  );
  assert.deepEqual(good.problems, []);
  const off = parseManifest("/m/web.yaml", withAnnotations(`    tinylet.dev/rollback-window: "0"`));
  assert.deepEqual(off.problems, []);
  const bad = parseManifest(
    "/m/web.yaml",
    withAnnotations(`    tinylet.dev/rollback-window: "100ms"`),
  );
  assert.deepEqual(bad.problems.map(formatProblem), [
    '/m/web.yaml:6:5: error: Set "tinylet.dev/rollback-window" to a duration from 1s, such as "5m", or to "0" (no rollback for this pod): "100ms" is negative or shorter than 1s (field metadata.annotations.tinylet.dev/rollback-window)',
  ]);
  const unknown = parseManifest("/m/web.yaml", withAnnotations(`    tinylet.dev/rolback: "2m"`));
  assert.deepEqual(unknown.problems.map(formatProblem), [
    '/m/web.yaml:6:5: warning: Ignoring the annotation "tinylet.dev/rolback": tinylet knows "tinylet.dev/auto-update", "tinylet.dev/rollback-window" (field metadata.annotations.tinylet.dev/rolback)',
  ]);
});
