import assert from "node:assert/strict";
import type {
  Container,
  ContainerState,
  ContainerStatus,
  PodSandbox,
  SandboxState,
} from "../lib/runtime/cri.ts";
import type { DesiredState } from "../lib/reconcile/desired.ts";
import { groupObserved, type ObservedState } from "../lib/reconcile/observe.ts";
import {
  type Action,
  INIT_POLL_MS,
  plan,
  type PlanContext,
  restartKey,
} from "../lib/reconcile/plan.ts";
import type { Pod } from "../lib/manifest/pod.ts";
import type { KillRequest } from "../lib/reconcile/kills.ts";
import { type DesiredPod, translatePod } from "../lib/translate/desired_pod.ts";
import { buildContainerConfig } from "../lib/translate/container_config.ts";
import { KEYS } from "../lib/runtime/labels.ts";

const SOURCE = "/etc/tinylet/manifests/web.yaml";
const OPTIONS = {
  instance: "default",
  podLogRoot: "/var/log/pods",
  root: "/var/lib/tinylet",
  nodeName: "node1",
  hostDns: { servers: ["192.0.2.53"], searches: [], options: [] },
};
const NOW = 1_800_000_000_000;
const IMAGE = "docker.io/library/busybox:1.35";

function basePod(): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web" },
    spec: {
      containers: [
        { name: "app", image: IMAGE, command: ["sleep", "3600"] },
        { name: "side", image: IMAGE, command: ["sleep", "3600"] },
      ],
    },
  };
}

function withInits(pod: Pod): Pod {
  pod.spec.initContainers = [
    { name: "migrate", image: IMAGE, command: ["true"] },
    { name: "proxy", image: IMAGE, restartPolicy: "Always" },
    { name: "seed", image: IMAGE, command: ["true"] },
  ];
  return pod;
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

/** One container instance in the runtime: its state and, when exited, its exit code. */
interface Instance {
  name: string;
  state: ContainerState;
  exitCode?: number;
  attempt?: number;
}

interface RuntimeOptions {
  sandboxState?: SandboxState;
  attempt?: number;
  createdAt?: number;
  id?: string;
  /** The containers present; default: every container of the pod running once. */
  instances?: Instance[];
}

/** What the runtime holds of `pod`: its sandbox and container instances. */
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
  const instances: Instance[] = o.instances ??
    pod.containers.map((c) => ({ name: c.name, state: "CONTAINER_RUNNING" }));
  const containers: Container[] = [];
  const exited = new Map<string, ContainerStatus>();
  for (const inst of instances) {
    const attempt = inst.attempt ?? 0;
    const config = buildContainerConfig(pod, inst.name, { podIPs: [], attempt: 0 }, attempt);
    const cid = `${id}-${inst.name}-${attempt}`;
    containers.push({
      id: cid,
      podSandboxId: id,
      metadata: { ...config.metadata },
      image: { ...config.image },
      imageRef: "sha256:1",
      state: inst.state,
      createdAt: 1,
      labels: { ...config.labels },
      annotations: { ...config.annotations },
    });
    if (inst.state === "CONTAINER_EXITED") {
      exited.set(cid, {
        id: cid,
        metadata: { ...config.metadata },
        state: "CONTAINER_EXITED",
        createdAt: 1,
        startedAt: 2,
        finishedAt: (NOW - 1000) * 1e6,
        exitCode: inst.exitCode ?? 0,
        image: { image: IMAGE },
        imageRef: "sha256:1",
        reason: (inst.exitCode ?? 0) === 0 ? "Completed" : "Error",
        message: "",
        labels: {},
        annotations: {},
        mounts: [],
        logPath: `/var/log/pods/x/${inst.name}/${attempt}.log`,
      });
    }
  }
  return { sandboxes: [sandbox], containers, exited };
}

function observedOf(...runtimes: ReturnType<typeof baseRuntime>[]): ObservedState {
  const exited = new Map<string, ContainerStatus>();
  for (const r of runtimes) for (const [k, v] of r.exited) exited.set(k, v);
  return groupObserved(
    runtimes.flatMap((r) => r.sandboxes),
    runtimes.flatMap((r) => r.containers),
    exited,
  );
}

