/**
 * The planner: from what should run and what runs, the actions that close the gap, each with
 * a reason. Pure: no I/O, no clock, no randomness; the time and backoffs come in as arguments.
 *
 * @module
 */
import type { Container, ContainerStatus } from "../runtime/cri.ts";
import { type DesiredState, judgesSource } from "./desired.ts";
import type { ObservedPod, ObservedState } from "./observe.ts";
import type { DesiredContainer, DesiredPod } from "../translate/desired_pod.ts";
import { KEYS } from "../runtime/labels.ts";
import type { KillRequest } from "./kills.ts";
import type {
  ContainerStart,
  CreatePod,
  DeletePod,
  KillContainer,
  RemoveContainers,
  RemoveOrphan,
  RotateLogs,
  StartContainers,
  StartCreated,
} from "./actions.ts";
import { logRotations, orphanRemovals } from "./upkeep_plan.ts";
import {
  deletionOf,
  envReplacement,
  heldByItsFile,
  replaceReason,
  rollbackReason,
  undeclaredReason,
} from "./deletion_plan.ts";
import { plannable } from "./config_index.ts";

/** Any action of a plan. */
export type Action =
  | CreatePod
  | StartContainers
  | StartCreated
  | RemoveContainers
  | DeletePod
  | KillContainer
  | RotateLogs
  | RemoveOrphan;

/** What the planner needs besides the two states. */
export interface PlanContext {
  /** Milliseconds since the epoch. */
  now: number;
  /** When container `key` (`<uid>/<name>`) may restart again; undefined when not backing off. */
  restartAllowedAt(key: string): number | undefined;
  /** Containers to kill (failed probes or postStart hooks); none when absent. */
  kills?: readonly KillRequest[];
  /** Whether the logs of running containers are to be checked for rotation now. */
  logCheckDue?: boolean;
  /**
   * Sandboxes to replace by pod key (an image update): when the pod's running sandbox is the
   * one named, it is deleted and a new one created in its place; none when absent.
   */
  replacements?: ReadonlyMap<string, { sandboxId: string; reason: string }>;
}

/** The plan: actions, and when to look again at the latest (a backoff ending, an init container to watch). */
export interface Plan {
  actions: Action[];
  wakeAt: number | undefined;
}

/** How often a pod whose init container runs is looked at again. */
export const INIT_POLL_MS = 250;

/** The crash-loop backoff key of a container. */
export function restartKey(uid: string, name: string): string {
  return `${uid}/${name}`;
}

function unsafeReason(why: string): string {
  return `tinylet did not make it: ${why}`;
}

/** The first containers a new sandbox starts: init containers up to the first that must finish, or everything. */
export function initialStart(
  pod: DesiredPod,
  restartCounts: Map<string, number>,
): ContainerStart[] {
  const start: ContainerStart[] = [];
  for (const c of pod.containers) {
    start.push({ name: c.name, restartCount: restartCounts.get(c.name) ?? 0 });
    if (c.type === "init") break;
  }
  return start;
}

/** The newest instance of each container of sandbox `o`, by name. */
export function latestInstances(o: ObservedPod): Map<string, Container> {
  const latest = new Map<string, Container>();
  for (const c of o.containers) {
    const prev = latest.get(c.metadata.name);
    if (!prev || c.metadata.attempt >= prev.metadata.attempt) latest.set(c.metadata.name, c);
  }
  return latest;
}

/** What to do about one container of a running sandbox. */
type Step =
  | { kind: "ok" }
  | { kind: "start"; restartCount: number; reason: string }
  | { kind: "startCreated"; id: string; reason: string }
  | { kind: "wait"; until: number | undefined }
  | { kind: "done" };

/** Whether the pod's restart policy restarts a container that exited with `status`. */
export function shouldRestart(
  c: DesiredContainer,
  policy: DesiredPod["restartPolicy"],
  exitCode: number,
): boolean {
  if (c.type === "sidecar") return true;
  if (c.type === "init") return exitCode !== 0 && policy !== "Never";
  if (policy === "Always") return true;
  if (policy === "OnFailure") return exitCode !== 0;
  return false;
}

