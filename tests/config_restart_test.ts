/**
 * A new agent (a restart) on the same runtime and directories while a running pod's
 * ConfigMap is gone: it never saw the ConfigMap, so it has no last translation of the pod to
 * keep; the pod must keep running all the same, its crashed containers restarted.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ReconcilerFixture, reconcilerFixture } from "../testing/reconciler_fixture.ts";
import { createLogger } from "../lib/base/log.ts";
import { ManifestSource } from "../lib/manifest/source.ts";
import { Reconciler } from "../lib/reconcile/reconciler.ts";
import type { PodView } from "../lib/reconcile/status.ts";

const IMAGE = "docker.io/library/busybox:1.35";

/** Pod "web": env G from ConfigMap cfg's key greeting. */
const WEB_POD = `apiVersion: v1
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
              key: greeting
`;

/** Pod "files": volume conf of cfg at /etc/app, no env reference. */
const FILES_POD = `apiVersion: v1
kind: Pod
metadata:
  name: files
spec:
  containers:
    - name: app
      image: ${IMAGE}
      volumeMounts:
        - name: conf
          mountPath: /etc/app
  volumes:
    - name: conf
      configMap:
        name: cfg
`;

function cfgDoc(greeting: string): string {
  return `apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  greeting: ${greeting}
`;
}

function view(pods: PodView[], name: string): PodView {
  const v = pods.find((p) => p.name === name);
  assert.ok(v, `pod ${name} is shown`);
  return v;
}

async function sandboxes(s: ReconcilerFixture): Promise<{ id: string; uid: string }[]> {
  return (await s.cri.listPodSandbox({ state: "SANDBOX_READY" }))
    .map((x) => ({ id: x.id, uid: x.metadata.uid }));
}

/** A second agent over the fixture's runtime, directory and root, as after a restart. */
function restarted(s: ReconcilerFixture, lines: string[] = []): Reconciler {
  return new Reconciler({
    cri: s.cri,
    clock: s.clock,
    source: new ManifestSource(s.manifests),
    log: createLogger({ write: (l) => lines.push(l) }),
    socket: "/run/fake.sock",
    nodeName: "node1",
    readHostDns: () => Promise.resolve({ servers: ["192.0.2.53"], searches: [], options: [] }),
    instance: "default",
    root: s.root,
    podLogRoot: s.logs,
    parallel: 4,
    intervalMs: 2000,
  });
}

Deno.test("an agent started while a running pod's ConfigMap is gone keeps the pod", async () => {
  await using s = await reconcilerFixture();
  await s.write("cfg.yaml", cfgDoc("hello"));
  await s.write("web.yaml", WEB_POD);
  await s.reconciler.pass();
  const before = await sandboxes(s);
  await Deno.remove(`${s.manifests}/cfg.yaml`);
  // A new agent on the same runtime and directories: it never saw the ConfigMap.
  const again = restarted(s);
  try {
    const r = await again.pass();
    assert.deepEqual(r.actions, []);
    assert.deepEqual(await sandboxes(s), before);
    assert.equal(
      view(r.pods, "web").lastError,
      'configmap "cfg" not found: the pod keeps running as it was',
    );
    // The ConfigMap comes back as it was: the pod is the one that runs.
    await s.write("cfg.yaml", cfgDoc("hello"));
    const back = await again.pass();
    assert.deepEqual(back.actions, []);
    assert.deepEqual(await sandboxes(s), before);
    assert.equal(view(back.pods, "web").lastError, null);
  } finally {
    await again.stop();
  }
});

Deno.test("after a restart, a pod whose volume's ConfigMap is gone still has its crashed container restarted", async () => {
  await using s = await reconcilerFixture();
  await s.write("cfg.yaml", cfgDoc("hello"));
  await s.write("files.yaml", FILES_POD);
  await s.reconciler.pass();
  await Deno.remove(`${s.manifests}/cfg.yaml`);
  const again = restarted(s);
  try {
    const first = await again.pass();
    assert.deepEqual(first.actions, []);
    assert.equal(view(first.pods, "files").status, "Running");
    const [container] = await s.cri.listContainers();
    assert.ok(container);
    s.cri.exitContainer(container.id, 1);
    // A pass sees the exit; the next, past the first restart's backoff, restarts it, as the
    // agent that saw the ConfigMap does (the files are still in the pod's volume).
    assert.deepEqual((await again.pass()).actions, []);
    await s.clock.advance(20_000);
    const r = await again.pass();
    assert.deepEqual(r.actions.map((a) => a.type), ["startContainers"]);
    assert.equal(view((await again.pass()).pods, "files").status, "Running");
  } finally {
    await again.stop();
  }
});
