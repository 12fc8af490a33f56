import assert from "node:assert/strict";
import type { PodSandboxConfig } from "../lib/runtime/cri.ts";
import { createLogger } from "../lib/base/log.ts";
import { Observer, ownedBy } from "../lib/reconcile/observe.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { CriError } from "../lib/runtime/errors.ts";
import { FakeCri } from "../testing/fake_cri.ts";

const UID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
const IMAGE = "busybox";

/** A sandbox config of this instance for pod `default/<name>` with `uid`. */
function sandboxConfig(name: string, uid: string, logDirectory?: string): PodSandboxConfig {
  return {
    metadata: { name, namespace: "default", uid, attempt: 0 },
    labels: {
      ...ownedBy("default"),
      [KEYS.podName]: name,
      [KEYS.podNamespace]: "default",
      [KEYS.podUid]: uid,
    },
    ...(logDirectory ? { logDirectory } : {}),
  };
}

function observer(lines: string[], podLogRoot = "/var/log/pods"): Observer {
  return new Observer({ podLogRoot, log: createLogger({ write: (l) => lines.push(l) }) });
}

Deno.test("a sandbox whose UID cannot name paths is marked and logged once, not once per pass", async () => {
  const cri = new FakeCri();
  const lines: string[] = [];
  const obs = observer(lines);
  const id = await cri.runPodSandbox(sandboxConfig("evil", "../../../victim"));
  for (let i = 0; i < 5; i++) {
    const state = await obs.observe(cri, "default");
    const [o] = state.pods.get("default/evil") ?? [];
    assert.match(o?.unsafeIdentity ?? "", /^its UID "\.\.\/\.\.\/\.\.\/victim" is not a pod UID/);
    assert.deepEqual(state.refused.map((r) => [r.kind, r.id]), [["sandbox", id]]);
  }
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.ok(
    lines[0]!.includes(
      `WARN  Leaving the host directories of sandbox "${id}" (pod "default/evil") alone: its UID "../../../victim" is not a pod UID`,
    ),
    lines.join("\n"),
  );
  assert.match(lines[0]!, /stops and removes it through the runtime only/);
});

Deno.test("a refusal is logged again only for a new sandbox, or after the old one went and came back", async () => {
  const cri = new FakeCri();
  const lines: string[] = [];
  const obs = observer(lines);
  const first = await cri.runPodSandbox(sandboxConfig("evil", "../a"));
  await obs.observe(cri, "default");
  await cri.runPodSandbox(sandboxConfig("worse", "../b"));
  await obs.observe(cri, "default");
  await obs.observe(cri, "default");
  assert.equal(lines.length, 2, lines.join("\n"));
  await cri.removePodSandbox(first);
  await obs.observe(cri, "default");
  assert.equal(lines.length, 2);
});

Deno.test("a sandbox of another instance is not looked at, whatever its UID", async () => {
  const cri = new FakeCri();
  const lines: string[] = [];
  const config = sandboxConfig("evil", "../../../victim");
  config.labels = { ...config.labels, ...ownedBy("other") };
  await cri.runPodSandbox(config);
  const state = await observer(lines).observe(cri, "default");
  assert.deepEqual([...state.pods.keys()], []);
  assert.deepEqual(lines, []);
});

