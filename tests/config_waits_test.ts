/**
 * Pods waiting for ConfigMaps and Secrets in the desired state (`lib/reconcile/desired.ts`): a
 * missing object or key makes a pod wait with kubelet's reason and message (an optional one
 * does not), and a pod whose object goes away keeps its last translation while its spec stays.
 * Pods and objects are built as objects here; the hashes were computed outside tinylet
 * (python's hashlib and hmac over the canonical JSON of the pods below) and pasted.
 *
 * @module
 */
import assert from "node:assert/strict";
import { desiredState, TranslationCache } from "../lib/reconcile/desired.ts";
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
// sha256('[["app",[["G","hello"],["T","s3cret"]]]]') and the same with G = "hi", by hashlib.
const WEB_HELLO_ENV = "b7e3cbd7771af79f0eed7fc6cbee2df414c20fa419b99767c2b642fd2e17e832";
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

const CFG = configMap("cfg", { greeting: "hello" });
const CREDS = secret("creds", { token: "s3cret" });

Deno.test("a missing ConfigMap, Secret or key makes the pod wait with kubelet's message", async () => {
  const cases: [string, (ConfigMapObject | SecretObject)[], string, string, string][] = [
    [
      "no ConfigMap",
      [CREDS],
      'configmap "cfg" not found',
      "spec.containers[0].env[1].valueFrom.configMapKeyRef",
      'Add the ConfigMap "cfg" in namespace "default" to the manifest directory, or mark the reference optional',
    ],
    [
      "no Secret",
      [CFG],
      'secret "creds" not found',
      "spec.containers[0].env[2].valueFrom.secretKeyRef",
      'Add the Secret "creds" in namespace "default" to the manifest directory, or mark the reference optional',
    ],
    [
      "no key",
      [configMap("cfg", { other: "x" }), CREDS],
      "couldn't find key greeting in ConfigMap default/cfg",
      "spec.containers[0].env[1].valueFrom.configMapKeyRef",
      'Add the key "greeting" to the ConfigMap "cfg" in namespace "default", or mark the reference optional',
    ],
  ];
  for (const [what, objects, message, field, action] of cases) {
    const { pod: p, problems } = await desiredPod(
      scan(manifest("/m/a.yaml", objects, [WEB])),
      "default/web",
    );
    assert.deepEqual(
      p.waiting,
      { reason: "CreateContainerConfigError", message, field, container: "app", action },
      what,
    );
    // Nothing read: the spec hash alone, no env.
    assert.equal(p.hash, WEB_SPEC_HASH, what);
    assert.deepEqual(p.containers[0]?.env, [], what);
    assert.deepEqual(problems, [{
      file: "/m/a.yaml",
      line: 10 * objects.length + 1,
      column: 1,
      severity: "warning",
      field,
      message:
        `Pod "default/web" waits (CreateContainerConfigError): ${message}: ${action} (it starts as soon as this is fixed; what runs of it meanwhile keeps running as it is)`,
    }], what);
  }
});

Deno.test("a missing Secret of a volume makes the pod wait with FailedMount", async () => {
  const withVolume = pod("vol", {
    containers: [{ name: "app", image: IMAGE, volumeMounts: [{ name: "v", mountPath: "/s" }] }],
    volumes: [{ name: "v", secret: { secretName: "s" } }],
  });
  const { pod: p, problems } = await desiredPod(
    scan(manifest("/m/a.yaml", [], [withVolume])),
    "default/vol",
  );
  const message =
    'MountVolume.SetUp failed for volume "v" : secret "s" not found: add a Secret "s" in namespace "default" to the manifests, or make the volume\'s secret optional';
  assert.deepEqual(p.waiting, {
    reason: "FailedMount",
    message,
    field: "spec.volumes[0].secret",
    volume: "v",
  });
  // The volume is a tmpfs with no content yet.
  assert.deepEqual(p.volumes, [{
    name: "v",
    config: { plugin: "kubernetes.io~secret", memory: true },
  }]);
  assert.deepEqual(problems, [{
    file: "/m/a.yaml",
    line: 1,
    column: 1,
    severity: "warning",
    field: "spec.volumes[0].secret",
    message:
      `Pod "default/vol" waits (FailedMount): ${message} (it starts as soon as this is fixed; what runs of it meanwhile keeps running as it is)`,
  }]);
});

Deno.test("optional references to missing objects do not wait", async () => {
  const opt = pod("opt", {
    containers: [{
      name: "app",
      image: IMAGE,
      env: [{
        name: "G",
        valueFrom: { configMapKeyRef: { name: "cfg", key: "greeting", optional: true } },
      }],
      envFrom: [{ secretRef: { name: "creds", optional: true } }],
    }],
    volumes: [{ name: "conf", configMap: { name: "cfg", optional: true } }],
  });
  const { pod: p, problems } = await desiredPod(
    scan(manifest("/m/a.yaml", [], [opt])),
    "default/opt",
  );
  assert.equal(p.waiting, undefined);
  assert.deepEqual(problems, []);
  assert.deepEqual(envOf(p), []);
  assert.deepEqual(p.volumes, [{
    name: "conf",
    config: { plugin: "kubernetes.io~configmap", memory: false, payload: new Map() },
  }]);
  // Its env reads objects (none found): its spec hash, and the env hash of no values,
  // sha256("[]") by python's hashlib.
  assert.equal(p.hash, "v1:c0f33b299873bce77fe350f9af84325839b435d2ca1dc44d903d247600dd7d52");
  assert.equal(p.envHash, "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945");
});

