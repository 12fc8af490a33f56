/**
 * A manifest copied from a cluster carries a `kube-api-access-*` projected volume (a service
 * account token, the cluster's CA ConfigMap, the namespace): unmounted, it is ignored with a
 * warning, as before tinylet served projected volumes; mounted, it is refused.
 *
 * @module
 */
import assert from "node:assert/strict";
import { formatProblem, parseManifest } from "../lib/manifest/parse.ts";
import { translatePod } from "../lib/translate/desired_pod.ts";

function copied(mounted: boolean): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default}
spec:
  containers:
  - name: app
    image: busybox:1.36
${
    mounted
      ? `    volumeMounts:
    - {name: kube-api-access-x2k9p, mountPath: /var/run/secrets/kubernetes.io/serviceaccount}
`
      : ""
  }  volumes:
  - name: kube-api-access-x2k9p
    projected:
      defaultMode: 420
      sources:
      - serviceAccountToken: {expirationSeconds: 3607, path: token}
      - configMap:
          name: kube-root-ca.crt
          items: [{key: ca.crt, path: ca.crt}]
      - downwardAPI:
          items:
          - path: namespace
            fieldRef: {apiVersion: v1, fieldPath: metadata.namespace}
`;
}

Deno.test("an unmounted kube-api-access volume is ignored with a warning, and the pod does not wait", async () => {
  const m = parseManifest("/m/web.yaml", copied(false));
  assert.equal(m.valid, true);
  assert.deepEqual(m.problems.map(formatProblem), [
    `/m/web.yaml:10:5: warning: Ignoring volume "kube-api-access-x2k9p": its serviceAccountToken source needs a cluster, and no container mounts it (field spec.volumes[0].projected)`,
  ]);
  const pod = await translatePod(m.pods[0]!.pod, "/m/web.yaml", {
    instance: "default",
    podLogRoot: "/var/log/pods",
    root: "/var/lib/tinylet",
    nodeName: "node1",
    hostDns: { servers: ["192.0.2.53"], searches: [], options: [] },
  });
  assert.equal(pod.waiting, undefined);
  assert.deepEqual(pod.volumes, []);
  assert.deepEqual(pod.configRefs, []);
});

Deno.test("a mounted kube-api-access volume is refused: a cluster fills it", () => {
  const m = parseManifest("/m/web.yaml", copied(true));
  assert.equal(m.valid, false);
  assert.deepEqual(m.problems.filter((p) => p.severity === "error").map((p) => p.field), [
    "spec.volumes[0].projected.sources[0].serviceAccountToken",
  ]);
});

Deno.test("a projected source that is null is an error, mounted or not; nothing crashes", async () => {
  for (const mounted of [false, true]) {
    const text = copied(mounted).replace("      sources:\n", "      sources:\n      - null\n");
    const m = parseManifest("/m/web.yaml", text);
    assert.equal(m.valid, false, `mounted: ${mounted}`);
    assert.deepEqual(
      m.problems.filter((p) => p.severity === "error").map((p) => [p.field, p.message])[0],
      [
        "spec.volumes[0].projected.sources[0]",
        "Write projected source 0 as a mapping with one of configMap, secret or downwardAPI: it is null",
      ],
    );
  }
  // A pod built without the checks (as an object) does not crash the translation either.
  const pod = parseManifest("/m/web.yaml", copied(false)).pods[0]!.pod;
  const volume = pod.spec.volumes![0]! as unknown as { projected: { sources: unknown[] } };
  volume.projected.sources.unshift(null);
  const translated = await translatePod(pod, "/m/web.yaml", {
    instance: "default",
    podLogRoot: "/var/log/pods",
    root: "/var/lib/tinylet",
    nodeName: "node1",
    hostDns: { servers: ["192.0.2.53"], searches: [], options: [] },
  });
  assert.deepEqual(translated.volumes, []);
});

Deno.test("an init container's mount counts: a cluster volume it mounts is refused", () => {
  const text = copied(false).replace(
    "  containers:\n",
    "  initContainers:\n  - name: init\n    image: busybox:1.36\n    volumeMounts:\n    - {name: kube-api-access-x2k9p, mountPath: /var/run/secrets/kubernetes.io/serviceaccount}\n  containers:\n",
  );
  const m = parseManifest("/m/web.yaml", text);
  assert.equal(m.valid, false);
  assert.deepEqual(m.problems.filter((p) => p.severity === "error").map((p) => p.field), [
    "spec.volumes[0].projected.sources[0].serviceAccountToken",
  ]);
});

Deno.test("an init container mounting an undeclared volume is an error at its mount", () => {
  const text = copied(false).replace(
    "  containers:\n",
    "  initContainers:\n  - name: init\n    image: busybox:1.36\n    volumeMounts:\n    - {name: nowhere, mountPath: /x}\n  containers:\n",
  );
  const m = parseManifest("/m/web.yaml", text);
  assert.deepEqual(m.problems.filter((p) => p.severity === "error").map(formatProblem), [
    '/m/web.yaml:9:8: error: Declare volume "nowhere" under spec.volumes, or remove this mount (field spec.initContainers[0].volumeMounts[0].name)',
  ]);
});
