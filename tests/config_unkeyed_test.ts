import assert from "node:assert/strict";
import { translatePod } from "../lib/translate/desired_pod.ts";
import type { Pod } from "../lib/manifest/pod.ts";

const OPTIONS = {
  instance: "default",
  podLogRoot: "/var/log/pods",
  root: "/var/lib/tinylet",
  nodeName: "node1",
  hostDns: { servers: ["192.0.2.53"], searches: [], options: [] },
  configHashKeyError: "tinylet cannot make its config hash key in /ro: read-only",
};

const LOOKUP = {
  configMap: () => ({ data: { greeting: "hello" } }),
  secret: () => undefined,
};

function pod(env: NonNullable<Pod["spec"]["containers"][0]["env"]>): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web" },
    spec: { containers: [{ name: "app", image: "busybox:1.36", env }] },
  };
}

Deno.test("without a config hash key, a pod whose env reads objects waits; others run", async () => {
  const reads = await translatePod(
    pod([{ name: "G", valueFrom: { configMapKeyRef: { name: "cfg", key: "greeting" } } }]),
    "/m/web.yaml",
    OPTIONS,
    LOOKUP,
  );
  assert.deepEqual(reads.waiting, {
    reason: "CreateContainerConfigError",
    message: "tinylet cannot make its config hash key in /ro: read-only",
    field: "spec",
  });
  const plain = await translatePod(pod([{ name: "G", value: "x" }]), "/m/web.yaml", OPTIONS);
  assert.equal(plain.waiting, undefined);
});
