/**
 * ConfigMaps and Secrets wired into the desired state (`lib/reconcile/desired.ts`): a pod's env
 * read from them reaches its container config, its hash and UID follow the values its env
 * reads (and nothing else), and envFrom names each key after its prefix (see
 * `config_waits_test.ts` for pods that wait). Pods and objects are built as objects here; the hashes and UIDs were computed outside tinylet (python's hashlib and hmac
 * over the canonical JSON of the pods below) and pasted.
 *
 * @module
 */
import assert from "node:assert/strict";
import { desiredState, type TranslationCache } from "../lib/reconcile/desired.ts";
import { buildContainerConfig } from "../lib/translate/container_config.ts";
import type { ConfigMapObject, SecretObject } from "../lib/manifest/config_objects.ts";
import type { Manifest } from "../lib/manifest/parse.ts";
import type { Pod } from "../lib/manifest/pod.ts";
import type { Scan } from "../lib/manifest/source.ts";
import type { DesiredPod, TranslateOptions } from "../lib/translate/desired_pod.ts";

const IMAGE = "docker.io/library/busybox:1.35";
const OPTIONS: TranslateOptions = {
  instance: "default",
  podLogRoot: "/var/log/pods",
  root: "/var/lib/tinylet",
  nodeName: "node1",
  hostDns: { servers: ["192.0.2.53"], searches: [], options: [] },
};
const FACTS = { podIPs: [], attempt: 0 };
const text = new TextEncoder();

function configMap(name: string, data: Record<string, string>, namespace = "default") {
  const o: ConfigMapObject = {
    kind: "ConfigMap",
    name,
    namespace,
    data,
    binaryData: {},
    immutable: false,
  };
  return o;
}

function secret(name: string, data: Record<string, string>): SecretObject {
  const bytes = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, text.encode(v)]));
  return {
    kind: "Secret",
    name,
    namespace: "default",
    type: "Opaque",
    data: bytes,
    immutable: false,
  };
}

/** A v1 pod named `name` (namespace `namespace` when given) with `spec`, as parsing gives it. */
function pod(name: string, spec: Record<string, unknown>, namespace?: string): Pod {
  const metadata = namespace === undefined ? { name } : { name, namespace };
  return { apiVersion: "v1", kind: "Pod", metadata, spec } as unknown as Pod;
}

/** A valid manifest `file` holding `objects` then `pods`, each document 10 lines long. */
function manifest(
  file: string,
  objects: (ConfigMapObject | SecretObject)[],
  pods: Pod[],
): Manifest {
  return {
    file,
    objects: objects.map((object, i) => ({ object, line: 10 * i + 1, column: 1 })),
    pods: pods.map((p, i) => ({ pod: p, line: 10 * (objects.length + i) + 1, column: 1 })),
    problems: [],
    valid: true,
  };
}

function scan(...manifests: Manifest[]): Scan {
  return { dir: "/m", present: true, manifests, lastValid: new Map() };
}

async function desiredPod(s: Scan, key: string, cache?: TranslationCache, options = OPTIONS) {
  const d = await desiredState(s, options, cache);
  const p = d.pods.get(key);
  assert.ok(p, `${key} is desired`);
  return { pod: p, problems: d.problems };
}

function envOf(p: DesiredPod, container = "app") {
  return buildContainerConfig(p, container, FACTS).envs;
}

// Env A is plain, G reads ConfigMap cfg, T reads Secret creds.
const WEB = pod("web", {
  containers: [{
    name: "app",
    image: IMAGE,
    env: [
      { name: "A", value: "1" },
      { name: "G", valueFrom: { configMapKeyRef: { name: "cfg", key: "greeting" } } },
      { name: "T", valueFrom: { secretKeyRef: { name: "creds", key: "token" } } },
    ],
  }],
});
const WEB_SPEC_HASH = "v1:9f0c064ce5211f596430b54fcd26c4fbb1d6c4918d1673382bb01bfc1a2c0ae6";
// The first 128 bits of sha256("default\nweb\n" + WEB_SPEC_HASH), as a UUID.
const WEB_UID = "3881aae7-8ff1-714a-d93b-060cfefe33a4";
// sha256('[["app",[["G","hello"],["T","s3cret"]]]]'), by python's hashlib.
const WEB_HELLO_ENV = "b7e3cbd7771af79f0eed7fc6cbee2df414c20fa419b99767c2b642fd2e17e832";
// The same with G = "hi".
const WEB_HI_ENV = "bf51512461389cbc40b71f5aa1755a9ecb4390437393441fb7f3827be6887a33";

// No env reference; a configMap volume of cfg.
const PLAIN = pod("plain", {
  containers: [{
    name: "app",
    image: IMAGE,
    env: [{ name: "A", value: "1" }],
    volumeMounts: [{ name: "conf", mountPath: "/etc/app" }],
  }],
  volumes: [{ name: "conf", configMap: { name: "cfg" } }],
});
const PLAIN_HASH = "v1:d8f7a6355bb56b1bb669da61caa2837a9e04bec6a7f2dcd5b0b48df3336b8b59";
const PLAIN_UID = "78e1a197-ad44-c56b-7fb3-c30bc42d6d25";

const CFG = configMap("cfg", { greeting: "hello" });
const CREDS = secret("creds", { token: "s3cret" });

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
