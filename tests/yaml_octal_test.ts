import assert from "node:assert/strict";
import { parseYamlStream } from "../lib/manifest/yaml.ts";
import { parseManifest } from "../lib/manifest/parse.ts";

function valueOf(text: string): unknown {
  const [doc] = parseYamlStream(text);
  assert.ok(doc);
  assert.deepEqual(doc.errors, []);
  return doc.value;
}

Deno.test("a plain integer with a leading zero is octal, as kubectl reads manifests", () => {
  const cases: [string, unknown][] = [
    ["mode: 0644", { mode: 420 }],
    ["mode: 0400", { mode: 256 }],
    ["mode: 0777", { mode: 511 }],
    ["mode: 00", { mode: 0 }],
    ["modes: [0600, 10]", { modes: [384, 10] }],
    // Quoted, it stays a string; without a leading zero, decimal; YAML 1.2's 0o form stays.
    ["mode: '0644'", { mode: "0644" }],
    ['mode: "0644"', { mode: "0644" }],
    ["mode: 644", { mode: 644 }],
    ["mode: 420", { mode: 420 }],
    ["mode: 0", { mode: 0 }],
    ["mode: 0o644", { mode: 420 }],
    ['{"mode": 420}', { mode: 420 }],
  ];
  for (const [text, want] of cases) assert.deepEqual(valueOf(text), want, text);
});

Deno.test("a secret volume's defaultMode: 0400 is 256, accepted as kubectl accepts it", () => {
  const m = parseManifest(
    "/m/pod.yaml",
    `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: app
    image: busybox:1.36
    volumeMounts: [{name: sec, mountPath: /etc/sec}]
  volumes:
  - name: sec
    secret: {secretName: creds, defaultMode: 0400, items: [{key: a, path: a, mode: 0600}]}
`,
  );
  assert.deepEqual(m.problems, []);
  const volume = m.pods[0]?.pod.spec.volumes?.[0] as Record<string, unknown> | undefined;
  assert.deepEqual(volume?.secret, {
    secretName: "creds",
    defaultMode: 256,
    items: [{ key: "a", path: "a", mode: 384 }],
  });
});