function ctx(backoff: Record<string, number> = {}): PlanContext {
  return { now: NOW, restartAllowedAt: (key) => backoff[key] };
}

function summary(actions: Action[]): string[] {
  return actions.map((a) => {
    switch (a.type) {
      case "createPod":
        return `createPod ${a.key} attempt=${a.attempt} start=${
          a.start.map((s) => `${s.name}#${s.restartCount}`).join(",")
        }`;
      case "deletePod":
        return `deletePod ${a.key} ${a.sandboxId} removeState=${a.removeState}`;
      case "startContainers":
        return `startContainers ${a.key} ${
          a.start.map((s) => `${s.name}#${s.restartCount}`).join(",")
        }`;
      case "startCreated":
        return `startCreated ${a.key} ${a.containerId}`;
      case "removeContainers":
        return `removeContainers ${a.key} ${a.containers.map((c) => c.id).join(",")}`;
      case "killContainer":
        return `killContainer ${a.key} ${a.containerId} ${a.reason}`;
      case "removeOrphan":
        return `removeOrphan ${a.key} ${a.containerId} sandbox=${a.sandboxId}`;
      case "rotateLogs":
        return `rotateLogs ${a.key} ${a.logs.map((l) => l.containerId).join(",")}`;
    }
  });
}

async function web(edit: (p: Pod) => Pod = (p) => p): Promise<DesiredPod> {
  return await translatePod(edit(basePod()), SOURCE, OPTIONS);
}

Deno.test("plan creates a declared pod that is not running, starting every container", async () => {
  const pod = await web();
  const { actions } = plan(desiredOf(pod), observedOf(), ctx());
  assert.deepEqual(summary(actions), ["createPod default/web attempt=0 start=app#0,side#0"]);
  assert.equal(actions[0]!.reason, `declared in ${SOURCE}`);
});

Deno.test("plan does nothing for a pod running with the same spec hash", async () => {
  const pod = await web();
  assert.deepEqual(plan(desiredOf(pod), observedOf(baseRuntime(pod)), ctx()), {
    actions: [],
    wakeAt: undefined,
  });
});

Deno.test("plan replaces a pod whose spec changed: delete the old, then create", async () => {
  const old = await web();
  const pod = await web((p) => {
    p.spec.containers[0]!.image = "docker.io/library/busybox:1.36";
    return p;
  });
  const { actions } = plan(desiredOf(pod), observedOf(baseRuntime(old)), ctx());
  assert.deepEqual(summary(actions), [
    `deletePod default/web sb-${old.uid.slice(0, 8)} removeState=true`,
    "createPod default/web attempt=0 start=app#0,side#0",
  ]);
  assert.match(actions[0]!.reason, /^replace: its spec changed in .*web\.yaml/);
});

Deno.test("plan deletes a pod whose file was deleted", async () => {
  const pod = await web();
  const { actions } = plan(desiredOf(), observedOf(baseRuntime(pod)), ctx());
  assert.deepEqual(summary(actions), [
    `deletePod default/web sb-${pod.uid.slice(0, 8)} removeState=true`,
  ]);
  assert.equal(actions[0]!.reason, `its file ${SOURCE} was deleted`);
});

Deno.test("plan deletes a pod whose URL is no longer read, saying so", async () => {
  const url = "https://config.example/pods.yaml";
  const pod = await translatePod(basePod(), url, OPTIONS);
  const { actions } = plan(desiredOf(), observedOf(baseRuntime(pod)), ctx());
  assert.equal(actions[0]!.reason, `its URL ${url} is no longer read (--manifest-url)`);
});

Deno.test("a pod running from a file that cannot be judged now is not replaced by the URL's copy; a deleted file's is", async () => {
  const url = "https://config.example/pods.yaml";
  const fromFile = await web();
  const fromUrl = await web((p) => {
    p.spec.containers[0]!.args = ["from-url"];
    return p;
  });
  const atUrl = { ...fromUrl, source: url };
  const running = observedOf(baseRuntime(fromFile));
  // The file is invalid and was never read valid: it may still declare the pod, and win.
  const kept = { ...desiredOf(atUrl), keepSources: new Set([SOURCE]) };
  assert.deepEqual(plan(kept, running, ctx()).actions, []);
  // The directory is refused or missing: nothing of it is judged.
  const partial = { ...desiredOf(atUrl), complete: false, independent: new Set([url]) };
  assert.deepEqual(plan(partial, running, ctx()).actions, []);
  // The file is gone from a directory read whole: the URL's copy replaces it.
  const moved = plan(desiredOf(atUrl), running, ctx()).actions;
  assert.deepEqual(moved.map((x) => x.type), ["deletePod", "createPod"]);
});

Deno.test("plan deletes a pod that a valid file no longer declares", async () => {
  const pod = await web();
  const desired = desiredOf();
  desired.files.add(SOURCE);
  const { actions } = plan(desired, observedOf(baseRuntime(pod)), ctx());
  assert.equal(actions[0]!.reason, `no longer declared in ${SOURCE}`);
});

Deno.test("plan keeps the pods of a file that is present but invalid", async () => {
  const pod = await web();
  const desired = desiredOf();
  desired.files.add(SOURCE);
  desired.keepSources.add(SOURCE);
  assert.deepEqual(plan(desired, observedOf(baseRuntime(pod)), ctx()).actions, []);
});

Deno.test("plan keeps every pod while the manifest directory is missing", async () => {
  const pod = await web();
  const desired = desiredOf();
  desired.complete = false;
  assert.deepEqual(plan(desired, observedOf(baseRuntime(pod)), ctx()).actions, []);
});

Deno.test("plan replaces a dead sandbox with attempt + 1, continuing the restart counts", async () => {
  const pod = await web();
  const rt = baseRuntime(pod, {
    sandboxState: "SANDBOX_NOTREADY",
    attempt: 2,
    instances: [
      { name: "app", state: "CONTAINER_EXITED", exitCode: 137, attempt: 4 },
      { name: "side", state: "CONTAINER_EXITED", exitCode: 137, attempt: 0 },
    ],
  });
  const { actions } = plan(desiredOf(pod), observedOf(rt), ctx());
  assert.deepEqual(summary(actions), [
    `deletePod default/web sb-${pod.uid.slice(0, 8)} removeState=false`,
    "createPod default/web attempt=3 start=app#5,side#1",
  ]);
});

Deno.test("plan creates a container missing from a running sandbox", async () => {
  const pod = await web();
  const rt = baseRuntime(pod, { instances: [{ name: "app", state: "CONTAINER_RUNNING" }] });
  assert.deepEqual(summary(plan(desiredOf(pod), observedOf(rt), ctx()).actions), [
    "startContainers default/web side#0",
  ]);
});

Deno.test("plan starts a container that was created but not started", async () => {
  const pod = await web();
  const rt = baseRuntime(pod, {
    instances: [{ name: "app", state: "CONTAINER_CREATED" }, {
      name: "side",
      state: "CONTAINER_RUNNING",
    }],
  });
  assert.deepEqual(summary(plan(desiredOf(pod), observedOf(rt), ctx()).actions), [
    `startCreated default/web sb-${pod.uid.slice(0, 8)}-app-0`,
  ]);
});

// ---- restart policies and the crash-loop backoff ----

const POLICY_CASES: {
  name: string;
  policy: "Always" | "OnFailure" | "Never" | undefined;
  exitCode: number;
  restarts: boolean;
}[] = [
  {
    name: "Always (the default) restarts a container that failed",
    policy: undefined,
    exitCode: 1,
    restarts: true,
  },
  {
    name: "Always restarts a container that succeeded",
    policy: "Always",
    exitCode: 0,
    restarts: true,
  },
  {
    name: "OnFailure restarts a container that failed",
    policy: "OnFailure",
    exitCode: 2,
    restarts: true,
  },
  {
    name: "OnFailure leaves a container that succeeded",
    policy: "OnFailure",
    exitCode: 0,
    restarts: false,
  },
  { name: "Never leaves a container that failed", policy: "Never", exitCode: 1, restarts: false },
  {
    name: "Never leaves a container that succeeded",
    policy: "Never",
    exitCode: 0,
    restarts: false,
  },
];

for (const c of POLICY_CASES) {
  Deno.test(`plan: restartPolicy ${c.name}`, async () => {
    const pod = await web((p) => {
      if (c.policy) p.spec.restartPolicy = c.policy;
      return p;
    });
    const rt = baseRuntime(pod, {
      instances: [
        { name: "app", state: "CONTAINER_EXITED", exitCode: c.exitCode, attempt: 3 },
        { name: "side", state: "CONTAINER_RUNNING" },
      ],
    });
    const { actions } = plan(desiredOf(pod), observedOf(rt), ctx());
    assert.deepEqual(summary(actions), c.restarts ? ["startContainers default/web app#4"] : []);
  });
}

Deno.test("plan waits out the crash-loop backoff and asks to be woken when it ends", async () => {
  const pod = await web();
  const rt = baseRuntime(pod, {
    instances: [
      { name: "app", state: "CONTAINER_EXITED", exitCode: 1, attempt: 1 },
      { name: "side", state: "CONTAINER_RUNNING" },
    ],
  });
  const until = NOW + 20_000;
  const waiting = plan(
    desiredOf(pod),
    observedOf(rt),
    ctx({ [restartKey(pod.uid, "app")]: until }),
  );
  assert.deepEqual(waiting, { actions: [], wakeAt: until });
  const later = plan(desiredOf(pod), observedOf(rt), {
    now: until,
    restartAllowedAt: () => until,
  });
  assert.deepEqual(summary(later.actions), ["startContainers default/web app#2"]);
});

Deno.test("plan keeps one dead instance per container and removes older ones with their logs", async () => {
  const pod = await web();
  const rt = baseRuntime(pod, {
    instances: [
      { name: "app", state: "CONTAINER_EXITED", exitCode: 1, attempt: 0 },
      { name: "app", state: "CONTAINER_EXITED", exitCode: 1, attempt: 1 },
      { name: "app", state: "CONTAINER_RUNNING", attempt: 2 },
      { name: "side", state: "CONTAINER_RUNNING" },
    ],
  });
  const { actions } = plan(desiredOf(pod), observedOf(rt), ctx());
  const id = `sb-${pod.uid.slice(0, 8)}`;
  assert.deepEqual(summary(actions), [`removeContainers default/web ${id}-app-0`]);
  assert.deepEqual(
    actions[0]?.type === "removeContainers" && actions[0].containers,
    [{ id: `${id}-app-0`, logPath: "/var/log/pods/x/app/0.log" }],
  );
});

// ---- init containers and sidecars ----

Deno.test("plan starts a new pod's init containers up to the first that must finish", async () => {
  const pod = await web(withInits);
  const { actions } = plan(desiredOf(pod), observedOf(), ctx());
  assert.deepEqual(summary(actions), ["createPod default/web attempt=0 start=migrate#0"]);
});

Deno.test("plan waits while an init container runs, and looks again soon", async () => {
  const pod = await web(withInits);
  const rt = baseRuntime(pod, { instances: [{ name: "migrate", state: "CONTAINER_RUNNING" }] });
  assert.deepEqual(plan(desiredOf(pod), observedOf(rt), ctx()), {
    actions: [],
    wakeAt: NOW + INIT_POLL_MS,
  });
});

Deno.test("plan starts the sidecar and the next init container once the first succeeded", async () => {
  const pod = await web(withInits);
  const rt = baseRuntime(pod, {
    instances: [{ name: "migrate", state: "CONTAINER_EXITED", exitCode: 0 }],
  });
  assert.deepEqual(summary(plan(desiredOf(pod), observedOf(rt), ctx()).actions), [
    "startContainers default/web proxy#0,seed#0",
  ]);
});

Deno.test("plan starts the regular containers after the last init container succeeded", async () => {
  const pod = await web(withInits);
  const rt = baseRuntime(pod, {
    instances: [
      { name: "migrate", state: "CONTAINER_EXITED", exitCode: 0 },
      { name: "proxy", state: "CONTAINER_RUNNING" },
      { name: "seed", state: "CONTAINER_EXITED", exitCode: 0 },
    ],
  });
  assert.deepEqual(summary(plan(desiredOf(pod), observedOf(rt), ctx()).actions), [
    "startContainers default/web app#0,side#0",
  ]);
});

Deno.test("plan retries a failed init container with backoff and starts nothing after it", async () => {
  const pod = await web(withInits);
  const rt = baseRuntime(pod, {
    instances: [{ name: "migrate", state: "CONTAINER_EXITED", exitCode: 3 }],
  });
  const until = NOW + 10_000;
  assert.deepEqual(
    plan(desiredOf(pod), observedOf(rt), ctx({ [restartKey(pod.uid, "migrate")]: until })),
    { actions: [], wakeAt: until },
  );
  assert.deepEqual(summary(plan(desiredOf(pod), observedOf(rt), ctx()).actions), [
    "startContainers default/web migrate#1",
  ]);
});

Deno.test("plan leaves a pod whose init container failed under restartPolicy Never", async () => {
  const pod = await web((p) => {
    p.spec.restartPolicy = "Never";
    return withInits(p);
  });
  const rt = baseRuntime(pod, {
    instances: [{ name: "migrate", state: "CONTAINER_EXITED", exitCode: 3 }],
  });
  assert.deepEqual(plan(desiredOf(pod), observedOf(rt), ctx()), { actions: [], wakeAt: undefined });
});

Deno.test("plan restarts an exited sidecar even under restartPolicy Never", async () => {
  const pod = await web((p) => {
    p.spec.restartPolicy = "Never";
    return withInits(p);
  });
  const rt = baseRuntime(pod, {
    instances: [
      { name: "migrate", state: "CONTAINER_EXITED", exitCode: 0 },
      { name: "proxy", state: "CONTAINER_EXITED", exitCode: 0, attempt: 0 },
      { name: "seed", state: "CONTAINER_EXITED", exitCode: 0 },
      { name: "app", state: "CONTAINER_RUNNING" },
      { name: "side", state: "CONTAINER_RUNNING" },
    ],
  });
  assert.deepEqual(summary(plan(desiredOf(pod), observedOf(rt), ctx()).actions), [
    "startContainers default/web proxy#1",
  ]);
});

Deno.test("plan does not re-run init containers once the regular containers have started", async () => {
  const pod = await web(withInits);
  const rt = baseRuntime(pod, {
    instances: [
      { name: "proxy", state: "CONTAINER_RUNNING" },
      { name: "app", state: "CONTAINER_RUNNING" },
      { name: "side", state: "CONTAINER_RUNNING" },
    ],
  });
  assert.deepEqual(plan(desiredOf(pod), observedOf(rt), ctx()).actions, []);
});

Deno.test("plan stops regular containers first, then sidecars in reverse order", async () => {
  const pod = await web((p) => {
    withInits(p);
    p.spec.initContainers!.push({ name: "metrics", image: IMAGE, restartPolicy: "Always" });
    return p;
  });
  const rt = baseRuntime(pod, {
    instances: [
      { name: "migrate", state: "CONTAINER_EXITED", exitCode: 0 },
      { name: "proxy", state: "CONTAINER_RUNNING" },
      { name: "seed", state: "CONTAINER_EXITED", exitCode: 0 },
      { name: "metrics", state: "CONTAINER_RUNNING" },
      { name: "app", state: "CONTAINER_RUNNING" },
      { name: "side", state: "CONTAINER_RUNNING" },
    ],
  });
  const [action] = plan(desiredOf(), observedOf(rt), ctx()).actions;
  assert.ok(action?.type === "deletePod");
  const id = `sb-${pod.uid.slice(0, 8)}`;
  assert.deepEqual(action.stopGroups, [
    [`${id}-app-0`, `${id}-side-0`],
    [`${id}-metrics-0`],
    [`${id}-proxy-0`],
  ]);
});

Deno.test("plan stops containers with the grace period recorded on them", async () => {
  const pod = await web((p) => {
    p.spec.terminationGracePeriodSeconds = 7;
    return p;
  });
  const [action] = plan(desiredOf(), observedOf(baseRuntime(pod)), ctx()).actions;
  assert.ok(action?.type === "deletePod");
  assert.equal(action.gracePeriodSeconds, 7);
});

Deno.test("plan uses 30 s when a container carries no grace period", async () => {
  const pod = await web();
  const rt = baseRuntime(pod);
  for (const c of rt.containers) delete c.annotations[KEYS.gracePeriod];
  const [action] = plan(desiredOf(), observedOf(rt), ctx()).actions;
  assert.ok(action?.type === "deletePod");
  assert.equal(action.gracePeriodSeconds, 30);
});

Deno.test("plan removes an older duplicate of a running sandbox and keeps the newest", async () => {
  const pod = await web();
  const older = baseRuntime(pod, { id: "old", createdAt: 1 });
  const newer = baseRuntime(pod, { id: "new", createdAt: 2, attempt: 1 });
  const { actions } = plan(desiredOf(pod), observedOf(newer, older), ctx());
  assert.deepEqual(summary(actions), ["deletePod default/web old removeState=false"]);
});

// ---- sandboxes whose identity cannot name host paths ----

/** `pod`'s runtime, with the sandbox's metadata and labels saying `identity` instead. */
function claiming(
  pod: DesiredPod,
  identity: { namespace?: string; name?: string; uid?: string },
  o: RuntimeOptions = {},
) {
  const rt = baseRuntime(pod, o);
  const sandbox = rt.sandboxes[0]!;
  const m = sandbox.metadata;
  Object.assign(m, identity);
  sandbox.labels[KEYS.podNamespace] = m.namespace;
  sandbox.labels[KEYS.podName] = m.name;
  sandbox.labels[KEYS.podUid] = m.uid;
  return rt;
}

Deno.test("plan removes a sandbox with a UID tinylet never writes through the runtime only, whatever keeps its file", async () => {
  const pod = await web();
  const rt = claiming(pod, { uid: "../../../victim" }, { id: "forged" });
  const desired = desiredOf();
  // Its annotations name a file that is present but invalid, which keeps a real pod.
  desired.files.add(SOURCE);
  desired.keepSources.add(SOURCE);
  const { actions } = plan(desired, observedOf(rt), ctx());
  assert.deepEqual(summary(actions), ["deletePod default/web forged removeState=false"]);
  assert.equal(
    actions[0]!.reason,
    'tinylet did not make it: its UID "../../../victim" is not a pod UID (32 lower-case hex digits in 8-4-4-4-12 groups, as tinylet writes them)',
  );
});

Deno.test("plan never takes a sandbox with an unsafe identity for a declared pod's, even with its spec hash", async () => {
  const pod = await web();
  const rt = claiming(pod, { uid: pod.uid.toUpperCase() }, { id: "forged" });
  const { actions } = plan(desiredOf(pod), observedOf(rt), ctx());
  assert.deepEqual(summary(actions), [
    "deletePod default/web forged removeState=false",
    "createPod default/web attempt=0 start=app#0,side#0",
  ]);
});

Deno.test("plan keeps waiting on a sandbox with an unsafe identity while the manifest directory is missing", async () => {
  const pod = await web();
  const desired = desiredOf();
  desired.complete = false;
  const rt = claiming(pod, { uid: "../x" });
  assert.deepEqual(plan(desired, observedOf(rt), ctx()).actions, []);
});

const UNSAFE_IDENTITIES: { name: string; edit: (rt: ReturnType<typeof baseRuntime>) => void }[] = [
  {
    name: "a UID with a path in it",
    edit: (rt) => rt.sandboxes[0]!.metadata.uid = "a/../../b",
  },
  { name: "an empty UID", edit: (rt) => rt.sandboxes[0]!.metadata.uid = "" },
  {
    name: "a UID with a newline after it",
    edit: (rt) => rt.sandboxes[0]!.metadata.uid += "\n",
  },
  { name: "a namespace of '..'", edit: (rt) => rt.sandboxes[0]!.metadata.namespace = ".." },
  { name: "a name with a slash", edit: (rt) => rt.sandboxes[0]!.metadata.name = "a/b" },
  {
    name: "a UID label that differs from the metadata",
    edit: (rt) => rt.sandboxes[0]!.labels[KEYS.podUid] = "00000000-0000-0000-0000-000000000000",
  },
  {
    name: "a name label that differs from the metadata",
    edit: (rt) => rt.sandboxes[0]!.labels[KEYS.podName] = "other",
  },
];

for (const c of UNSAFE_IDENTITIES) {
  Deno.test(`plan removes a sandbox with ${c.name} and leaves its directories`, async () => {
    const pod = await web();
    const rt = baseRuntime(pod, { id: "forged" });
    c.edit(rt);
    const observed = observedOf(rt);
    const [o] = [...observed.pods.values()].flat();
    assert.ok(o?.unsafeIdentity, "the sandbox is marked");
    assert.equal(observed.refused.length, 1);
    const { actions } = plan(desiredOf(), observed, ctx());
    assert.equal(actions.length, 1);
    assert.ok(actions[0]?.type === "deletePod");
    assert.equal(actions[0].removeState, false);
    assert.match(actions[0].reason, /^tinylet did not make it: /);
  });
}

Deno.test("plan leaves the directories of a UID that a declared pod still uses", async () => {
  const pod = await web();
  // Another pod's sandbox claiming web's UID: removing it must not take web's directories.
  const rt = claiming(pod, { name: "other" }, { id: "other" });
  const { actions } = plan(desiredOf(pod), observedOf(baseRuntime(pod), rt), ctx());
  assert.deepEqual(summary(actions), ["deletePod default/other other removeState=false"]);
});

Deno.test("plan leaves the directories of a UID that a sandbox which stays still uses", async () => {
  const pod = await web();
  const keptSource = "/etc/tinylet/manifests/kept.yaml";
  const kept = baseRuntime(pod, { id: "kept" });
  kept.sandboxes[0]!.annotations[KEYS.source] = keptSource;
  const twin = claiming(pod, { name: "twin" }, { id: "twin" });
  const desired = desiredOf();
  desired.files.add(keptSource);
  desired.keepSources.add(keptSource);
  const { actions } = plan(desired, observedOf(kept, twin), ctx());
  assert.deepEqual(summary(actions), ["deletePod default/twin twin removeState=false"]);
});

// ---- kills, left-over containers and log rotation ----

function killRequest(
  pod: DesiredPod,
  containerId: string,
  reason: KillRequest["reason"],
): KillRequest {
  return {
    key: pod.key,
    containerId,
    container: "app",
    reason,
    message: `kill app: ${reason}`,
    gracePeriodSeconds: 7,
  };
}

for (const reason of ["LivenessProbe", "StartupProbe", "FailedPostStartHook"] as const) {
  Deno.test(`plan kills a running container asked to be killed, with reason ${reason}`, async () => {
    const pod = await web();
    const rt = baseRuntime(pod);
    const id = `sb-${pod.uid.slice(0, 8)}-app-0`;
    const request: KillRequest = {
      ...killRequest(pod, id, reason),
      ...(reason === "FailedPostStartHook" ? {} : {
        preStop: { exec: { command: ["sh", "-c", "sleep 1"] } },
        target: { containerId: id, host: "10.0.0.9", namedPorts: {} },
      }),
    };
    const { actions } = plan(desiredOf(pod), observedOf(rt), { ...ctx(), kills: [request] });
    assert.deepEqual(actions, [{ type: "killContainer", ...request }]);
  });
}

Deno.test("plan drops a kill request whose container is no longer running or gone", async () => {
  const pod = await web();
  const sb = `sb-${pod.uid.slice(0, 8)}`;
  const rt = baseRuntime(pod, {
    instances: [
      { name: "app", state: "CONTAINER_EXITED", exitCode: 137 },
      { name: "side", state: "CONTAINER_RUNNING" },
    ],
  });
  const kills = [
    killRequest(pod, `${sb}-app-0`, "LivenessProbe"),
    killRequest(pod, `${sb}-gone-0`, "StartupProbe"),
  ];
  assert.deepEqual(summary(plan(desiredOf(pod), observedOf(rt), { ...ctx(), kills }).actions), [
    "startContainers default/web app#1",
  ]);
});

Deno.test("plan kills only within the pod the request names", async () => {
  const pod = await web();
  const id = `sb-${pod.uid.slice(0, 8)}-app-0`;
  const request = { ...killRequest(pod, id, "LivenessProbe"), key: "default/other" };
  const { actions } = plan(desiredOf(pod), observedOf(baseRuntime(pod)), {
    ...ctx(),
    kills: [request],
  });
  assert.deepEqual(actions, []);
});

Deno.test("plan removes a container of ours whose sandbox is not listed", async () => {
  const pod = await web();
  const rt = baseRuntime(pod);
  const observed = groupObserved([], rt.containers);
  const { actions } = plan(desiredOf(), observed, ctx());
  const sb = `sb-${pod.uid.slice(0, 8)}`;
  assert.deepEqual(summary(actions), [
    `removeOrphan orphan/${sb}-app-0 ${sb}-app-0 sandbox=${sb}`,
    `removeOrphan orphan/${sb}-side-0 ${sb}-side-0 sandbox=${sb}`,
  ]);
  // Each removal has a key of its own; the pod it belonged to is named in its reason.
  assert.deepEqual(
    actions.map((a) => a.reason),
    [
      `its sandbox ${sb.slice(0, 12)} of pod default/web is not listed`,
      `its sandbox ${sb.slice(0, 12)} of pod default/web is not listed`,
    ],
  );
});

Deno.test("plan never removes a container without the ownership labels, orphaned or not", async () => {
  const pod = await web();
  const rt = baseRuntime(pod);
  const [managed, instance] = rt.containers.map((c) => ({ ...c, labels: { ...c.labels } }));
  delete managed!.labels["tinylet"];
  delete instance!.labels["tinylet/instance"];
  assert.deepEqual(plan(desiredOf(), groupObserved([], [managed!, instance!]), ctx()).actions, []);
});

function withLogPaths(observed: ObservedState): ObservedState {
  for (const list of observed.pods.values()) {
    for (const o of list) {
      for (const c of o.containers) {
        if (c.state !== "CONTAINER_RUNNING") continue;
        observed.statuses.set(c.id, {
          id: c.id,
          metadata: c.metadata,
          state: c.state,
          createdAt: 1,
          startedAt: 2,
          finishedAt: 0,
          exitCode: 0,
          image: { image: IMAGE },
          imageRef: "sha256:1",
          reason: "",
          message: "",
          labels: {},
          annotations: {},
          mounts: [],
          logPath: `/var/log/pods/x/${c.metadata.name}/0.log`,
        });
      }
    }
  }
  return observed;
}

Deno.test("plan rotates the logs of running containers only when the log check is due", async () => {
  const pod = await web();
  const rt = baseRuntime(pod, {
    instances: [
      { name: "app", state: "CONTAINER_RUNNING" },
      { name: "side", state: "CONTAINER_EXITED", exitCode: 0 },
    ],
  });
  const observed = withLogPaths(observedOf(rt));
  // side exited with 0 under restartPolicy Always: it restarts, before the rotation.
  const sb = `sb-${pod.uid.slice(0, 8)}`;
  assert.deepEqual(
    summary(plan(desiredOf(pod), observed, { ...ctx(), logCheckDue: true }).actions),
    [
      "startContainers default/web side#1",
      `rotateLogs default/web ${sb}-app-0`,
    ],
  );
  const [, rotation] = plan(desiredOf(pod), observed, { ...ctx(), logCheckDue: true }).actions;
  assert.deepEqual(rotation?.type === "rotateLogs" && rotation.logs, [
    { containerId: `${sb}-app-0`, logPath: "/var/log/pods/x/app/0.log" },
  ]);
  assert.deepEqual(summary(plan(desiredOf(pod), observed, ctx()).actions), [
    "startContainers default/web side#1",
  ]);
});

Deno.test("plan rotates no log of a sandbox it deletes", async () => {
  const pod = await web();
  const observed = withLogPaths(observedOf(baseRuntime(pod)));
  assert.deepEqual(summary(plan(desiredOf(), observed, { ...ctx(), logCheckDue: true }).actions), [
    `deletePod default/web sb-${pod.uid.slice(0, 8)} removeState=true`,
  ]);
});
