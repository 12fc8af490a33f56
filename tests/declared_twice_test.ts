import assert from "node:assert/strict";
import { desiredState } from "../lib/reconcile/desired.ts";
import { parseManifest } from "../lib/manifest/parse.ts";

const POD = `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers: [{name: app, image: busybox:1.36}]
`;

Deno.test("a pod in two files: an error at the second, a warning at the first, which wins", async () => {
  const a = parseManifest("/m/a.yaml", POD);
  const b = parseManifest("/m/b.yaml", `# the same pod\n${POD}`);
  const desired = await desiredState(
    { dir: "/m", present: true, manifests: [a, b], lastValid: new Map() },
    {
      instance: "default",
      podLogRoot: "/var/log/pods",
      root: "/var/lib/tinylet",
      nodeName: "node1",
      hostDns: { servers: ["192.0.2.53"], searches: [], options: [] },
    },
  );
  assert.deepEqual(desired.problems, [{
    file: "/m/b.yaml",
    line: 2,
    column: 1,
    severity: "error",
    field: "",
    message:
      'Rename or remove this pod: "default/web" is also declared in /m/a.yaml:1, which wins (the lexically first file)',
  }, {
    file: "/m/a.yaml",
    line: 1,
    column: 1,
    severity: "warning",
    field: "",
    message:
      'Pod "default/web" is also declared in /m/b.yaml:2; this file wins (the lexically first file)',
  }]);
  assert.equal(desired.pods.get("default/web")?.source, "/m/a.yaml");
});
