/**
 * The auto-update decision table: which images are checked, what each container of an
 * annotated pod comes to once its tag is resolved, which pods are replaced; and the plan that
 * carries out a replacement.
 */
import assert from "node:assert/strict";
import type { Container, ContainerState, PodSandbox } from "../lib/runtime/cri.ts";
import type { DesiredState } from "../lib/reconcile/desired.ts";
import { groupObserved, type ObservedState } from "../lib/reconcile/observe.ts";
import {
  containerVerdicts,
  imagesToCheck,
  podUpdates,
  updateReason,
} from "../lib/reconcile/auto_update.ts";
import { plan } from "../lib/reconcile/plan.ts";
import type { ContainerSpec, Pod } from "../lib/manifest/pod.ts";
import { type DesiredPod, translatePod } from "../lib/translate/desired_pod.ts";
import { buildContainerConfig } from "../lib/translate/container_config.ts";

const OPTIONS = {
  instance: "default",
  podLogRoot: "/var/log/pods",
  root: "/var/lib/tinylet",
  nodeName: "node1",
  hostDns: { servers: ["192.0.2.53"], searches: [], options: [] },
};
const APP = "registry.example.com:5000/app:1";
const SIDE = "registry.example.com:5000/side:2";
const OLD = `sha256:${"a".repeat(64)}`;
const NEW = `sha256:${"b".repeat(64)}`;

function pod(
  name: string,
  annotation: string | undefined,
  containers: ContainerSpec[] = [
    { name: "app", image: APP },
    { name: "side", image: SIDE },
  ],
): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      ...(annotation ? { annotations: { "tinylet.dev/auto-update": annotation } } : {}),
    },
    spec: { containers },
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

interface Instance {
  name: string;
  imageRef: string;
  state?: ContainerState;
  attempt?: number;
}

/** The runtime's sandbox of `d` (ready unless told) and its container instances. */
function runtimeOf(
  d: DesiredPod,
  instances: Instance[],
  o: { id?: string; ready?: boolean; hash?: string } = {},
): { sandbox: PodSandbox; containers: Container[] } {
  const id = o.id ?? `sb-${d.name}`;
  const sandbox: PodSandbox = {
    id,
    metadata: { ...d.sandbox.metadata, attempt: 0 },
    state: o.ready === false ? "SANDBOX_NOTREADY" : "SANDBOX_READY",
    createdAt: 1,
    labels: { ...d.sandbox.labels },
    annotations: {
      ...d.sandbox.annotations,
      ...(o.hash ? { "tinylet/spec-hash": o.hash } : {}),
    },
    runtimeHandler: "",
  };
  const containers = instances.map((i): Container => {
    const config = buildContainerConfig(d, i.name, { podIPs: [], attempt: 0 }, i.attempt ?? 0);
    return {
      id: `${id}-${i.name}-${i.attempt ?? 0}`,
      podSandboxId: id,
      metadata: { ...config.metadata },
      image: { ...config.image },
      imageRef: i.imageRef,
      state: i.state ?? "CONTAINER_RUNNING",
      createdAt: 1,
      labels: { ...config.labels },
      annotations: { ...config.annotations },
    };
  });
  return { sandbox, containers };
}

function observedOf(...runtimes: ReturnType<typeof runtimeOf>[]): ObservedState {
  return groupObserved(
    runtimes.map((r) => r.sandbox),
    runtimes.flatMap((r) => r.containers),
    new Map(),
  );
}

const translate = (p: Pod) => translatePod(p, `/m/${p.metadata.name}.yaml`, OPTIONS);

/** One row per container: `pod/container outcome`. */
function table(
  desired: DesiredState,
  observed: ObservedState,
  resolved: Map<string, string | Error>,
): string[] {
  return containerVerdicts(desired, observed, resolved).map((v) =>
    `${v.key}/${v.container} ${v.outcome}${v.detail ? ` (${v.detail})` : ""}`
  );
}

Deno.test("auto-update: only the running, tag-named containers of annotated pods are checked", async () => {
  const annotated = await translate(pod("a", "registry"));
  const plain = await translate(pod("plain", undefined));
  const pinned = await translate(
    pod("pinned", "registry", [
      { name: "app", image: `registry.example.com:5000/app@${OLD}` },
      { name: "never", image: "registry.example.com:5000/never:1", imagePullPolicy: "Never" },
    ]),
  );
  const stopped = await translate(pod("stopped", "registry", [{ name: "app", image: "x.io/s:1" }]));
  const observed = observedOf(
    runtimeOf(annotated, [{ name: "app", imageRef: OLD }, { name: "side", imageRef: OLD }]),
    runtimeOf(plain, [{ name: "app", imageRef: OLD }, { name: "side", imageRef: OLD }]),
    runtimeOf(pinned, [{ name: "app", imageRef: OLD }, { name: "never", imageRef: OLD }]),
    runtimeOf(stopped, [{ name: "app", imageRef: OLD, state: "CONTAINER_EXITED" }]),
  );
  assert.deepEqual(
    imagesToCheck(desiredOf(annotated, plain, pinned, stopped), observed),
    [APP, SIDE],
  );
});

