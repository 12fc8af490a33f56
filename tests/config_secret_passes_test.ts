/**
 * Secrets and config volumes through full passes of the reconciler on the fake runtime: a
 * secret volume is a tmpfs updated in place and unmounted with its pod, a `subPath` mount
 * keeps what it had, a pod missing a volume's Secret waits in `ContainerCreating` with one
 * `FailedMount`, and no Secret value reaches the log, the pods' status, the events, the
 * problems or the status file. Tmpfs and bind mounts need root: those cases run as root (here
 * and in CI, where nothing may skip).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { ReconcilerFixture } from "../testing/reconciler_fixture.ts";
import {
  cfgDoc,
  configFixture,
  created,
  filesPod,
  IMAGE,
  sandboxes,
} from "../testing/config_fixtures.ts";
import { isMountPoint } from "../lib/node/mount_table.ts";

const IS_ROOT = Deno.uid() === 0;
const CI = Deno.env.get("CI") === "true";

function needsRoot(name: string, fn: () => Promise<void>): Deno.TestDefinition {
  return {
    name,
    ignore: !IS_ROOT && !CI,
    fn: async () => {
      assert.ok(IS_ROOT, "this case mounts and needs root (CI=true forbids skipping it)");
      await fn();
    },
  };
}

/** The fixture, its pods' volumes unmounted before its directory goes. */
const setup = (statusFile = false) => configFixture("tinylet_config_secret_test_", statusFile);

/** Writes Secret `creds` with `data` (base64 values) as a file only its owner can read. */
async function writeSecret(s: ReconcilerFixture, data: Record<string, string>): Promise<void> {
  const lines = Object.entries(data).map(([k, v]) => `  ${k}: ${v}\n`).join("");
  const file = `${s.manifests}/creds.yaml`;
  await Deno.writeTextFile(
    file,
    `apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ndata:\n${lines}`,
    {
      mode: 0o600,
    },
  );
  await Deno.chmod(file, 0o600);
}

const VAULT = `apiVersion: v1
kind: Pod
metadata:
  name: vault
spec:
  containers:
    - name: app
      image: ${IMAGE}
      volumeMounts:
        - name: sec
          mountPath: /run/creds
  volumes:
    - name: sec
      secret:
        secretName: creds
`;

Deno.test("a pod missing its volume's Secret waits in ContainerCreating, said once", async () => {
  await using s = await setup();
  await s.write("vault.yaml", VAULT);
  const message =
    `MountVolume.SetUp failed for volume "sec" : secret "creds" not found: add a Secret "creds" in namespace "default" to the manifests, or make the volume's secret optional`;
  for (let i = 0; i < 3; i++) {
    const r = await s.reconciler.pass();
    assert.deepEqual(r.actions, []);
    const v = r.pods.find((p) => p.name === "vault");
    assert.equal(v?.status, "ContainerCreating");
    assert.equal(v?.lastError, message);
    assert.deepEqual(v?.containers.map((c) => [c.reason, c.message]), [[
      "ContainerCreating",
      message,
    ]]);
  }
  assert.equal(s.cri.sandboxCount, 0);
  assert.deepEqual(
    s.reconciler.events("default/vault").map((e) => [e.type, e.reason, e.message]),
    [["Warning", "FailedMount", message]],
  );
  assert.equal(
    s.lines.filter((l) => l.includes('Pod "default/vault" waits (FailedMount)')).length,
    1,
  );
});

Deno.test(
  needsRoot(
    "a secret volume is a tmpfs, updated in place, and unmounted with its pod",
    async () => {
      await using s = await setup();
      await writeSecret(s, { token: "Zmlyc3Q=" }); // "first"
      await s.write("vault.yaml", VAULT);
      const first = await s.reconciler.pass();
      assert.deepEqual(first.results.map((r) => r.error?.message), [undefined]);
      const [sandbox] = await sandboxes(s);
      assert.ok(sandbox);
      const dir = `${s.root}/pods/${sandbox.uid}/volumes/kubernetes.io~secret/sec`;
      assert.ok(await isMountPoint(dir), "the secret volume is a tmpfs");
      assert.equal(await Deno.readTextFile(`${dir}/token`), "first");
      assert.deepEqual(
        created(s)[0]?.mounts?.filter((m) => m.containerPath === "/run/creds")
          .map((m) => [m.hostPath, m.readonly]),
        [[dir, true]],
      );
      await writeSecret(s, { token: "c2Vjb25k" }); // "second"
      const r = await s.reconciler.pass();
      assert.deepEqual(r.actions, []);
      assert.equal(await Deno.readTextFile(`${dir}/token`), "second");
      assert.deepEqual(await sandboxes(s), [sandbox]);
      await Deno.remove(`${s.manifests}/vault.yaml`);
      const gone = await s.reconciler.pass();
      assert.deepEqual(gone.results.map((x) => x.error?.message), [undefined]);
      assert.equal(await isMountPoint(dir), false);
      await assert.rejects(Deno.lstat(`${s.root}/pods/${sandbox.uid}`), Deno.errors.NotFound);
    },
  ),
);

