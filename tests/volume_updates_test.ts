/**
 * Config volumes rewritten in place (`lib/reconcile/volume_updates.ts`): only for a pod that
 * runs (a ready sandbox of its UID), is not waiting and has no flight, only where its pod
 * made the directory (a tmpfs mounted for a memory volume, so a Secret never lands on disk),
 * and a failed write said once per message.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createLogger } from "../lib/base/log.ts";
import type { ConfigMapObject, SecretObject } from "../lib/manifest/config_objects.ts";
import type { Manifest } from "../lib/manifest/parse.ts";
import type { Pod } from "../lib/manifest/pod.ts";
import { isMountPoint } from "../lib/node/mount_table.ts";
import { releaseVolumes } from "../lib/node/volume_release.ts";
import { prepareVolumes } from "../lib/node/volumes.ts";
import { type DesiredState, desiredState } from "../lib/reconcile/desired.ts";
import type { PodEvent } from "../lib/reconcile/executor_options.ts";
import type { ObservedState } from "../lib/reconcile/observe.ts";
import { VolumeUpdates } from "../lib/reconcile/volume_updates.ts";
import type { SandboxState } from "../lib/runtime/cri.ts";
import type { DesiredPod } from "../lib/translate/desired_pod.ts";
import { configMap, IMAGE, secret } from "../testing/config_fixtures.ts";

const IS_ROOT = Deno.uid() === 0;
const CI = Deno.env.get("CI") === "true";
const NOW = new Date("2026-01-02T03:04:05.000Z");

function needsRoot(name: string, fn: () => Promise<void>): Deno.TestDefinition {
  return {
    name,
    ignore: !IS_ROOT && !CI,
    fn: async () => {
      assert.ok(IS_ROOT, "this case mounts a tmpfs and needs root (CI=true forbids skipping it)");
      await fn();
    },
  };
}

/** Pod "app": volume "conf" of ConfigMap cfg, volume "sec" of Secret creds, env as given. */
function appPod(env: unknown[] = []): Pod {
  const spec = {
    containers: [{ name: "app", image: IMAGE, env }],
    volumes: [
      { name: "conf", configMap: { name: "cfg" } },
      { name: "sec", secret: { secretName: "creds" } },
    ],
  };
  return { apiVersion: "v1", kind: "Pod", metadata: { name: "app" }, spec } as unknown as Pod;
}

interface Setup {
  root: string;
  lines: string[];
  events: PodEvent[];
  busy: Set<string>;
  updates: VolumeUpdates;
  /** The desired state of `pod` with `objects`, under the setup's root. */
  desired(objects: (ConfigMapObject | SecretObject)[], pod?: Pod): Promise<DesiredState>;
}

async function withSetup(fn: (s: Setup) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "tinylet_volume_updates_test_" });
  const lines: string[] = [];
  const events: PodEvent[] = [];
  const busy = new Set<string>();
  const log = createLogger({ write: (l) => lines.push(l), now: () => NOW });
  const updates = new VolumeUpdates({
    log,
    onEvent: (e) => events.push(e),
    busy: (key) => busy.has(key),
  });
  const desired = (objects: (ConfigMapObject | SecretObject)[], pod = appPod()) => {
    const m: Manifest = {
      file: `${root}/app.yaml`,
      objects: objects.map((object) => ({ object, line: 1, column: 1 })),
      pods: [{ pod, line: 1, column: 1 }],
      problems: [],
      valid: true,
    };
    return desiredState({ dir: root, present: true, manifests: [m], lastValid: new Map() }, {
      instance: "default",
      podLogRoot: `${root}/logs`,
      root,
      nodeName: "node1",
      hostDns: { servers: ["192.0.2.53"], searches: [], options: [] },
    });
  };
  try {
    await fn({ root, lines, events, busy, updates, desired });
  } finally {
    const pods = await Array.fromAsync(Deno.readDir(`${root}/pods`)).catch(() => []);
    for (const e of pods) await releaseVolumes(`${root}/pods/${e.name}`);
    await Deno.remove(root, { recursive: true });
  }
}

function only(d: DesiredState): DesiredPod {
  const p = d.pods.get("default/app");
  assert.ok(p);
  return p;
}

/** The runtime showing one sandbox of `uid` for pod default/app, in `state`. */
function observed(uid: string, state: SandboxState = "SANDBOX_READY"): ObservedState {
  const sandbox = {
    id: "sandbox-1",
    metadata: { name: "app", uid, namespace: "default", attempt: 0 },
    state,
    createdAt: 1,
    labels: {},
    annotations: {},
    runtimeHandler: "",
  };
  return {
    pods: new Map([["default/app", [{ key: "default/app", sandbox, containers: [], source: "" }]]]),
    orphans: [],
    refused: [],
    exited: new Map(),
    statuses: new Map(),
    ips: new Map(),
  };
}