Deno.test("auto-update: each container's outcome once the tags are resolved", async () => {
  const a = await translate(pod("a", "registry"));
  const b = await translate(pod("b", "registry"));
  const plain = await translate(pod("plain", undefined));
  const pinned = await translate(
    pod("pinned", "registry", [
      { name: "app", image: `registry.example.com:5000/app@${OLD}` },
      { name: "never", image: APP, imagePullPolicy: "Never" },
    ]),
  );
  // Pod c has a sidecar that has not started yet and an app that exited.
  const c = await translate(pod("c", "registry"));
  // Pod d runs the old image in a sandbox of an older spec: not the current pod.
  const d = await translate(pod("d", "registry"));
  const observed = observedOf(
    runtimeOf(a, [{ name: "app", imageRef: OLD }, { name: "side", imageRef: OLD }]),
    runtimeOf(b, [{ name: "app", imageRef: NEW }, { name: "side", imageRef: OLD }]),
    runtimeOf(plain, [{ name: "app", imageRef: OLD }, { name: "side", imageRef: OLD }]),
    runtimeOf(pinned, [{ name: "app", imageRef: OLD }, { name: "never", imageRef: OLD }]),
    runtimeOf(c, [{ name: "app", imageRef: OLD, state: "CONTAINER_EXITED" }]),
    runtimeOf(d, [{ name: "app", imageRef: OLD }], { hash: "v1:other" }),
  );
  const resolved = new Map<string, string | Error>([
    [APP, NEW],
    [SIDE, new Error("unauthorized: authentication required")],
  ]);
  assert.deepEqual(table(desiredOf(a, b, plain, pinned, c, d), observed, resolved), [
    "default/a/app update",
    "default/a/side failed (unauthorized: authentication required)",
    "default/b/app current",
    "default/b/side failed (unauthorized: authentication required)",
    "default/pinned/app pinned",
    "default/pinned/never never",
    "default/c/app not running",
    "default/c/side not running",
    "default/d/app not running",
    "default/d/side not running",
  ]);
  const updates = podUpdates(containerVerdicts(desiredOf(a, b, c, d), observed, resolved));
  assert.deepEqual(updates.map((u) => [u.key, u.sandboxId, u.containers.map((c) => c.container)]), [
    ["default/a", "sb-a", ["app"]],
  ]);
  assert.equal(
    updateReason(updates[0]!),
    'image "registry.example.com:5000/app:1" of container app moved: sha256:aaaaaaaaaaaa → sha256:bbbbbbbbbbbb',
  );
});

Deno.test("auto-update: the newest running instance counts, not an older dead one", async () => {
  const a = await translate(pod("a", "registry", [{ name: "app", image: APP }]));
  const observed = observedOf(
    runtimeOf(a, [
      { name: "app", imageRef: OLD, state: "CONTAINER_EXITED", attempt: 0 },
      { name: "app", imageRef: NEW, attempt: 1 },
    ]),
  );
  assert.deepEqual(table(desiredOf(a), observed, new Map([[APP, NEW]])), [
    "default/a/app current",
  ]);
  // A not-ready sandbox is not the running pod: nothing to compare.
  const down = observedOf(runtimeOf(a, [{ name: "app", imageRef: OLD }], { ready: false }));
  assert.deepEqual(imagesToCheck(desiredOf(a), down), []);
  assert.deepEqual(table(desiredOf(a), down, new Map([[APP, NEW]])), ["default/a/app not running"]);
});

Deno.test("plan: a replacement deletes the named sandbox and creates the next attempt, keeping the pod's state", async () => {
  const a = await translate(pod("a", "registry"));
  const observed = observedOf(
    runtimeOf(a, [
      { name: "app", imageRef: OLD, attempt: 2 },
      { name: "side", imageRef: OLD },
    ]),
  );
  const replacements = new Map([["default/a", { sandboxId: "sb-a", reason: "image moved" }]]);
  const { actions } = plan(desiredOf(a), observed, {
    now: 1,
    restartAllowedAt: () => undefined,
    replacements,
  });
  assert.deepEqual(
    actions.map((x) =>
      x.type === "deletePod"
        ? `delete ${x.sandboxId} removeState=${x.removeState} (${x.reason})`
        : x.type === "createPod"
        ? `create attempt=${x.attempt} ${
          x.start.map((s) => `${s.name}#${s.restartCount}`).join(",")
        } (${x.reason})`
        : x.type
    ),
    [
      "delete sb-a removeState=false (replace: image moved)",
      "create attempt=1 app#3,side#1 (image moved)",
    ],
  );
  // A request for another sandbox (one already replaced) changes nothing.
  const stale = new Map([["default/a", { sandboxId: "sb-gone", reason: "image moved" }]]);
  assert.deepEqual(
    plan(desiredOf(a), observed, { now: 1, restartAllowedAt: () => undefined, replacements: stale })
      .actions,
    [],
  );
});

Deno.test("auto-update: a pod that does not restart its containers and has one finished is left alone", async () => {
  for (const restartPolicy of ["Never", "OnFailure"] as const) {
    const p = pod("job", "registry");
    p.spec.restartPolicy = restartPolicy;
    const job = await translate(p);
    const observed = observedOf(
      runtimeOf(job, [
        { name: "app", imageRef: OLD, state: "CONTAINER_EXITED" },
        { name: "side", imageRef: OLD },
      ]),
    );
    assert.deepEqual(imagesToCheck(desiredOf(job), observed), [], restartPolicy);
    assert.deepEqual(table(desiredOf(job), observed, new Map([[APP, NEW], [SIDE, NEW]])), [
      "default/job/app finished",
      "default/job/side finished",
    ]);
    // While every regular container runs, it is checked as any other.
    const running = observedOf(
      runtimeOf(job, [{ name: "app", imageRef: OLD }, { name: "side", imageRef: OLD }]),
    );
    assert.deepEqual(imagesToCheck(desiredOf(job), running), [APP, SIDE], restartPolicy);
  }
});