Deno.test("a pod whose ConfigMap goes away keeps its last translation, and says so", async () => {
  const cache = new TranslationCache();
  const ran = await desiredPod(
    scan(manifest("/m/a.yaml", [CFG, CREDS], [WEB])),
    "default/web",
    cache,
  );
  assert.equal(ran.pod.hash, WEB_SPEC_HASH);
  assert.equal(ran.pod.envHash, WEB_HELLO_ENV);
  const gone = await desiredPod(scan(manifest("/m/a.yaml", [CREDS], [WEB])), "default/web", cache);
  assert.equal(gone.pod.hash, WEB_SPEC_HASH);
  assert.equal(gone.pod.envHash, WEB_HELLO_ENV);
  assert.equal(gone.pod.uid, WEB_UID);
  assert.equal(gone.pod.waiting, undefined);
  assert.deepEqual(envOf(gone.pod), [
    { key: "A", value: "1" },
    { key: "G", value: "hello" },
    { key: "T", value: "s3cret" },
  ]);
  assert.deepEqual(gone.problems, [{
    file: "/m/a.yaml",
    line: 11,
    column: 1,
    severity: "warning",
    field: "spec.containers[0].env[1].valueFrom.configMapKeyRef",
    message:
      `Pod "default/web" keeps running with the ConfigMap and Secret data it had: configmap "cfg" not found: Add the ConfigMap "cfg" in namespace "default" to the manifest directory, or mark the reference optional`,
  }]);
  // Back with another value: the new translation.
  const back = [configMap("cfg", { greeting: "hi" }), CREDS];
  const hi = await desiredPod(scan(manifest("/m/a.yaml", back, [WEB])), "default/web", cache);
  assert.equal(hi.pod.envHash, WEB_HI_ENV);
  assert.deepEqual(hi.problems, []);
});

Deno.test("a kept pod's volume keeps its last content too", async () => {
  const cache = new TranslationCache();
  const first = await desiredPod(
    scan(manifest("/m/a.yaml", [CFG], [PLAIN])),
    "default/plain",
    cache,
  );
  const gone = await desiredPod(scan(manifest("/m/a.yaml", [], [PLAIN])), "default/plain", cache);
  assert.equal(gone.pod.waiting, undefined);
  assert.equal(gone.pod.hash, PLAIN_HASH);
  assert.deepEqual(gone.pod.volumes, first.pod.volumes);
  assert.equal(gone.problems[0]?.severity, "warning");
  assert.equal(
    gone.problems[0]?.message,
    `Pod "default/plain" keeps running with the ConfigMap and Secret data it had: MountVolume.SetUp failed for volume "conf" : configmap "cfg" not found: add a ConfigMap "cfg" in namespace "default" to the manifests, or make the volume's configMap optional`,
  );
});

Deno.test("a pod whose spec changes while its ConfigMap is gone waits: nothing is kept", async () => {
  const cache = new TranslationCache();
  await desiredPod(scan(manifest("/m/a.yaml", [CFG, CREDS], [WEB])), "default/web", cache);
  const edited = pod("web", {
    containers: [{
      ...(WEB.spec.containers[0] as unknown as Record<string, unknown>),
      image: "docker.io/library/busybox:1.36",
    }],
  });
  const { pod: p, problems } = await desiredPod(
    scan(manifest("/m/a.yaml", [CREDS], [edited])),
    "default/web",
    cache,
  );
  assert.equal(p.waiting?.message, 'configmap "cfg" not found');
  assert.equal(p.containers[0]?.image, "docker.io/library/busybox:1.36");
  assert.match(
    problems[0]?.message ?? "",
    /^Pod "default\/web" waits \(CreateContainerConfigError\)/,
  );
});

Deno.test("a pod missing a volume's Secret and an env's ConfigMap waits on the volume, as kubelet", async () => {
  // kubelet's SyncPod waits for every volume to mount (FailedMount, the pod ContainerCreating)
  // before the runtime makes any container's env (CreateContainerConfigError).
  const both = pod("both", {
    containers: [{
      name: "app",
      image: IMAGE,
      env: [{ name: "G", valueFrom: { configMapKeyRef: { name: "cfg", key: "greeting" } } }],
      volumeMounts: [{ name: "sec", mountPath: "/s" }],
    }],
    volumes: [{ name: "sec", secret: { secretName: "creds" } }],
  });
  const { pod: p } = await desiredPod(scan(manifest("/m/a.yaml", [], [both])), "default/both");
  assert.deepEqual(p.waiting, {
    reason: "FailedMount",
    message:
      'MountVolume.SetUp failed for volume "sec" : secret "creds" not found: add a Secret "creds" in namespace "default" to the manifests, or make the volume\'s secret optional',
    field: "spec.volumes[0].secret",
    volume: "sec",
  });
});
