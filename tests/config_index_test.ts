/**
 * The ConfigMaps and Secrets of the manifest directory as pods read them
 * (`lib/reconcile/config_index.ts`): found by kind, namespace and name, from valid files and
 * from an invalid file's last valid content, the lexically first file winning a name; and what
 * a pod's references say (`referenceProblems`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { indexObjects, referenceProblems } from "../lib/reconcile/config_index.ts";
import { desiredState } from "../lib/reconcile/desired.ts";
import { ManifestSource } from "../lib/manifest/source.ts";
import { translatePod } from "../lib/translate/desired_pod.ts";
import { buildContainerConfig } from "../lib/translate/container_config.ts";
import { configMap, IMAGE, manifest, OPTIONS, pod, secret } from "../testing/config_fixtures.ts";

Deno.test("objects of every file are found by kind, namespace and name", () => {
  const cfg = configMap("cfg", { a: "1" });
  const prod = configMap("cfg", { a: "2" }, "prod");
  const creds = secret("creds", { token: "t" });
  const index = indexObjects([manifest("/m/a.yaml", [cfg, prod]), manifest("/m/b.yaml", [creds])]);
  assert.deepEqual(index.problems, []);
  assert.equal(index.find("ConfigMap", "default", "cfg"), cfg);
  assert.equal(index.find("ConfigMap", "prod", "cfg"), prod);
  assert.equal(index.find("Secret", "default", "creds"), creds);
  assert.equal(index.find("ConfigMap", "other", "cfg"), undefined);
  assert.equal(index.find("ConfigMap", "default", "creds"), undefined);
  assert.equal(index.lookup.configMap("prod", "cfg"), prod);
  assert.equal(index.lookup.secret("default", "creds"), creds);
  assert.equal(index.lookup.secret("default", "cfg"), undefined);
});

Deno.test("a ConfigMap and a Secret of one name are two objects, no conflict", () => {
  const cfg = configMap("app", { a: "1" });
  const sec = secret("app", { a: "2" });
  const index = indexObjects([manifest("/m/a.yaml", [cfg]), manifest("/m/b.yaml", [sec])]);
  assert.deepEqual(index.problems, []);
  assert.equal(index.lookup.configMap("default", "app"), cfg);
  assert.equal(index.lookup.secret("default", "app"), sec);
});

Deno.test("one ConfigMap in two files: an error at the second, a warning at the first, which wins", () => {
  const first = configMap("app", { v: "first" });
  const second = configMap("app", { v: "second" });
  const index = indexObjects([
    manifest("/m/a.yaml", [configMap("other", {}), first]),
    manifest("/m/b.yaml", [second]),
  ]);
  assert.equal(index.find("ConfigMap", "default", "app"), first);
  assert.deepEqual(index.problems, [
    {
      file: "/m/b.yaml",
      line: 1,
      column: 1,
      severity: "error",
      field: "",
      message:
        'Rename or remove this ConfigMap: "default/app" is also declared in /m/a.yaml:11, which wins (the lexically first file)',
    },
    {
      file: "/m/a.yaml",
      line: 11,
      column: 1,
      severity: "warning",
      field: "",
      message:
        'ConfigMap "default/app" is also declared in /m/b.yaml:1; this file wins (the lexically first file)',
    },
  ]);
});

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinylet_config_index_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const READER = `apiVersion: v1
kind: Pod
metadata:
  name: reader
spec:
  containers:
    - name: app
      image: ${IMAGE}
      env:
        - name: V
          valueFrom:
            configMapKeyRef:
              name: app
              key: v
`;

function cmDoc(value: string): string {
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  v: ${value}\n`;
}

/** The env of the reader pod of `dir`'s files as they are now. */
async function readerEnv(source: ManifestSource) {
  const desired = await desiredState(await source.scan(), OPTIONS);
  const reader = desired.pods.get("default/reader");
  assert.ok(reader);
  return {
    waiting: reader.waiting?.message,
    env: reader.waiting ? [] : buildContainerConfig(reader, "app", { podIPs: [], attempt: 0 }).envs,
    problems: desired.problems,
  };
}

Deno.test("in the directory, the lexically first file wins a ConfigMap declared twice", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/pod.yaml`, READER);
    await Deno.writeTextFile(`${dir}/b.yaml`, `# b\n---\n${cmDoc("from-b")}`);
    await Deno.writeTextFile(`${dir}/a.yaml`, cmDoc("from-a"));
    const r = await readerEnv(new ManifestSource(dir));
    assert.deepEqual(r.env, [{ key: "V", value: "from-a" }]);
    assert.deepEqual(r.problems.map((p) => [p.file, p.line, p.severity, p.message]), [
      [
        `${dir}/b.yaml`,
        3,
        "error",
        `Rename or remove this ConfigMap: "default/app" is also declared in ${dir}/a.yaml:1, which wins (the lexically first file)`,
      ],
      [
        `${dir}/a.yaml`,
        1,
        "warning",
        `ConfigMap "default/app" is also declared in ${dir}/b.yaml:3; this file wins (the lexically first file)`,
      ],
    ]);
  });
});

