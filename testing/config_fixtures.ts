/**
 * What the ConfigMap and Secret tests share. For the desired state: ConfigMaps, Secrets, pods
 * and manifests built as objects (as parsing gives them), a scan of them, the translate
 * options, a pod's desired state and its container's env, and pods "web" and "plain" with the
 * hashes and UIDs several tests assert (computed outside tinylet, by python's hashlib and hmac
 * over the canonical JSON of the pods, and pasted). For full passes: manifests as YAML text, a
 * reconciler fixture that releases its pods' volumes (tmpfs and bind mounts) before its
 * directory goes, a second agent on the same runtime and directories, and what a pass left.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createLogger } from "../lib/base/log.ts";
import type { ConfigMapObject, SecretObject } from "../lib/manifest/config_objects.ts";
import type { Manifest } from "../lib/manifest/parse.ts";
import type { Pod } from "../lib/manifest/pod.ts";
import type { Scan } from "../lib/manifest/source.ts";
import { releaseVolumes } from "../lib/node/volume_release.ts";
import {
  type DesiredState,
  desiredState,
  type TranslationCache,
} from "../lib/reconcile/desired.ts";
import type { Reconciler } from "../lib/reconcile/reconciler.ts";
import type { PodView } from "../lib/reconcile/status.ts";
import type { ContainerConfig } from "../lib/runtime/cri.ts";
import { buildContainerConfig } from "../lib/translate/container_config.ts";
import type { DesiredPod, TranslateOptions } from "../lib/translate/desired_pod.ts";
import { FIXTURE_IMAGE, type ReconcilerFixture, reconcilerFixture } from "./reconciler_fixture.ts";

/** The image of every pod here: the one the fake runtime has. */
export const IMAGE = FIXTURE_IMAGE;

/** The translate options of the desired-state tests: instance "default" on node1, DNS 192.0.2.53. */
export const OPTIONS: TranslateOptions = {
  instance: "default",
  podLogRoot: "/var/log/pods",
  root: "/var/lib/tinylet",
  nodeName: "node1",
  hostDns: { servers: ["192.0.2.53"], searches: [], options: [] },
};

const FACTS = { podIPs: [], attempt: 0 };
const text = new TextEncoder();

/** ConfigMap `name` in `namespace` with string `data`, no binary data, mutable. */
export function configMap(
  name: string,
  data: Record<string, string>,
  namespace = "default",
): ConfigMapObject {
  return { kind: "ConfigMap", name, namespace, data, binaryData: {}, immutable: false };
}

