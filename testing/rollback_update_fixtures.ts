/**
 * What the tests of auto-update rollback on the fake runtime share: pod "web" annotated for
 * auto-update with a 10 s rollback window, on a fake whose registry serves its tag (or varied:
 * no annotation, no window, a container "side" before "app", a pull policy, a grace period);
 * hooks run before each container the reconciler creates, each sandbox it starts and each
 * container it stops (containers that ignore SIGTERM); an auto-update check run to its end;
 * the images the runtime was asked to create containers from; the repo digest the fake's
 * registry gave an image; an agent restarted on the same root with the same auto-update
 * interval (and a `--rollback-window`); and the steps most tests start with: v1 made the last
 * good spec, a new image pushed and taken by the next check, that image crashing and being
 * rolled back.
 *
 * @module
 */
import assert from "node:assert/strict";
import { AgentMetrics } from "../lib/base/metrics.ts";
import type { Reconciler } from "../lib/reconcile/reconciler.ts";
import type { Container, ContainerConfig, Cri } from "../lib/runtime/cri.ts";
import type { Action } from "../lib/reconcile/plan.ts";
import type { PodView } from "../lib/reconcile/status.ts";
import { FakeCri } from "./fake_cri.ts";
import { FIXTURE_IMAGE, type ReconcilerFixture, reconcilerFixture } from "./reconciler_fixture.ts";

/** The tag pod "web" runs, served by the fake's registry. */
export const APP = "registry.example.com:5000/app:1";

/** The auto-update interval of the agents of these tests, in milliseconds. */
export const INTERVAL = 60_000;

/** The tag of container "side" of {@linkcode autoWeb} with `side`, served by the fake's registry. */
export const SIDE = "registry.example.com:5000/side:1";

/** How pod "web" of {@linkcode autoWeb} differs from the usual. */
export interface WebOptions {
  /** Its `tinylet.dev/rollback-window` annotation (default "10s"); none when null. */
  window?: string | null;
  /** Whether it is annotated `tinylet.dev/auto-update: registry` (default true). */
  autoUpdate?: boolean;
  /**
   * A container "side" running {@linkcode SIDE}, declared before "app"; with `probe`, a
   * readiness probe that succeeds (an exec of `true` every second).
   */
  side?: "plain" | "probe";
  /** The `imagePullPolicy` of container "app", when set. */
  pullPolicy?: string;
  /** Its `terminationGracePeriodSeconds` (default 1). */
  grace?: number;
}

/**
 * Pod "web" as YAML: annotated `tinylet.dev/auto-update: registry`, with a 10 s rollback
 * window, running {@linkcode APP}; `args` tells one spec from another, `options` vary it.
 */
export function autoWeb(args: string, options: WebOptions = {}): string {
  const { window = "10s", autoUpdate = true, side, pullPolicy, grace = 1 } = options;
  const annotations = [
    ...(autoUpdate ? ['    tinylet.dev/auto-update: "registry"'] : []),
    ...(window !== null ? [`    tinylet.dev/rollback-window: "${window}"`] : []),
  ];
  const probe = side === "probe"
    ? '\n      readinessProbe: {exec: {command: ["true"]}, periodSeconds: 1}'
    : "";
  return `apiVersion: v1
kind: Pod
metadata:
  name: web
${annotations.length > 0 ? `  annotations:\n${annotations.join("\n")}\n` : ""}spec:
  terminationGracePeriodSeconds: ${grace}
  containers:
${side ? `    - name: side\n      image: ${SIDE}${probe}\n` : ""}    - name: app
      image: ${APP}
      args: ["${args}"]${pullPolicy ? `\n      imagePullPolicy: ${pullPolicy}` : ""}
`;
}

/** A fixture for these tests, with the metrics it counts into. */
export interface UpdateFixture extends ReconcilerFixture {
  metrics: AgentMetrics;
  /**
   * Run by the fixture's reconciler before each of its CreateContainer calls, with the
   * container's name, when set (to move the clock between the containers of one pod).
   */
  beforeCreate?: (container: string) => Promise<void>;
  /**
   * Run by the fixture's reconciler before each of its calls named by {@linkcode HookedCall},
   * with the call's arguments, when set (after `beforeCreate`).
   */
  beforeCall?: (method: HookedCall, args: unknown[]) => Promise<void>;
}

/** The runtime calls of the fixture's reconciler that {@linkcode UpdateFixture.beforeCall} sees. */
export type HookedCall = "runPodSandbox" | "createContainer" | "stopContainer";

const HOOKED: ReadonlySet<string> = new Set<HookedCall>([
  "runPodSandbox",
  "createContainer",
  "stopContainer",
]);

/**
 * A reconciler on the fake (hand clock, auto-update every {@linkcode INTERVAL}) whose registry
 * serves nothing yet: push {@linkcode APP} to give it its first image. With `statusFile`, the
 * reconciler writes its status file under the root.
 */
export async function updateFixture({ statusFile = false } = {}): Promise<UpdateFixture> {
  const metrics = new AgentMetrics();
  const made: { fixture?: UpdateFixture } = {};
  const f = await reconcilerFixture({
    prefix: "tinylet_rollback_update_test_",
    autoUpdateIntervalMs: INTERVAL,
    metrics,
    statusFile,
    fake: (clock) => new FakeCri({ images: [FIXTURE_IMAGE], now: () => clock.epochMs() }),
    cri: (_dir, fake) =>
      withHooks(fake, async (method, args) => {
        const f = made.fixture;
        if (method === "createContainer") {
          await f?.beforeCreate?.((args[1] as ContainerConfig).metadata.name);
        }
        await f?.beforeCall?.(method, args);
      }),
  });
  made.fixture = Object.assign(f, { metrics });
  return made.fixture;
}