Deno.test("an invalid file's objects are its last valid content; none before it was valid", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/pod.yaml`, READER);
    await Deno.writeTextFile(`${dir}/cm.yaml`, cmDoc("good"));
    const source = new ManifestSource(dir);
    assert.deepEqual((await readerEnv(source)).env, [{ key: "V", value: "good" }]);
    // A key a ConfigMap may not have makes the file invalid: its last valid content stays.
    await Deno.writeTextFile(`${dir}/cm.yaml`, `${cmDoc("edited")}  "bad key": x\n`);
    const kept = await readerEnv(source);
    assert.equal(kept.waiting, undefined);
    assert.deepEqual(kept.env, [{ key: "V", value: "good" }]);
    // An agent that never saw it valid cannot know what the file declares: the pod is held,
    // waiting, and the message names the file to fix.
    const fresh = await readerEnv(new ManifestSource(dir));
    assert.equal(
      fresh.waiting,
      `ConfigMap "app" not found, and ${dir}/cm.yaml cannot be read (it may declare it): fix that file`,
    );
    // Valid again: its new content.
    await Deno.writeTextFile(`${dir}/cm.yaml`, cmDoc("edited"));
    assert.deepEqual((await readerEnv(source)).env, [{ key: "V", value: "edited" }]);
  });
});

const AT = { line: 21, column: 3 };

Deno.test("a reference to an object of the other kind is an error naming the field", async () => {
  const p = await translatePod(
    pod("web", {
      containers: [{
        name: "app",
        image: IMAGE,
        env: [{ name: "T", valueFrom: { configMapKeyRef: { name: "creds", key: "token" } } }],
      }],
      volumes: [{ name: "conf", secret: { secretName: "cfg", optional: true } }],
    }),
    "/m/web.yaml",
    OPTIONS,
  );
  const index = indexObjects([
    manifest("/m/a.yaml", [secret("creds", { token: "t" }), configMap("cfg", { a: "1" })]),
  ]);
  const wait =
    'configmap "creds" not found: Add the ConfigMap "creds" in namespace "default" to the manifest directory, or mark the reference optional';
  assert.deepEqual(referenceProblems(p, index, AT), [
    {
      file: "/m/web.yaml",
      line: 21,
      column: 3,
      severity: "error",
      field: "spec.containers[0].env[0].valueFrom.configMapKeyRef",
      message:
        'Fix the reference of pod "default/web" to ConfigMap "creds": "creds" is a Secret in namespace "default", not a ConfigMap; reference it with secretKeyRef, secretRef or a secret volume',
    },
    {
      file: "/m/web.yaml",
      line: 21,
      column: 3,
      severity: "error",
      field: "spec.volumes[0].secret",
      message:
        'Fix the reference of pod "default/web" to Secret "cfg": "cfg" is a ConfigMap in namespace "default", not a Secret; reference it with configMapKeyRef, configMapRef or a configMap volume',
    },
    {
      file: "/m/web.yaml",
      line: 21,
      column: 3,
      severity: "warning",
      field: "spec.containers[0].env[0].valueFrom.configMapKeyRef",
      message:
        `Pod "default/web" waits (CreateContainerConfigError): ${wait} (it starts as soon as this is fixed; what runs of it meanwhile keeps running as it is)`,
    },
  ]);
});

Deno.test("a waiting pod is a warning; a found or optional reference says nothing", async () => {
  const web = pod("web", {
    containers: [{
      name: "app",
      image: IMAGE,
      envFrom: [{ configMapRef: { name: "cfg" } }, { secretRef: { name: "opt", optional: true } }],
    }],
  });
  const empty = indexObjects([]);
  const waiting = await translatePod(web, "/m/web.yaml", OPTIONS, empty.lookup);
  const message =
    'configmap "cfg" not found: Add the ConfigMap "cfg" in namespace "default" to the manifest directory, or mark the reference optional';
  assert.deepEqual(referenceProblems(waiting, empty, AT), [{
    file: "/m/web.yaml",
    line: 21,
    column: 3,
    severity: "warning",
    field: "spec.containers[0].envFrom[0].configMapRef",
    message:
      `Pod "default/web" waits (CreateContainerConfigError): ${message} (it starts as soon as this is fixed; what runs of it meanwhile keeps running as it is)`,
  }]);
  // Kept: it runs with what it had.
  assert.deepEqual(referenceProblems(waiting, empty, AT, []).map((p) => p.message), [
    `Pod "default/web" keeps running with the ConfigMap and Secret data it had: ${message}`,
  ]);
  const found = indexObjects([manifest("/m/a.yaml", [configMap("cfg", { a: "1" })])]);
  const ready = await translatePod(web, "/m/web.yaml", OPTIONS, found.lookup);
  assert.equal(ready.waiting, undefined);
  assert.deepEqual(referenceProblems(ready, found, AT), []);
});