Deno.test("a container whose log path is not where tinylet put it keeps no log path, said once", async () => {
  const cri = new FakeCri({ images: [IMAGE] });
  const lines: string[] = [];
  const obs = observer(lines);
  // A well-formed sandbox whose log directory is outside the pod log root.
  const config = sandboxConfig("web", UID, `/etc/default_web_${UID}`);
  const sandbox = await cri.runPodSandbox(config);
  const cid = await cri.createContainer(sandbox, {
    metadata: { name: "app", attempt: 0 },
    image: { image: IMAGE },
    logPath: "app/0.log",
    labels: config.labels ?? {},
  }, config);
  await cri.startContainer(cid);
  for (let i = 0; i < 3; i++) {
    const state = await obs.observe(cri, "default");
    assert.equal(state.statuses.get(cid)?.logPath, "");
    assert.equal(state.pods.get("default/web")?.[0]?.unsafeIdentity, undefined);
  }
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(lines[0]!, /Leaving the log files of container .* alone: its log path/);
  assert.match(lines[0]!, /is not below the pod log root/);
  // Once exited, the planner's garbage list sees no path either.
  cri.exitContainer(cid, 1);
  const state = await obs.observe(cri, "default");
  assert.equal(state.exited.get(cid)?.logPath, "");
});

Deno.test("a container where tinylet put it keeps its log path", async () => {
  const cri = new FakeCri({ images: [IMAGE] });
  const lines: string[] = [];
  const config = sandboxConfig("web", UID, `/var/log/pods/default_web_${UID}`);
  const sandbox = await cri.runPodSandbox(config);
  const cid = await cri.createContainer(sandbox, {
    metadata: { name: "app", attempt: 0 },
    image: { image: IMAGE },
    logPath: "app/0.log",
    labels: config.labels ?? {},
  }, config);
  await cri.startContainer(cid);
  const state = await observer(lines).observe(cri, "default");
  assert.equal(state.statuses.get(cid)?.logPath, `/var/log/pods/default_web_${UID}/app/0.log`);
  assert.deepEqual(lines, []);
});

Deno.test("an orphan is a container of ours whose sandbox the runtime says is gone; not one without our labels, nor one whose sandbox exists", async () => {
  /** A runtime that ignores the label selector of ListContainers and has lost some sandboxes. */
  class LooseCri extends FakeCri {
    readonly gone = new Set<string>();
    override listContainers(_filter?: unknown, opts?: Parameters<FakeCri["listContainers"]>[1]) {
      return super.listContainers(undefined, opts);
    }
    override podSandboxStatus(id: string, opts?: Parameters<FakeCri["podSandboxStatus"]>[1]) {
      if (this.gone.has(id)) {
        return Promise.reject(new CriError("NotFound", "PodSandboxStatus", "not found"));
      }
      return super.podSandboxStatus(id, opts);
    }
  }
  const cri = new LooseCri({ images: [IMAGE] });
  // Sandboxes of another instance: not listed for this one. The runtime lost the first.
  const config = { ...sandboxConfig("web", UID), labels: ownedBy("other") };
  const lost = await cri.runPodSandbox(config);
  const kept = await cri.runPodSandbox({
    ...config,
    metadata: { ...config.metadata, attempt: 1 },
  });
  cri.gone.add(lost);
  const ids: Record<string, string> = {};
  for (
    const [name, sandbox, labels] of [
      ["ours", lost, ownedBy("default")],
      ["theirs", lost, ownedBy("other")],
      ["ours-kept", kept, ownedBy("default")],
    ] as const
  ) {
    ids[name] = await cri.createContainer(sandbox, {
      metadata: { name, attempt: 0 },
      image: { image: IMAGE },
      labels: { ...labels },
    }, config);
  }
  const before = performance.now();
  const state = await observer([]).observe(cri, "default");
  const after = performance.now();
  assert.deepEqual(state.orphans.map((c) => c.id), [ids.ours]);
  assert.deepEqual([...state.pods.keys()], []);
  assert.ok(
    state.listedAt !== undefined && before <= state.listedAt && state.listedAt <= after,
    `the listing began within the call (${before} ≤ ${state.listedAt} ≤ ${after})`,
  );
});

Deno.test("the observer reads when a listing began on the clock it is given", async () => {
  const cri = new FakeCri({ images: [IMAGE] });
  // A monotonic clock that stands at 42 s, far from the system's.
  const state = await new Observer({ now: () => 42_000 }).observe(cri, "default");
  assert.equal(state.listedAt, 42_000);
});
