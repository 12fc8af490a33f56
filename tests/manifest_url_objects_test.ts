/**
 * The URL's document takes what a file takes: v1 Pods, ConfigMaps and Secrets, several
 * documents. A Secret there is judged by no file mode (the transport protects it).
 */
import assert from "node:assert/strict";
import type { ContainerConfig } from "../lib/runtime/cri.ts";
import { documentServer } from "../testing/document_server.ts";
import { urlFixture } from "../testing/url_fixture.ts";
import { FIXTURE_IMAGE } from "../testing/reconciler_fixture.ts";

const DOCUMENT = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  GREETING: hello
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  TOKEN: s3cret
---
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
    - name: app
      image: ${FIXTURE_IMAGE}
      env:
        - name: GREETING
          valueFrom:
            configMapKeyRef: { name: settings, key: GREETING }
        - name: TOKEN
          valueFrom:
            secretKeyRef: { name: creds, key: TOKEN }
`;

Deno.test("a v1 Pod reading a ConfigMap and a Secret from the same URL runs with their values", async () => {
  await using server = documentServer({ kind: "document", text: DOCUMENT });
  const { f, url, sync } = await urlFixture(server.url);
  await using _f = f;
  const r = await sync();
  assert.deepEqual(r.problems, []);
  const configs = f.cri.calls.filter((c) => c.method === "CreateContainer")
    .map((c) => (c.arg as { config: ContainerConfig }).config);
  assert.deepEqual(configs.map((c) => c.envs), [[
    { key: "GREETING", value: "hello" },
    { key: "TOKEN", value: "s3cret" },
  ]]);
  assert.equal(url.status().declares, "1 pod and 2 ConfigMaps and Secrets");
});
