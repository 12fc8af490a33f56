import assert from "node:assert/strict";
import type { Container, ContainerState, PodSandbox, SandboxState } from "../lib/cri.ts";
import type { DesiredState } from "../lib/desired.ts";
import { groupObserved } from "../lib/observe.ts";
import { type Action, plan } from "../lib/plan.ts";
import type { Pod } from "../lib/pod.ts";
import { buildContainerConfig, type DesiredPod, K, translatePod } from "../lib/translate.ts";

const SOURCE = "/etc/tinylet/manifests/web.yaml";
const OPTIONS = {
  instance: "default",
  podLogRoot: "/var/log/pods",
  root: "/var/lib/tinylet",
  nodeName: "node1",
  hostDns: { servers: ["192.0.2.53"], searches: [], options: [] },
};

function basePod(): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web" },
    spec: {
      containers: [
        {
          name: "app",
          image: "docker.io/library/busybox:1.35",
          command: ["sleep", "3600"],
        },
        {
          name: "side",
          image: "docker.io/library/busybox:1.35",
          command: ["sleep", "3600"],
        },
      ],
    },
  };
}

function desiredOf(...pods: DesiredPod[]): DesiredState {
  return {
    pods: new Map(pods.map((p) => [p.key, p])),
    keepSources: new Set(),
    files: new Set(pods.map((p) => p.source)),
    complete: true,
    problems: [],
  };
}

interface RuntimeOptions {
  sandboxState?: SandboxState;
  attempt?: number;
  createdAt?: number;
  containerStates?: Record<string, ContainerState | undefined>;
  id?: string;
}

/** What the runtime holds after the executor ran `pod` (all containers running). */
function baseRuntime(pod: DesiredPod, o: RuntimeOptions = {}) {
  const id = o.id ?? `sb-${pod.uid.slice(0, 8)}`;
  const sandbox: PodSandbox = {
    id,
    metadata: { ...pod.sandbox.metadata, attempt: o.attempt ?? 0 },
    state: o.sandboxState ?? "SANDBOX_READY",
    createdAt: o.createdAt ?? 1,
    labels: { ...pod.sandbox.labels },
    annotations: { ...pod.sandbox.annotations },
    runtimeHandler: "",
  };
  const containers: Container[] = [];
  for (const d of pod.containers) {
    const c = {
      name: d.name,
      config: buildContainerConfig(pod, d.name, { podIPs: [], attempt: 0 }),
    };
    const state = o.containerStates && c.name in o.containerStates
      ? o.containerStates[c.name]
      : "CONTAINER_RUNNING";
    if (!state) continue;
    containers.push({
      id: `${id}-${c.name}`,
      podSandboxId: id,
      metadata: { ...c.config.metadata },
      image: { ...c.config.image },
      imageRef: "sha256:1",
      state,
      createdAt: 1,
      labels: { ...c.config.labels },
      annotations: { ...c.config.annotations },
    });
  }
  return { sandboxes: [sandbox], containers };
}

function summary(actions: Action[]): string[] {
  return actions.map((a) => {
    switch (a.type) {
      case "createPod":
        return `createPod ${a.key} attempt=${a.attempt}`;
      case "deletePod":
        return `deletePod ${a.key} ${a.sandboxId} removeState=${a.removeState}`;
      case "createContainer":
        return `createContainer ${a.key} ${a.container}`;
      case "startContainer":
        return `startContainer ${a.key} ${a.containerId}`;
    }
  });
}

Deno.test("plan creates a declared pod that is not running", async () => {
  const web = await translatePod(basePod(), SOURCE, OPTIONS);
  const actions = plan(desiredOf(web), groupObserved([], []));
  assert.deepEqual(summary(actions), ["createPod default/web attempt=0"]);
  assert.equal(actions[0]!.reason, `declared in ${SOURCE}`);
});

Deno.test("plan does nothing for a pod running with the same spec hash", async () => {
  const web = await translatePod(basePod(), SOURCE, OPTIONS);
  const rt = baseRuntime(web);
  assert.deepEqual(
    plan(desiredOf(web), groupObserved(rt.sandboxes, rt.containers)),
    [],
  );
});

Deno.test("plan replaces a pod whose spec changed: delete the old, then create", async () => {
  const old = await translatePod(basePod(), SOURCE, OPTIONS);
  const changed = basePod();
  changed.spec.containers[0]!.image = "docker.io/library/busybox:1.36";
  const web = await translatePod(changed, SOURCE, OPTIONS);
  const rt = baseRuntime(old);
  const actions = plan(
    desiredOf(web),
    groupObserved(rt.sandboxes, rt.containers),
  );
  assert.deepEqual(summary(actions), [
    `deletePod default/web sb-${old.uid.slice(0, 8)} removeState=true`,
    "createPod default/web attempt=0",
  ]);
  assert.match(actions[0]!.reason, /^replace: its spec changed in .*web\.yaml/);
});

Deno.test("plan deletes a pod whose file was deleted", async () => {
  const web = await translatePod(basePod(), SOURCE, OPTIONS);
  const rt = baseRuntime(web);
  const desired = desiredOf();
  const actions = plan(desired, groupObserved(rt.sandboxes, rt.containers));
  assert.deepEqual(summary(actions), [
    `deletePod default/web sb-${web.uid.slice(0, 8)} removeState=true`,
  ]);
  assert.equal(actions[0]!.reason, `its file ${SOURCE} was deleted`);
});

