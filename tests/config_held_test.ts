/**
 * Objects that cannot be known, and objects gone, as a running pod lives on: a held pod still
 * has its crashed containers restarted without its volume emptied; a broken file that cannot
 * declare objects holds nothing; a kept pod's other objects still update; a replacement for a
 * new env is not a crash.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  cfgDoc,
  configFixture,
  filesPod,
  restarted,
  sandboxes,
  view,
  webPod,
} from "../testing/config_fixtures.ts";
import { FIXTURE_IMAGE as IMAGE } from "../testing/reconciler_fixture.ts";

const setup = () => configFixture("tinylet_config_held_test_");

/** Pod "opt": all of ConfigMap "overrides" as env, optional. */
const OPT_POD = `apiVersion: v1
kind: Pod
metadata: {name: opt}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: ${IMAGE}
      envFrom:
        - configMapRef: {name: overrides, optional: true}
`;

/** Pod "vol": Secret creds as an optional volume, no env reference. */
const VOL_POD = `apiVersion: v1
kind: Pod
metadata: {name: vol}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: ${IMAGE}
      volumeMounts: [{name: creds, mountPath: /etc/creds}]
  volumes:
    - name: creds
      secret: {secretName: creds, optional: true}
`;

const CREDS = `apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {token: t0k3n-held-value}
`;

Deno.test("a broken file that names no ConfigMap or Secret holds nothing", async () => {
  await using s = await setup();
  await s.write("opt.yaml", OPT_POD);
  await s.reconciler.pass();
  await s.write("typo.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: [}\n");
  const r = await s.reconciler.pass();
  assert.equal(view(r.pods, "opt").status, "Running");
  assert.equal(view(r.pods, "opt").lastError, null);
  // A container that exits restarts, as with no broken file.
  const [c] = await s.cri.listContainers();
  assert.ok(c);
  s.cri.exitContainer(c.id, 1);
  await s.reconciler.pass();
  await s.clock.advance(20_000);
  const again = await s.reconciler.pass();
  assert.deepEqual(again.actions.map((a) => a.type), ["startContainers"]);
});

Deno.test("a held pod's crashed container restarts, its volume not emptied", async () => {
  await using s = await setup();
  await s.write("creds.yaml", CREDS);
  await Deno.chmod(`${s.manifests}/creds.yaml`, 0o600);
  await s.write("vol.yaml", VOL_POD);
  await s.reconciler.pass();
  const [sandbox] = await sandboxes(s);
  assert.ok(sandbox);
  const volume = `${s.root}/pods/${sandbox.uid}/volumes/kubernetes.io~secret/creds`;
  const names = () => [...Deno.readDirSync(volume)].map((e) => e.name).filter((n) => n === "token");
  assert.deepEqual(names(), ["token"]);
  // Readable by others: refused; a new agent never saw it valid, and the file names a Secret.
  await Deno.chmod(`${s.manifests}/creds.yaml`, 0o644);
  const agent = restarted(s);
  try {
    const first = await agent.pass();
    assert.deepEqual(first.actions, []);
    const [c] = await s.cri.listContainers();
    assert.ok(c);
    s.cri.exitContainer(c.id, 1);
    await agent.pass();
    await s.clock.advance(20_000);
    const r = await agent.pass();
    assert.deepEqual(r.actions.map((a) => a.type), ["startContainers"]);
    assert.deepEqual(names(), ["token"], "the volume still holds the Secret's file");
    assert.deepEqual((await sandboxes(s)).map((x) => x.id), [sandbox.id]);
  } finally {
    await agent.stop();
  }
});

Deno.test("while a kept pod's ConfigMap is gone, its other objects still update", async () => {
  await using s = await setup();
  // Pod "files" mounts cfg; its env reads ConfigMap "extra", which then goes.
  const extra = (v: string) =>
    `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {v: "${v}"}\n`;
  const pod = filesPod().replace(
    "      volumeMounts:",
    "      env:\n        - name: V\n          valueFrom: {configMapKeyRef: {name: extra, key: v}}\n      volumeMounts:",
  );
  await s.write("cfg.yaml", cfgDoc("one"));
  await s.write("extra.yaml", extra("x"));
  await s.write("files.yaml", pod);
  await s.reconciler.pass();
  const [sandbox] = await sandboxes(s);
  assert.ok(sandbox);
  await Deno.remove(`${s.manifests}/extra.yaml`);
  assert.deepEqual((await s.reconciler.pass()).actions, []);
  await s.write("cfg.yaml", cfgDoc("two"));
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions, []);
  const file = `${s.root}/pods/${sandbox.uid}/volumes/kubernetes.io~configmap/conf/greeting`;
  assert.equal(await Deno.readTextFile(file), "two");
  assert.equal(
    view(r.pods, "files").lastError,
    'configmap "extra" not found: the pod keeps running with the ConfigMap and Secret data it had',
  );
});

Deno.test("a replacement for a new env is not counted as a crash", async () => {
  await using s = await setup();
  await s.write("cfg.yaml", cfgDoc("hello"));
  await s.write("web.yaml", webPod());
  await s.reconciler.pass();
  // The value changes; the old container is seen exited (stopped by the replacement).
  await s.write("cfg.yaml", cfgDoc("hi"));
  const [c] = await s.cri.listContainers();
  assert.ok(c);
  s.cri.exitContainer(c.id, 137);
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions.map((a) => a.type), ["deletePod", "createPod"]);
  const events = s.reconciler.events("default/web").map((e) => e.reason);
  assert.equal(events.includes("BackOff"), false, events.join(", "));
  const after = await s.reconciler.pass();
  assert.equal(view(after.pods, "web").backoffUntil, null);
  assert.equal(view(after.pods, "web").status, "Running");
});