function confDir(p: DesiredPod): string {
  return `${p.podDir}/volumes/kubernetes.io~configmap/conf`;
}

function secDir(p: DesiredPod): string {
  return `${p.podDir}/volumes/kubernetes.io~secret/sec`;
}

/** The configMap volume made as a starting pod makes it (no tmpfs: the secret one is left out). */
async function prepareConf(p: DesiredPod): Promise<void> {
  await prepareVolumes(p.volumes.filter((v) => v.name === "conf"), p.podDir);
}

const CREDS = secret("creds", { token: "s3cret" });

Deno.test("a running pod's configMap volume is rewritten when its content changes", async () => {
  await withSetup(async (s) => {
    const first = only(await s.desired([configMap("cfg", { a: "1" }), CREDS]));
    await prepareConf(first);
    // What is there already is not written again.
    assert.equal(
      await s.updates.sync(
        await s.desired([configMap("cfg", { a: "1" }), CREDS]),
        observed(first.uid),
      ),
      0,
    );
    assert.deepEqual(s.lines, []);
    const next = await s.desired([configMap("cfg", { a: "2", b: "3" }), CREDS]);
    assert.equal(only(next).uid, first.uid);
    assert.equal(await s.updates.sync(next, observed(first.uid)), 1);
    assert.equal(await Deno.readTextFile(`${confDir(first)}/a`), "2");
    assert.equal(await Deno.readTextFile(`${confDir(first)}/b`), "3");
    assert.deepEqual(s.lines, [
      `2026-01-02T03:04:05.000Z INFO  Updated the files of volume "conf" of pod default/app`,
    ]);
    assert.deepEqual(s.events, [{
      pod: "default/app",
      type: "Normal",
      reason: "VolumeUpdated",
      message: 'Updated the files of volume "conf"',
    }]);
    // The same content again: nothing more.
    assert.equal(await s.updates.sync(next, observed(first.uid)), 0);
    assert.equal(s.lines.length, 1);
  });
});

Deno.test("nothing is written for a pod that does not run", async () => {
  await withSetup(async (s) => {
    const first = only(await s.desired([configMap("cfg", { a: "1" }), CREDS]));
    await prepareConf(first);
    const next = await s.desired([configMap("cfg", { a: "2" }), CREDS]);
    const none: ObservedState = { ...observed(first.uid), pods: new Map() };
    const cases: [string, ObservedState][] = [
      ["no sandbox", none],
      ["a sandbox not ready", observed(first.uid, "SANDBOX_NOTREADY")],
      ["a ready sandbox of another UID", observed("00000000-0000-0000-0000-000000000001")],
    ];
    for (const [what, o] of cases) {
      assert.equal(await s.updates.sync(next, o), 0, what);
      assert.equal(await Deno.readTextFile(`${confDir(first)}/a`), "1", what);
    }
    assert.deepEqual(s.lines, []);
    assert.deepEqual(s.events, []);
  });
});

Deno.test("nothing is written for a waiting pod or a pod with a flight", async () => {
  await withSetup(async (s) => {
    // Its env reads a ConfigMap that is missing: it waits, its volumes have their content.
    const env = [{ name: "G", valueFrom: { configMapKeyRef: { name: "gone", key: "k" } } }];
    const first = only(await s.desired([configMap("cfg", { a: "1" }), CREDS], appPod(env)));
    assert.equal(first.waiting?.message, 'configmap "gone" not found');
    await prepareConf(first);
    const next = await s.desired([configMap("cfg", { a: "2" }), CREDS], appPod(env));
    assert.ok(only(next).volumes[0]?.config?.payload, "the volume has its content");
    assert.equal(await s.updates.sync(next, observed(first.uid)), 0);
    assert.equal(await Deno.readTextFile(`${confDir(first)}/a`), "1");
    // Not waiting, but busy.
    const plain = only(await s.desired([configMap("cfg", { a: "1" }), CREDS]));
    await prepareConf(plain);
    s.busy.add("default/app");
    const edited = await s.desired([configMap("cfg", { a: "2" }), CREDS]);
    assert.equal(await s.updates.sync(edited, observed(plain.uid)), 0);
    assert.equal(await Deno.readTextFile(`${confDir(plain)}/a`), "1");
    // Its flight ends: written.
    s.busy.clear();
    assert.equal(await s.updates.sync(edited, observed(plain.uid)), 1);
    assert.equal(await Deno.readTextFile(`${confDir(plain)}/a`), "2");
  });
});