Deno.test("plan deletes a pod that a valid file no longer declares", async () => {
  const web = await translatePod(basePod(), SOURCE, OPTIONS);
  const rt = baseRuntime(web);
  const desired = desiredOf();
  desired.files.add(SOURCE);
  const actions = plan(desired, groupObserved(rt.sandboxes, rt.containers));
  assert.equal(actions[0]!.reason, `no longer declared in ${SOURCE}`);
});

Deno.test("plan keeps the pods of a file that is present but invalid", async () => {
  const web = await translatePod(basePod(), SOURCE, OPTIONS);
  const rt = baseRuntime(web);
  const desired = desiredOf();
  desired.files.add(SOURCE);
  desired.keepSources.add(SOURCE);
  assert.deepEqual(
    plan(desired, groupObserved(rt.sandboxes, rt.containers)),
    [],
  );
});

Deno.test("plan keeps every pod while the manifest directory is missing", async () => {
  const web = await translatePod(basePod(), SOURCE, OPTIONS);
  const rt = baseRuntime(web);
  const desired = desiredOf();
  desired.complete = false;
  assert.deepEqual(
    plan(desired, groupObserved(rt.sandboxes, rt.containers)),
    [],
  );
});

Deno.test("plan replaces a sandbox that is not ready with attempt + 1, keeping the pod's state", async () => {
  const web = await translatePod(basePod(), SOURCE, OPTIONS);
  const rt = baseRuntime(web, {
    sandboxState: "SANDBOX_NOTREADY",
    attempt: 2,
    containerStates: { app: "CONTAINER_EXITED", side: "CONTAINER_EXITED" },
  });
  const actions = plan(
    desiredOf(web),
    groupObserved(rt.sandboxes, rt.containers),
  );
  assert.deepEqual(summary(actions), [
    `deletePod default/web sb-${web.uid.slice(0, 8)} removeState=false`,
    "createPod default/web attempt=3",
  ]);
});

Deno.test("plan creates a container missing from a running sandbox", async () => {
  const web = await translatePod(basePod(), SOURCE, OPTIONS);
  const rt = baseRuntime(web, { containerStates: { side: undefined } });
  const actions = plan(
    desiredOf(web),
    groupObserved(rt.sandboxes, rt.containers),
  );
  assert.deepEqual(summary(actions), ["createContainer default/web side"]);
});

Deno.test("plan starts a container that was created but not started", async () => {
  const web = await translatePod(basePod(), SOURCE, OPTIONS);
  const rt = baseRuntime(web, {
    containerStates: { app: "CONTAINER_CREATED" },
  });
  const actions = plan(
    desiredOf(web),
    groupObserved(rt.sandboxes, rt.containers),
  );
  assert.deepEqual(summary(actions), [
    `startContainer default/web sb-${web.uid.slice(0, 8)}-app`,
  ]);
});

Deno.test("plan leaves an exited container as it is", async () => {
  const web = await translatePod(basePod(), SOURCE, OPTIONS);
  const rt = baseRuntime(web, { containerStates: { app: "CONTAINER_EXITED" } });
  assert.deepEqual(
    plan(desiredOf(web), groupObserved(rt.sandboxes, rt.containers)),
    [],
  );
});

Deno.test("plan removes an older duplicate of a running sandbox and keeps the newest", async () => {
  const web = await translatePod(basePod(), SOURCE, OPTIONS);
  const older = baseRuntime(web, { id: "old", createdAt: 1 });
  const newer = baseRuntime(web, { id: "new", createdAt: 2, attempt: 1 });
  const actions = plan(
    desiredOf(web),
    groupObserved([...newer.sandboxes, ...older.sandboxes], [
      ...older.containers,
      ...newer.containers,
    ]),
  );
  assert.deepEqual(summary(actions), [
    "deletePod default/web old removeState=false",
  ]);
});

Deno.test("plan stops containers with the grace period recorded on them", async () => {
  const pod = basePod();
  pod.spec.terminationGracePeriodSeconds = 7;
  const web = await translatePod(pod, SOURCE, OPTIONS);
  const rt = baseRuntime(web);
  const [action] = plan(
    desiredOf(),
    groupObserved(rt.sandboxes, rt.containers),
  );
  assert.ok(action?.type === "deletePod");
  assert.equal(action.gracePeriodSeconds, 7);
  assert.deepEqual(
    action.containerIds.sort(),
    rt.containers.map((c) => c.id).sort(),
  );
});

Deno.test("plan uses 30 s when a container carries no grace period", async () => {
  const web = await translatePod(basePod(), SOURCE, OPTIONS);
  const rt = baseRuntime(web);
  for (const c of rt.containers) delete c.annotations[K.gracePeriod];
  const [action] = plan(
    desiredOf(),
    groupObserved(rt.sandboxes, rt.containers),
  );
  assert.ok(action?.type === "deletePod");
  assert.equal(action.gracePeriodSeconds, 30);
});
