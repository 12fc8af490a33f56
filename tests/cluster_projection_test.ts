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