function stepFor(
  pod: DesiredPod,
  c: DesiredContainer,
  latest: Container | undefined,
  status: ContainerStatus | undefined,
  ctx: PlanContext,
): Step {
  if (!latest) {
    return { kind: "start", restartCount: 0, reason: `container "${c.name}" is missing` };
  }
  if (latest.state === "CONTAINER_RUNNING") return { kind: "ok" };
  if (latest.state === "CONTAINER_CREATED") {
    return {
      kind: "startCreated",
      id: latest.id,
      reason: `container "${c.name}" was created but not started`,
    };
  }
  if (latest.state === "CONTAINER_UNKNOWN") return { kind: "wait", until: undefined };
  // Exited.
  if (!status) return { kind: "wait", until: undefined };
  if (!shouldRestart(c, pod.restartPolicy, status.exitCode)) return { kind: "done" };
  const allowedAt = ctx.restartAllowedAt(restartKey(pod.uid, c.name));
  if (allowedAt !== undefined && allowedAt > ctx.now) return { kind: "wait", until: allowedAt };
  return {
    kind: "start",
    restartCount: latest.metadata.attempt + 1,
    reason: `container "${c.name}" exited with code ${status.exitCode}; restart ${
      latest.metadata.attempt + 1
    }`,
  };
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

/** Plans the containers of a running sandbox: init order, sidecars, restarts, garbage. */
function planContainers(
  d: DesiredPod,
  keep: ObservedPod,
  observed: ObservedState,
  ctx: PlanContext,
  actions: Action[],
): number | undefined {
  let wakeAt: number | undefined;
  const latest = latestInstances(keep);
  const start: ContainerStart[] = [];
  const reasons: string[] = [];
  const regularStarted = d.containers.some((c) => c.type === "regular" && latest.has(c.name));
  let blocked = false;
  for (const c of d.containers) {
    if (c.type === "init" && regularStarted) continue; // init containers finished before
    if (c.type === "regular" && blocked) break;
    // Before the regular containers start, each init container and sidecar gates the next.
    const gate = c.type !== "regular" && !regularStarted;
    const l = latest.get(c.name);
    const status = l ? observed.exited.get(l.id) : undefined;
    const step = stepFor(d, c, l, status, ctx);
    if (step.kind === "start") {
      start.push({ name: c.name, restartCount: step.restartCount });
      reasons.push(step.reason);
      if (c.type === "init") {
        blocked = true; // the next one waits for this one to finish
        break;
      }
    } else if (step.kind === "startCreated") {
      actions.push({
        type: "startCreated",
        key: d.key,
        reason: step.reason,
        containerId: step.id,
        container: c.name,
      });
      if (gate) {
        blocked = true;
        break;
      }
    } else if (step.kind === "wait") {
      wakeAt = earliest(wakeAt, step.until);
      if (gate) {
        blocked = true;
        break;
      }
    } else if (step.kind === "ok" && c.type === "init") {
      // Running: look again soon, to start the next container when it has finished.
      wakeAt = earliest(wakeAt, ctx.now + INIT_POLL_MS);
      blocked = true;
      break;
    } else if (step.kind === "done" && c.type === "init" && status && status.exitCode !== 0) {
      blocked = true; // failed for good (restartPolicy Never): the pod has failed
      break;
    }
  }
  if (start.length > 0) {
    actions.push({
      type: "startContainers",
      key: d.key,
      reason: reasons.join("; "),
      pod: d,
      sandboxId: keep.sandbox.id,
      attempt: keep.sandbox.metadata.attempt,
      start,
    });
  }
  // Keep one dead instance per container; remove older ones with their logs.
  const garbage: { id: string; logPath: string }[] = [];
  for (const c of keep.containers) {
    const newest = latest.get(c.metadata.name);
    if (c === newest || c.state !== "CONTAINER_EXITED") continue;
    const newerDead = keep.containers.some((x) =>
      x !== c && x.metadata.name === c.metadata.name &&
      x.metadata.attempt > c.metadata.attempt && x.state === "CONTAINER_EXITED"
    );
    if (newerDead) garbage.push({ id: c.id, logPath: observed.exited.get(c.id)?.logPath ?? "" });
  }
  if (garbage.length > 0) {
    actions.push({
      type: "removeContainers",
      key: d.key,
      reason: "only the newest dead instance of a container is kept",
      containers: garbage,
    });
  }
  return wakeAt;
}

/** The restart count each container reached in earlier sandboxes, so counts continue. */
function restartCounts(sandboxes: ObservedPod[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const o of sandboxes) {
    for (const c of o.containers) {
      counts.set(
        c.metadata.name,
        Math.max(counts.get(c.metadata.name) ?? 0, c.metadata.attempt + 1),
      );
    }
  }
  return counts;
}

function planPod(
  d: DesiredPod,
  observed: ObservedPod[],
  state: ObservedState,
  ctx: PlanContext,
  actions: Action[],
): number | undefined {
  // A sandbox tinylet cannot have made is never taken for the pod's, whatever its annotations.
  const current = observed.filter((o) =>
    o.sandbox.annotations[KEYS.specHash] === d.hash && o.unsafeIdentity === undefined
  );
  for (const o of observed) {
    if (current.includes(o)) continue;
    if (o.unsafeIdentity !== undefined) {
      actions.push(deletionOf(o, unsafeReason(o.unsafeIdentity)));
      continue;
    }
    actions.push(deletionOf(o, `replace: ${replaceReason(o, d)}`));
  }
  const ready = current.filter((o) => o.sandbox.state === "SANDBOX_READY");
  const keep = ready.at(-1);
  for (const o of current) {
    if (o === keep) continue;
    actions.push(
      deletionOf(
        o,
        o.sandbox.state === "SANDBOX_READY"
          ? "a newer sandbox of the same pod is running"
          : "its sandbox is not ready",
        false,
      ),
    );
  }
  const asked = ctx.replacements?.get(d.key);
  const replacement = asked?.sandboxId === keep?.sandbox.id ? asked : envReplacement(d, keep);
  if (keep && replacement?.sandboxId !== keep.sandbox.id) {
    return planContainers(d, keep, state, ctx, actions);
  }
  // No sandbox runs, or the running one is replaced (an image update, a new env). Then the same
  // spec gets a new sandbox: the pod's directories stay (its UID is still desired), restart
  // counts go on.
  if (keep) actions.push(deletionOf(keep, `replace: ${replacement?.reason}`));
  const attempt = current.reduce((n, o) => Math.max(n, o.sandbox.metadata.attempt + 1), 0);
  const reason = keep
    ? replacement?.reason ?? "replaced"
    : current.length > 0
    ? "its sandbox is not ready"
    : observed.length > 0
    ? rollbackReason(d) ?? `its spec changed in ${d.source}`
    : `declared in ${d.source}`;
  actions.push({
    type: "createPod",
    key: d.key,
    reason,
    pod: d,
    attempt,
    start: initialStart(d, restartCounts(current)),
  });
  return undefined;
}

/**
 * The actions that bring `observed` to `desired`. Actions of one pod come in
 * the order they must run (deletions before the creation that replaces them).
 */
export function plan(desired: DesiredState, observed: ObservedState, ctx: PlanContext): Plan {
  const actions: Action[] = [];
  let wakeAt: number | undefined;
  for (const d of desired.pods.values()) {
    const running = observed.pods.get(d.key); // waits, or its file may still win: kept as it runs
    if (!plannable(d, running) || heldByItsFile(d, running, desired)) continue;
    wakeAt = earliest(wakeAt, planPod(d, running ?? [], observed, ctx, actions));
  }
  for (const [key, list] of observed.pods) {
    if (desired.pods.has(key)) continue;
    for (const o of list) {
      const source = o.source;
      if (!judgesSource(desired, source)) continue;
      if (o.unsafeIdentity !== undefined) {
        // No file of ours made it, so no file (kept or not) keeps it.
        actions.push(deletionOf(o, unsafeReason(o.unsafeIdentity)));
        continue;
      }
      if (desired.keepSources.has(source)) continue;
      actions.push(deletionOf(o, undeclaredReason(desired, source)));
    }
  }
  const deleted = new Set(actions.flatMap((a) => a.type === "deletePod" ? [a.sandboxId] : []));
  actions.push(...killsOf(observed, ctx.kills ?? [], deleted));
  actions.push(...orphanRemovals(observed));
  if (ctx.logCheckDue) actions.push(...logRotations(observed, deleted));
  return { actions: keepSharedState(actions, desired, observed), wakeAt };
}

/**
 * A kill for each request whose container `observed` lists running, in its pod, in a sandbox
 * this plan does not delete (`deleted`, by id), whether the pod is desired or not.
 */
function killsOf(
  observed: ObservedState,
  kills: readonly KillRequest[],
  deleted: ReadonlySet<string>,
): KillContainer[] {
  return kills.filter((k) =>
    (observed.pods.get(k.key) ?? []).some((o) =>
      !deleted.has(o.sandbox.id) &&
      o.containers.some((c) => c.id === k.containerId && c.state === "CONTAINER_RUNNING")
    )
  ).map((k) => ({ ...k, type: "killContainer" }));
}

/**
 * A deletion leaves the pod's directories when their UID is still in use: by a desired pod,
 * or by a sandbox that stays. (The runtime can list two sandboxes with one UID: a second
 * attempt, or one made by someone else with tinylet's labels.)
 */
function keepSharedState(
  actions: Action[],
  desired: DesiredState,
  observed: ObservedState,
): Action[] {
  const deleted = new Set(actions.flatMap((a) => a.type === "deletePod" ? [a.sandboxId] : []));
  const inUse = new Set([...desired.pods.values()].map((d) => d.uid));
  for (const list of observed.pods.values()) {
    for (const o of list) if (!deleted.has(o.sandbox.id)) inUse.add(o.sandbox.metadata.uid);
  }
  return actions.map((a) =>
    a.type === "deletePod" && a.removeState && inUse.has(a.uid) ? { ...a, removeState: false } : a
  );
}
