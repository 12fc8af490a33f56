/**
 * Pods waiting for ConfigMaps and Secrets in the desired state (`lib/reconcile/desired.ts`): a
 * missing object or key makes a pod wait with kubelet's reason and message (an optional one
 * does not), and a pod whose object goes away keeps its last translation while its spec stays.
 * Pods and objects are built as objects (`testing/config_fixtures.ts`); the hashes were
 * computed outside tinylet (python's hashlib and hmac over the canonical JSON of the pods) and
 * pasted.
 *
 * @module
 */
import assert from "node:assert/strict";
import { TranslationCache } from "../lib/reconcile/desired.ts";
import type { ConfigMapObject, SecretObject } from "../lib/manifest/config_objects.ts";
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
