/**
 * Objects that go away, or cannot be read, never take a running pod's data: an optional
 * object deleted keeps the pod as it runs (said in its status), and after a restart, a file
 * the agent could never read holds every pod that may read from it.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { ReconcilerFixture } from "../testing/reconciler_fixture.ts";
import { configFixture, IMAGE, restarted, view } from "../testing/config_fixtures.ts";

/** Pod "web": all of Secret creds as env (optional), and as a volume (optional). */
const WEB_POD = `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: ${IMAGE}
      envFrom:
        - secretRef: {name: creds, optional: true}
      volumeMounts:
        - {name: creds, mountPath: /etc/creds}
  volumes:
    - name: creds
      secret: {secretName: creds, optional: true}
`;

/** Pod "cfgenv": all of ConfigMap cfg as env (optional). */
const CFG_POD = `apiVersion: v1
kind: Pod
metadata:
  name: cfgenv
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: ${IMAGE}
      envFrom:
        - configMapRef: {name: cfg, optional: true}
`;

const CREDS = `apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {token: t0k3n-kept-value}
`;

const CFG = `apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {greeting: hello}
`;

async function sandboxIds(s: ReconcilerFixture): Promise<string[]> {
  return (await s.cri.listPodSandbox({ state: "SANDBOX_READY" })).map((x) => x.id).sort();
}

/** The fixture, its pods' volumes (tmpfs for secrets) unmounted before its directory goes. */
const setup = () => configFixture("tinylet_config_kept_test_");

Deno.test("deleting an object an optional envFrom reads keeps the pod running, and says so", async () => {
  await using s = await setup();
  await s.write("cfg.yaml", CFG);
  await s.write("cfgenv.yaml", CFG_POD);
  await s.reconciler.pass();
  const before = await sandboxIds(s);
  assert.equal(before.length, 1);
  await Deno.remove(`${s.manifests}/cfg.yaml`);
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions, []);
  assert.deepEqual(await sandboxIds(s), before);
  assert.deepEqual(
    r.problems.map((p) => p.message),
    [
      'Pod "default/cfgenv" keeps running with the ConfigMap and Secret data it had: ConfigMap "cfg" is gone (it is not restarted; its env and files stay as they were)',
    ],
  );
  assert.equal(
    view(r.pods, "cfgenv").lastError,
    'ConfigMap "cfg" gone: the pod keeps running with the ConfigMap and Secret data it had',
  );
  // Written again with other data: that is a change, and the pod is replaced.
  await s.write("cfg.yaml", CFG.replace("hello", "bonjour"));
  const changed = await s.reconciler.pass();
  assert.deepEqual(changed.actions.map((a) => a.type), ["deletePod", "createPod"]);
  // The reason says what changed: a value the env reads, not the pod's file.
  assert.equal(
    changed.actions[0]?.reason,
    'replace: a value its env reads changed (it reads ConfigMap "cfg")',
  );
});

Deno.test("after a restart, a Secret file that cannot be read holds the pods that may read it", async () => {
  await using s = await setup();
  await s.write("creds.yaml", CREDS);
  await Deno.chmod(`${s.manifests}/creds.yaml`, 0o600);
  await s.write("web.yaml", WEB_POD);
  await s.reconciler.pass();
  const before = await sandboxIds(s);
  const [podUid] = (await s.cri.listPodSandbox()).map((x) => x.metadata.uid);
  const volume = `${s.root}/pods/${podUid}/volumes/kubernetes.io~secret/creds`;
  assert.deepEqual([...Deno.readDirSync(volume)].map((e) => e.name).includes("token"), true);
  // The file is made readable by others: refused. A new agent never saw it valid.
  await Deno.chmod(`${s.manifests}/creds.yaml`, 0o644);
  const again = restarted(s);
  try {
    const r = await again.pass();
    assert.deepEqual(r.actions, []);
    assert.deepEqual(await sandboxIds(s), before);
    const file = `${s.manifests}/creds.yaml`;
    assert.equal(
      view(r.pods, "web").lastError,
      `Secret "creds" not found, and ${file} cannot be read (it may declare it): fix that file: the pod keeps running as it was`,
    );
    // Nothing was taken for absent: the volume still holds the Secret's file.
    assert.deepEqual([...Deno.readDirSync(volume)].map((e) => e.name).includes("token"), true);
    // Fixed: the pod is the one that ran, as the Secret is the one it read.
    await Deno.chmod(file, 0o600);
    const fixed = await again.pass();
    assert.deepEqual(fixed.actions, []);
    assert.deepEqual(await sandboxIds(s), before);
  } finally {
    await again.stop();
  }
});
