/**
 * ConfigMaps and Secrets wired into the desired state (`lib/reconcile/desired.ts`): a pod's env
 * read from them reaches its container config, its hash and UID follow the values its env
 * reads (and nothing else), and envFrom names each key after its prefix (see
 * `config_waits_test.ts` for pods that wait). Pods and objects are built as objects
 * (`testing/config_fixtures.ts`); the hashes and UIDs were computed outside tinylet (python's
 * hashlib and hmac over the canonical JSON of the pods) and pasted.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  CFG,
  configMap,
  CREDS,
  desiredPod,
  envOf,
  IMAGE,
  manifest,
  PLAIN,
  PLAIN_HASH,
  pod,
  scan,
  WEB,
  WEB_HELLO_ENV,
  WEB_HI_ENV,
  WEB_SPEC_HASH,
  WEB_UID,
} from "../testing/config_fixtures.ts";

const text = new TextEncoder();
// The first 128 bits of sha256("default\nplain\n" + PLAIN_HASH), as a UUID.
const PLAIN_UID = "78e1a197-ad44-c56b-7fb3-c30bc42d6d25";

Deno.test("env read from a ConfigMap and a Secret reaches the container config", async () => {
  const { pod: p, problems } = await desiredPod(
    scan(manifest("/m/a.yaml", [CFG, CREDS], [WEB])),
    "default/web",
  );
  assert.equal(p.waiting, undefined);
  assert.deepEqual(problems, []);
  assert.deepEqual(envOf(p), [
    { key: "A", value: "1" },
    { key: "G", value: "hello" },
    { key: "T", value: "s3cret" },
  ]);
  assert.deepEqual(p.configRefs, [
    {
      kind: "ConfigMap",
      name: "cfg",
      optional: false,
      field: "spec.containers[0].env[1].valueFrom.configMapKeyRef",
    },
    {
      kind: "Secret",
      name: "creds",
      optional: false,
      field: "spec.containers[0].env[2].valueFrom.secretKeyRef",
    },
  ]);
});

Deno.test("a pod without env references keeps its spec hash, whatever its volumes read", async () => {
  const before = await desiredPod(scan(manifest("/m/a.yaml", [CFG], [PLAIN])), "default/plain");
  assert.equal(before.pod.hash, PLAIN_HASH);
  assert.equal(before.pod.envHash, undefined);
  assert.equal(before.pod.uid, PLAIN_UID);
  assert.deepEqual(before.pod.volumes, [{
    name: "conf",
    config: {
      plugin: "kubernetes.io~configmap",
      memory: false,
      payload: new Map([["greeting", { data: text.encode("hello"), mode: 0o644 }]]),
    },
  }]);
  // Only volume data changes: the same hash and UID, the new content.
  const edited = configMap("cfg", { greeting: "hi", extra: "x" });
  const after = await desiredPod(scan(manifest("/m/a.yaml", [edited], [PLAIN])), "default/plain");
  assert.equal(after.pod.hash, PLAIN_HASH);
  assert.equal(after.pod.uid, PLAIN_UID);
  assert.deepEqual(
    after.pod.volumes[0]?.config?.payload,
    new Map([
      ["extra", { data: text.encode("x"), mode: 0o644 }],
      ["greeting", { data: text.encode("hi"), mode: 0o644 }],
    ]),
  );
});

Deno.test("a pod whose env reads objects keeps its spec hash and UID, and has the env hash", async () => {
  const objects = [CFG, CREDS];
  const { pod: p } = await desiredPod(scan(manifest("/m/a.yaml", objects, [WEB])), "default/web");
  assert.equal(p.hash, WEB_SPEC_HASH);
  assert.equal(p.uid, WEB_UID);
  assert.equal(p.envHash, WEB_HELLO_ENV);
  // The sandbox carries the spec hash, the UID and the env hash.
  assert.equal(p.sandbox.annotations?.["tinylet/spec-hash"], WEB_SPEC_HASH);
  assert.equal(p.sandbox.annotations?.["tinylet/env-hash"], WEB_HELLO_ENV);
  assert.equal(p.sandbox.metadata?.uid, WEB_UID);
  // A key that the env does not read changes nothing.
  const more = [configMap("cfg", { greeting: "hello", unused: "x" }), CREDS];
  const same = await desiredPod(scan(manifest("/m/a.yaml", more, [WEB])), "default/web");
  assert.equal(same.pod.envHash, WEB_HELLO_ENV);
  // A value it reads changes the env hash only.
  const changed = [configMap("cfg", { greeting: "hi" }), CREDS];
  const hi = await desiredPod(scan(manifest("/m/a.yaml", changed, [WEB])), "default/web");
  assert.equal(hi.pod.hash, WEB_SPEC_HASH);
  assert.equal(hi.pod.uid, WEB_UID);
  assert.equal(hi.pod.envHash, WEB_HI_ENV);
  assert.equal(hi.pod.sandbox.annotations?.["tinylet/env-hash"], WEB_HI_ENV);
  assert.deepEqual(envOf(hi.pod)?.[1], { key: "G", value: "hi" });
});

Deno.test("an object of another namespace is not found", async () => {
  const other = pod("web", WEB.spec as unknown as Record<string, unknown>, "prod");
  const { pod: p } = await desiredPod(
    scan(manifest("/m/a.yaml", [CFG, CREDS], [other])),
    "prod/web",
  );
  assert.equal(p.waiting?.message, 'configmap "cfg" not found');
  assert.equal(
    p.waiting?.action,
    'Add the ConfigMap "cfg" in namespace "prod" to the manifest directory, or mark the reference optional',
  );
});

Deno.test("envFrom names each key after its prefix, and skips invalid names with a warning", async () => {
  // Keys a ConfigMap document could not hold: built as objects.
  const cfg = configMap("cfg", { b: "2", a: "1", "a=b": "x", "ü": "y" });
  const env = pod("env", {
    containers: [{
      name: "app",
      image: IMAGE,
      envFrom: [
        { prefix: "P_", configMapRef: { name: "cfg" } },
        { secretRef: { name: "creds" } },
      ],
    }],
  });
  const { pod: p } = await desiredPod(
    scan(manifest("/m/a.yaml", [cfg, CREDS], [env])),
    "default/env",
  );
  assert.equal(p.waiting, undefined);
  assert.deepEqual(envOf(p), [
    { key: "P_a", value: "1" },
    { key: "P_b", value: "2" },
    { key: "token", value: "s3cret" },
  ]);
  assert.deepEqual(p.configWarnings, [
    "Container app: Keys [P_a=b, P_ü] from the EnvFrom configMap default/cfg were skipped since they are considered invalid environment variable names.",
  ]);
});