/** `fake`, whose calls named by {@linkcode HookedCall} run `before` with their arguments first. */
function withHooks(
  fake: FakeCri,
  before: (method: HookedCall, args: unknown[]) => Promise<void>,
): Cri {
  return new Proxy(fake, {
    get(target, p) {
      if (typeof p === "string" && HOOKED.has(p)) {
        const method = p as HookedCall;
        const call = target[method] as (...args: unknown[]) => Promise<unknown>;
        return async (...args: unknown[]) => {
          await before(method, args);
          return await call.apply(target, args);
        };
      }
      const value = Reflect.get(target, p, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/**
 * A new agent on the fixture's runtime, root and clock, as after a restart; with
 * `rollbackWindowMs`, its `--rollback-window`.
 */
export function restartedAgent(s: UpdateFixture, { rollbackWindowMs = 0 } = {}): Reconciler {
  return s.restarted({
    options: {
      ...(rollbackWindowMs > 0 ? { rollbackWindowMs } : {}),
      autoUpdateIntervalMs: INTERVAL,
      metrics: s.metrics,
    },
  });
}

/** The types of the actions a pass planned, in order. */
export function actionTypes(r: { actions: { type: string }[] }): string[] {
  return r.actions.map((a) => a.type);
}

/** What {@linkcode checkAndPass} did. */
export interface Checked {
  /** The actions of both passes, in order. */
  actions: Action[];
  /** The pods' status after the second pass. */
  pods: PodView[];
}

/**
 * A pass that starts the auto-update check due (if any), the check run to its end, and the
 * next pass, which acts on it. The check runs beside the first pass and may answer before
 * that pass plans, so the actions of both are returned.
 */
export async function checkAndPass(agent: Reconciler): Promise<Checked> {
  const first = await agent.pass();
  await agent.imageChecksSettled();
  const second = await agent.pass();
  return { actions: [...first.actions, ...second.actions], pods: second.pods };
}

/** The running containers of pod web. */
export async function runningWeb(s: ReconcilerFixture): Promise<Container[]> {
  const list = await s.cri.listContainers({ state: "CONTAINER_RUNNING" });
  return list.filter((c) => c.labels["io.kubernetes.pod.name"] === "web");
}

/** The running container `name` of pod web. */
export async function runningOf(s: ReconcilerFixture, name: string): Promise<Container> {
  const list = (await runningWeb(s)).filter((c) => c.metadata.name === name);
  assert.equal(list.length, 1, `one container ${name} of web runs: ${JSON.stringify(list)}`);
  return list[0]!;
}

/** The one running container of pod web. */
export async function theApp(s: ReconcilerFixture): Promise<Container> {
  const list = await runningWeb(s);
  assert.equal(list.length, 1, `one container of web runs: ${JSON.stringify(list)}`);
  return list[0]!;
}

/** The image specs of the CreateContainer calls so far, in order. */
export function createdImages(s: ReconcilerFixture): string[] {
  return s.cri.calls.filter((c) => c.method === "CreateContainer")
    .map((c) => (c.arg as { config: ContainerConfig }).config.image.image);
}

/** The repo digest the fake holds for the image `id` (its registry's manifest digest of it). */
export async function repoDigestOf(s: ReconcilerFixture, id: string): Promise<string> {
  const image = (await s.cri.listImages()).find((i) => i.id === id);
  const [digest] = image?.repoDigests ?? [];
  assert.ok(digest, `image ${id} has a repo digest: ${JSON.stringify(image)}`);
  return digest;
}

/**
 * v1 (the image first pushed under the tag) runs its whole window, pod web varied by `options`;
 * returns its image id.
 */
export async function goodV1(s: UpdateFixture, options: WebOptions = {}): Promise<string> {
  const v1 = s.cri.pushToRegistry(APP);
  await s.write("web.yaml", autoWeb("v1", options));
  await s.reconciler.pass();
  await s.clock.advance(11_000);
  await checkAndPass(s.reconciler); // the window ends; the first check finds the tag on v1
  return v1;
}

/**
 * A new image pushed under the tag, found by the next check of `agent`: the pod is replaced
 * onto it. Returns its id.
 */
export async function updated(s: UpdateFixture, agent = s.reconciler): Promise<string> {
  const id = s.cri.pushToRegistry(APP);
  await s.clock.advance(INTERVAL);
  const r = await checkAndPass(agent);
  assert.deepEqual(r.actions.map((a) => a.type), ["deletePod", "createPod"]);
  assert.equal((await theApp(s)).imageRef, id, "the pod runs the new image");
  return id;
}

/**
 * The app exits with code 1, 2 s into its window: the pass that sees it decides, the next
 * replaces the pod; returns that pass's result.
 */
export async function crashed(
  s: UpdateFixture,
  agent = s.reconciler,
): Promise<Awaited<ReturnType<Reconciler["pass"]>>> {
  await s.clock.advance(2_000);
  s.cri.exitContainer((await theApp(s)).id, 1, "Error");
  await agent.pass();
  return await agent.pass();
}

/**
 * From now on, the containers the fixture's reconciler stops ignore SIGTERM: each StopContainer
 * takes its whole timeout (the hand clock moves by it) before the runtime kills the container.
 */
export function ignoringTerm(s: UpdateFixture): void {
  s.beforeCall = async (method, args) => {
    if (method === "stopContainer") await s.clock.advance((args[1] as number) * 1_000);
  };
}

/** The PullImage calls of {@linkcode APP} so far (each check resolves it with one). */
export function pullsOfApp(s: ReconcilerFixture): number {
  return s.cri.calls.filter((c) =>
    c.method === "PullImage" && (c.arg as { image?: string }).image === APP
  ).length;
}