Deno.test("a volume directory the pod did not make is not made", async () => {
  await withSetup(async (s) => {
    const d = await s.desired([configMap("cfg", { a: "1" }), CREDS]);
    assert.equal(await s.updates.sync(d, observed(only(d).uid)), 0);
    await assert.rejects(Deno.lstat(only(d).podDir), Deno.errors.NotFound);
    assert.deepEqual(s.lines, []);
  });
});

Deno.test("a secret volume whose tmpfs is not mounted is never written", async () => {
  await withSetup(async (s) => {
    const p = only(await s.desired([configMap("cfg", { a: "1" }), CREDS]));
    // The directory is there, on the disk: the Secret must not land in it.
    await Deno.mkdir(secDir(p), { recursive: true });
    await prepareConf(p);
    const next = await s.desired([configMap("cfg", { a: "2" }), CREDS]);
    assert.equal(await s.updates.sync(next, observed(p.uid)), 1, "only the configMap volume");
    assert.equal(await Deno.readTextFile(`${confDir(p)}/a`), "2");
    assert.deepEqual(await Array.fromAsync(Deno.readDir(secDir(p))), []);
    // Nor on a later pass.
    assert.equal(await s.updates.sync(next, observed(p.uid)), 0);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(secDir(p))), []);
  });
});

Deno.test(
  needsRoot("a secret volume on its tmpfs is written, and rewritten on a change", async () => {
    await withSetup(async (s) => {
      const first = only(
        await s.desired([configMap("cfg", { a: "1" }), secret("creds", { token: "old" })]),
      );
      await prepareVolumes(first.volumes, first.podDir);
      assert.ok(await isMountPoint(secDir(first)));
      assert.equal(await Deno.readTextFile(`${secDir(first)}/token`), "old");
      const next = await s.desired([
        configMap("cfg", { a: "1" }),
        secret("creds", { token: "new" }),
      ]);
      assert.equal(await s.updates.sync(next, observed(first.uid)), 1);
      assert.equal(await Deno.readTextFile(`${secDir(first)}/token`), "new");
      assert.deepEqual(s.lines, [
        `2026-01-02T03:04:05.000Z INFO  Updated the files of volume "sec" of pod default/app`,
      ]);
    });
  }),
);

Deno.test("a failed write is logged once per message, and again after it succeeded", async () => {
  await withSetup(async (s) => {
    const first = only(await s.desired([configMap("cfg", { a: "1" }), CREDS]));
    await prepareConf(first);
    const dir = confDir(first);
    // A file where the payload's link "b" is to go: the writer refuses to touch it.
    await Deno.writeTextFile(`${dir}/b`, "mine");
    const withB = await s.desired([configMap("cfg", { a: "2", b: "3" }), CREDS]);
    const message =
      `Volume "conf": cannot write its files in "${dir}": Remove "${dir}/b": the payload's "b" is to be a link to ..data/b, but a file is there; nothing was written`;
    const warning =
      `2026-01-02T03:04:05.000Z WARN  Cannot update the files of pod default/app: ${message}`;
    for (let i = 0; i < 3; i++) assert.equal(await s.updates.sync(withB, observed(first.uid)), 0);
    assert.deepEqual(s.lines, [warning]);
    assert.deepEqual(s.events, [{
      pod: "default/app",
      type: "Warning",
      reason: "FailedMount",
      message,
    }]);
    assert.equal(await Deno.readTextFile(`${dir}/a`), "1", "nothing was written");
    // Another failure: said once more.
    await Deno.writeTextFile(`${dir}/c`, "mine");
    const withC = await s.desired([configMap("cfg", { a: "2", c: "3" }), CREDS]);
    await s.updates.sync(withC, observed(first.uid));
    await s.updates.sync(withC, observed(first.uid));
    assert.equal(s.lines.length, 2);
    assert.match(s.lines[1]!, /Remove "[^"]*\/c": the payload's "c"/);
    // Fixed, then failing again as the first time: said again.
    await Deno.remove(`${dir}/c`);
    assert.equal(await s.updates.sync(withC, observed(first.uid)), 1);
    assert.equal(s.lines.length, 3);
    for (let i = 0; i < 2; i++) await s.updates.sync(withB, observed(first.uid));
    assert.deepEqual(s.lines.slice(3), [warning]);
    assert.equal(s.events.length, 4);
  });
});