Deno.test(
  needsRoot("a subPath mount of a configMap volume keeps what it had", async () => {
    await using s = await setup();
    await s.write("cfg.yaml", cfgDoc("hello"));
    await s.write(
      "files.yaml",
      filesPod(`
        - name: conf
          mountPath: /etc/greeting
          subPath: greeting`),
    );
    await s.reconciler.pass();
    const [sandbox] = await sandboxes(s);
    assert.ok(sandbox);
    const podDir = `${s.root}/pods/${sandbox.uid}`;
    const sub = `${podDir}/volume-subpaths/conf/app/1`;
    assert.deepEqual(
      created(s)[0]?.mounts?.filter((m) => m.containerPath.startsWith("/etc/g"))
        .map((m) => [m.hostPath, m.readonly]),
      [[sub, true]],
    );
    assert.equal(await Deno.readTextFile(sub), "hello");
    await s.write("cfg.yaml", cfgDoc("hi"));
    assert.deepEqual((await s.reconciler.pass()).actions, []);
    assert.equal(
      await Deno.readTextFile(`${podDir}/volumes/kubernetes.io~configmap/conf/greeting`),
      "hi",
    );
    assert.equal(await Deno.readTextFile(sub), "hello");
  }),
);

const VALUE = "s3cr3t-V4lue-9f2";
const VALUE_BASE64 = "czNjcjN0LVY0bHVlLTlmMg==";
const NEW_VALUE = "n3w-s3cr3t-77q";
const NEW_VALUE_BASE64 = "bjN3LXMzY3IzdC03N3E=";

Deno.test("no Secret value reaches the log, the pods, the events, the problems or the status file", async () => {
  await using s = await setup(true);
  await writeSecret(s, { token: VALUE_BASE64 });
  await s.write(
    "pods.yaml",
    `apiVersion: v1
kind: Pod
metadata:
  name: user
spec:
  containers:
    - name: app
      image: ${IMAGE}
      envFrom:
        - prefix: S_
          secretRef:
            name: creds
      env:
        - name: T
          valueFrom:
            secretKeyRef: {name: creds, key: token}
---
apiVersion: v1
kind: Pod
metadata:
  name: lacking
spec:
  containers:
    - name: app
      image: ${IMAGE}
      env:
        - name: T
          valueFrom:
            secretKeyRef: {name: creds, key: nokey}
`,
  );
  const outputs: string[] = [];
  const look = async () => {
    const r = await s.reconciler.pass();
    outputs.push(JSON.stringify([r.pods, r.problems, r.results.map((x) => x.error?.message)]));
    for (const key of ["default/user", "default/lacking"]) {
      outputs.push(JSON.stringify(s.reconciler.events(key)));
    }
    outputs.push(JSON.stringify(s.reconciler.state()));
    outputs.push(await Deno.readTextFile(s.statusFile));
  };
  await look();
  // The value did reach the container: the search below can find it where it is.
  assert.deepEqual(created(s).map((c) => c.envs), [[
    { key: "S_token", value: VALUE },
    { key: "T", value: VALUE },
  ]]);
  const lacking = s.lines.find((l) => l.includes('Pod "default/lacking" waits'));
  assert.match(lacking ?? "", /couldn't find key nokey in Secret default\/creds/);
  await look();
  // A new value replaces the pod: the reasons given name no value either.
  await writeSecret(s, { token: NEW_VALUE_BASE64 });
  await look();
  await look();
  assert.deepEqual(created(s).at(-1)?.envs, [
    { key: "S_token", value: NEW_VALUE },
    { key: "T", value: NEW_VALUE },
  ]);
  const everything = [...s.lines, ...outputs].join("\n");
  for (const secret of [VALUE, VALUE_BASE64, NEW_VALUE, NEW_VALUE_BASE64]) {
    assert.equal(everything.includes(secret), false, `"${secret}" is shown somewhere`);
  }
});

Deno.test(
  needsRoot("a projected volume is a tmpfs with its sources' files, items and modes", async () => {
    await using s = await setup();
    await s.write(
      "cfg.yaml",
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  greeting: hello\n  other: o\n",
    );
    await writeSecret(s, { token: "dDE=" }); // "t1"
    await s.write(
      "proj.yaml",
      `apiVersion: v1
kind: Pod
metadata:
  name: proj
  labels: {app: x}
spec:
  containers:
    - name: app
      image: ${IMAGE}
      volumeMounts: [{name: all, mountPath: /all}]
  volumes:
    - name: all
      projected:
        defaultMode: 0440
        sources:
          - configMap:
              name: cfg
              items: [{key: greeting, path: conf/greeting.txt, mode: 0400}]
          - secret: {name: creds}
          - downwardAPI:
              items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]
`,
    );
    const r = await s.reconciler.pass();
    assert.deepEqual(r.results.map((x) => x.error?.message), [undefined]);
    const [sandbox] = await sandboxes(s);
    assert.ok(sandbox);
    const dir = `${s.root}/pods/${sandbox.uid}/volumes/kubernetes.io~projected/all`;
    assert.ok(await isMountPoint(dir), "the projected volume is a tmpfs");
    const files: [string, string, number][] = [];
    for (const path of ["conf/greeting.txt", "labels", "token"]) {
      const mode = (await Deno.stat(`${dir}/${path}`)).mode! & 0o777;
      files.push([path, await Deno.readTextFile(`${dir}/${path}`), mode]);
    }
    assert.deepEqual(files, [
      ["conf/greeting.txt", "hello", 0o400],
      ["labels", 'app="x"', 0o440],
      ["token", "t1", 0o440],
    ]);
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).filter((n) =>
        !n.startsWith("..2")
      )
        .sort(),
      ["..data", "conf", "labels", "token"],
    );
    // The Secret changes: its file changes in place.
    await writeSecret(s, { token: "dDI=" }); // "t2"
    assert.deepEqual((await s.reconciler.pass()).actions, []);
    assert.equal(await Deno.readTextFile(`${dir}/token`), "t2");
    assert.equal(await Deno.readTextFile(`${dir}/conf/greeting.txt`), "hello");
  }),
);