/** Opaque Secret `name` in namespace default, its `data` values given as text, mutable. */
export function secret(name: string, data: Record<string, string>): SecretObject {
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
export function pod(name: string, spec: Record<string, unknown>, namespace?: string): Pod {
  const metadata = namespace === undefined ? { name } : { name, namespace };
  return { apiVersion: "v1", kind: "Pod", metadata, spec } as unknown as Pod;
}

/**
 * A valid manifest `file` holding `objects` then `pods`, each document 10 lines long: the nth
 * document starts at line `10 * n + 1`, column 1.
 */
export function manifest(
  file: string,
  objects: (ConfigMapObject | SecretObject)[],
  pods: Pod[] = [],
): Manifest {
  return {
    file,
    objects: objects.map((object, i) => ({ object, line: 10 * i + 1, column: 1 })),
    pods: pods.map((p, i) => ({ pod: p, line: 10 * (objects.length + i) + 1, column: 1 })),
    problems: [],
    valid: true,
  };
}

/** A scan of directory /m, present, holding `manifests` and no last valid content. */
export function scan(...manifests: Manifest[]): Scan {
  return { dir: "/m", present: true, manifests, lastValid: new Map() };
}

/** Pod `key` ("namespace/name") of the desired state of `s`, which must hold it, and the problems. */
export async function desiredPod(
  s: Scan,
  key: string,
  cache?: TranslationCache,
  options: TranslateOptions = OPTIONS,
): Promise<{ pod: DesiredPod; problems: DesiredState["problems"] }> {
  const d = await desiredState(s, options, cache);
  const p = d.pods.get(key);
  assert.ok(p, `${key} is desired`);
  return { pod: p, problems: d.problems };
}

/** The env of `container`'s config in desired pod `p` (no pod IPs, attempt 0). */
export function envOf(p: DesiredPod, container = "app"): ContainerConfig["envs"] {
  return buildContainerConfig(p, container, FACTS).envs;
}

/** Pod "web": env A is plain, G reads ConfigMap cfg's key greeting, T reads Secret creds' token. */
export const WEB: Pod = pod("web", {
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
/** The spec hash of {@linkcode WEB}, whatever values its env reads. */
export const WEB_SPEC_HASH = "v1:9f0c064ce5211f596430b54fcd26c4fbb1d6c4918d1673382bb01bfc1a2c0ae6";
/** The UID of {@linkcode WEB}: the first 128 bits of sha256("default\nweb\n" + WEB_SPEC_HASH), as a UUID. */
export const WEB_UID = "3881aae7-8ff1-714a-d93b-060cfefe33a4";
/** The env hash of {@linkcode WEB} with G = "hello", T = "s3cret": sha256('[["app",[["G","hello"],["T","s3cret"]]]]'). */
export const WEB_HELLO_ENV = "b7e3cbd7771af79f0eed7fc6cbee2df414c20fa419b99767c2b642fd2e17e832";
/** The env hash of {@linkcode WEB} with G = "hi", T = "s3cret". */
export const WEB_HI_ENV = "bf51512461389cbc40b71f5aa1755a9ecb4390437393441fb7f3827be6887a33";

/** Pod "plain": no env reference; a configMap volume "conf" of cfg at /etc/app. */
export const PLAIN: Pod = pod("plain", {
  containers: [{
    name: "app",
    image: IMAGE,
    env: [{ name: "A", value: "1" }],
    volumeMounts: [{ name: "conf", mountPath: "/etc/app" }],
  }],
  volumes: [{ name: "conf", configMap: { name: "cfg" } }],
});
/** The spec hash of {@linkcode PLAIN}, whatever its volume's data. */
export const PLAIN_HASH = "v1:d8f7a6355bb56b1bb669da61caa2837a9e04bec6a7f2dcd5b0b48df3336b8b59";

/** ConfigMap cfg: greeting "hello". */
export const CFG: ConfigMapObject = configMap("cfg", { greeting: "hello" });
/** Secret creds: token "s3cret". */
export const CREDS: SecretObject = secret("creds", { token: "s3cret" });

/** Pod "web" as YAML: env G from ConfigMap cfg's key greeting, then `extraEnv` appended. */
export function webPod(extraEnv = ""): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: ${IMAGE}
      env:
        - name: G
          valueFrom:
            configMapKeyRef:
              name: cfg
              key: greeting${extraEnv}
`;
}

/**
 * Pod "files" as YAML: volume conf of ConfigMap cfg at /etc/app, then `extraMounts` (YAML
 * lines of the container's volumeMounts, each starting with a newline), no env reference.
 */
export function filesPod(extraMounts = ""): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: files
spec:
  containers:
    - name: app
      image: ${IMAGE}
      volumeMounts:
        - name: conf
          mountPath: /etc/app${extraMounts}
  volumes:
    - name: conf
      configMap:
        name: cfg
`;
}

/** ConfigMap cfg as YAML, its key greeting holding `greeting`. */
export function cfgDoc(greeting: string): string {
  return `apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  greeting: ${greeting}
`;
}

/**
 * A reconciler fixture (temporary directory named after `prefix`, the status file written
 * when `statusFile`) whose disposal stops the reconciler and releases every pod's volumes
 * (unmounting tmpfs and bind mounts) before it removes the directory.
 */
export async function configFixture(
  prefix: string,
  statusFile = false,
): Promise<ReconcilerFixture> {
  const s = await reconcilerFixture({ prefix, statusFile });
  return {
    ...s,
    [Symbol.asyncDispose]: async () => {
      await s.reconciler.stop();
      const pods = await Array.fromAsync(Deno.readDir(`${s.root}/pods`)).catch(() => []);
      for (const e of pods) await releaseVolumes(`${s.root}/pods/${e.name}`);
      await s[Symbol.asyncDispose]();
    },
  };
}

/**
 * A second agent over the fixture's runtime, clock, manifest directory and root, as after a
 * restart; its log lines go to `lines`. The caller stops it.
 */
export function restarted(s: ReconcilerFixture, lines: string[] = []): Reconciler {
  return s.restarted({ log: createLogger({ write: (l) => lines.push(l) }) });
}

/** The ready sandboxes of the fixture's runtime: their ids and pod UIDs, in the runtime's order. */
export async function sandboxes(s: ReconcilerFixture): Promise<{ id: string; uid: string }[]> {
  return (await s.cri.listPodSandbox({ state: "SANDBOX_READY" }))
    .map((x) => ({ id: x.id, uid: x.metadata.uid }));
}

/** The configs of the fixture's CreateContainer calls so far, in order. */
export function created(s: ReconcilerFixture): ContainerConfig[] {
  return s.cri.calls.filter((c) => c.method === "CreateContainer")
    .map((c) => (c.arg as { config: ContainerConfig }).config);
}

/** The view of pod `name` among `pods`, which must show it. */
export function view(pods: PodView[], name: string): PodView {
  const v = pods.find((p) => p.name === name);
  assert.ok(v, `pod ${name} is shown`);
  return v;
}
