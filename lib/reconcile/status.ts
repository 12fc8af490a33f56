/**
 * Pod status, computed from what the runtime shows and what only the agent
 * knows (backoffs, last errors, events), the way kubelet and `kubectl get
 * pods` present it. Pure.
 *
 * @module
 */
import type { Container, ContainerStatus } from "../runtime/cri.ts";
import { type DesiredState, judgesSource } from "./desired.ts";
import type { ObservedPod, ObservedState } from "./observe.ts";
import type { ContainerType, DesiredPod } from "../translate/desired_pod.ts";
import { restartKey } from "./plan.ts";
import { KEYS } from "../runtime/labels.ts";
import {
  type ContainerView,
  containerView,
  initsPendingOf,
  iso,
  type StatusContext,
} from "./container_view.ts";

export type { ContainerView, StatusContext } from "./container_view.ts";

/** A pod as `tinylet pods` and `/pods` show it. */
export interface PodView {
  namespace: string;
  name: string;
  uid: string;
  source: string;
  phase: "Pending" | "Running" | "Succeeded" | "Failed" | "Unknown";
  /** The STATUS column: `Running`, `ContainerCreating`, `Init:0/1`, `CrashLoopBackOff`, ... */
  status: string;
  ready: string;
  restarts: number;
  createdAt: string | null;
  ip: string;
  sandboxId: string | null;
  containers: ContainerView[];
  /** When the next restart of a backing-off container is allowed. */
  backoffUntil: string | null;
  lastError: string | null;
  /**
   * Set when the pod runs its last good spec because the spec its file declares failed within
   * its rollback window: why, when, and the two specs' hashes.
   */
  rolledBack?: {
    cause: string;
    at: string;
    failedHash: string;
    runningHash: string;
    /** The images that failed (an auto-update), by container: see `DesiredPod.rolledBack`. */
    failedImages?: Readonly<Record<string, { image: string; id: string }>>;
  };
  /**
   * True when the pod runs but not as declared: its file is invalid, or it waits for a
   * ConfigMap or Secret (kept as it was).
   */
  stale: boolean;
}

/** The STATUS column, as `kubectl get pods` computes it. */
function statusColumn(
  pod: DesiredPod,
  views: ContainerView[],
  phase: PodView["phase"],
  initsPending: boolean,
) {
  const inits = views.filter((v) => v.type !== "regular");
  if (initsPending) {
    for (const [i, v] of inits.entries()) {
      if (v.type === "init" && v.state === "terminated" && v.exitCode === 0) continue;
      if (v.type === "sidecar" && v.state === "running") continue;
      if (v.state === "terminated") return `Init:${v.reason || `ExitCode:${v.exitCode}`}`;
      if (
        v.state === "waiting" && v.reason !== "ContainerCreating" && v.reason !== "PodInitializing"
      ) {
        return `Init:${v.reason}`;
      }
      return `Init:${i}/${inits.length}`;
    }
  }
  let reason: string = phase;
  let running = false;
  for (const v of views.filter((x) => x.type === "regular").reverse()) {
    if (v.state === "waiting" && v.reason) reason = v.reason;
    else if (v.state === "terminated" && v.reason) reason = v.reason;
    else if (v.state === "running") running = true;
  }
  if (reason === "Completed" && running) reason = "Running";
  return pod.containers.length === 0 ? phase : reason;
}

/** `RolledBack` for a rolled-back pod whose last good spec runs; else the status as it is. */
function rolledBackColumn(pod: DesiredPod, status: string): string {
  return pod.rolledBack && status === "Running" ? "RolledBack" : status;
}

function phaseOf(
  pod: DesiredPod,
  views: ContainerView[],
  o: ObservedPod | undefined,
  initsPending: boolean,
) {
  if (!o || o.sandbox.state !== "SANDBOX_READY") return "Pending" as const;
  const initFailed = views.some((v) =>
    v.type === "init" && v.state === "terminated" && v.exitCode !== 0 &&
    pod.restartPolicy === "Never"
  );
  if (initFailed) return "Failed" as const;
  if (initsPending) return "Pending" as const;
  const regular = views.filter((v) => v.type === "regular");
  if (regular.some((v) => v.state === "running")) return "Running" as const;
  if (regular.every((v) => v.state === "terminated")) {
    if (pod.restartPolicy === "Always") return "Running" as const;
    return regular.every((v) => v.exitCode === 0) ? "Succeeded" as const : "Failed" as const;
  }
  return regular.some((v) => v.reason === "CrashLoopBackOff")
    ? "Running" as const
    : "Pending" as const;
}

/** The status of every pod of `desired`, and of pods that still run from invalid files. */
export function podViews(
  desired: DesiredState,
  observed: ObservedState,
  ctx: StatusContext,
): PodView[] {
  const out: PodView[] = [];
  for (const pod of desired.pods.values()) {
    const list = observed.pods.get(pod.key) ?? [];
    const runs = list.at(-1);
    if (
      pod.waiting && runs && !list.some((x) => x.sandbox.annotations[KEYS.specHash] === pod.hash)
    ) {
      // What ran before is kept, as it was, until the pod's ConfigMaps and Secrets are there.
      out.push({
        ...runtimeView(runs, observed.exited, ctx.ips.get(runs.sandbox.id) ?? ""),
        lastError: `${pod.waiting.message}: the pod keeps running as it was`,
        stale: true,
      });
      continue;
    }
    const o = list.filter((x) => x.sandbox.annotations[KEYS.specHash] === pod.hash)
      .filter((x) => x.sandbox.state === "SANDBOX_READY").at(-1) ??
      list.at(-1);
    const current = o && o.sandbox.annotations[KEYS.specHash] === pod.hash ? o : undefined;
    const pending = initsPendingOf(pod, current, observed.exited);
    const views = pod.containers.map((c) =>
      containerView(pod, c, current, observed.statuses, ctx, pending)
    );
    const phase = phaseOf(pod, views, current, pending);
    const counted = views.filter((v) => v.type !== "init");
    let backoff: number | undefined;
    for (const c of pod.containers) {
      const u = ctx.restartAllowedAt(restartKey(pod.uid, c.name));
      if (u !== undefined && u > ctx.now && (backoff === undefined || u < backoff)) backoff = u;
    }
    out.push({
      namespace: pod.namespace,
      name: pod.name,
      uid: pod.uid,
      source: pod.source,
      phase,
      // Nothing of a waiting pod runs: what it waits for is its status, as kubelet shows it.
      status: pod.waiting && !current
        ? pod.waiting.reason === "FailedMount" ? "ContainerCreating" : pod.waiting.reason
        : rolledBackColumn(pod, statusColumn(pod, views, phase, pending)),
      ready: `${counted.filter((v) => v.ready).length}/${counted.length}`,
      restarts: views.reduce((n, v) => n + v.restartCount, 0),
      createdAt: current ? iso(current.sandbox.createdAt) : null,
      ip: current ? ctx.ips.get(current.sandbox.id) ?? "" : "",
      sandboxId: current?.sandbox.id ?? null,
      containers: views,
      backoffUntil: backoff === undefined ? null : new Date(backoff).toISOString(),
      lastError: ctx.errors.get(pod.key)?.message ??
        (pod.waiting && current
          ? `${pod.waiting.message}: the pod keeps running as it was`
          : pod.waiting?.message) ??
        pod.kept ??
        null,
      stale: false,
      ...(pod.rolledBack
        ? {
          rolledBack: {
            cause: pod.rolledBack.cause,
            at: pod.rolledBack.at,
            failedHash: pod.rolledBack.from,
            runningHash: pod.rolledBack.good,
            ...(pod.rolledBack.images ? { failedImages: pod.rolledBack.images } : {}),
          },
        }
        : {}),
    });
  }
  for (const [key, list] of observed.pods) {
    if (desired.pods.has(key)) continue;
    const o = list.at(-1);
    if (!o) continue;
    const source = o.source;
    const kept = desired.keepSources.has(source);
    if (!kept && judgesSource(desired, source)) continue;
    const why = desired.keptBecause?.get(source) ??
      (kept ? undefined : desired.partial) ?? `${source} is invalid`;
    out.push({
      ...runtimeView(o, observed.exited, ctx.ips.get(o.sandbox.id) ?? ""),
      lastError: `${why}: the pod keeps running as it was`,
      stale: true,
    });
  }
  return out.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}

/**
 * A pod as the runtime alone shows it (no desired spec, no agent state): for
 * pods kept from an invalid file, and for `tinylet pods` when the agent is
 * not running. The newest instance of each container counts.
 */
export function runtimeView(
  o: ObservedPod,
  exited: Map<string, ContainerStatus>,
  ip: string,
): PodView {
  const latest = new Map<string, Container>();
  for (const c of o.containers) {
    const p = latest.get(c.metadata.name);
    if (!p || c.metadata.attempt >= p.metadata.attempt) latest.set(c.metadata.name, c);
  }
  const containers: ContainerView[] = [...latest.values()].map((c) => {
    const s = exited.get(c.id);
    return {
      name: c.metadata.name,
      type: (c.annotations[KEYS.containerType] ?? "regular") as ContainerType,
      image: c.image.image,
      state: c.state === "CONTAINER_RUNNING"
        ? "running"
        : c.state === "CONTAINER_EXITED"
        ? "terminated"
        : "waiting",
      reason: s?.reason ?? (c.state === "CONTAINER_CREATED" ? "ContainerCreating" : ""),
      message: "",
      exitCode: s?.exitCode ?? null,
      restartCount: c.metadata.attempt,
      ready: c.state === "CONTAINER_RUNNING",
      containerId: c.id,
      startedAt: s ? iso(s.startedAt) : null,
      finishedAt: s ? iso(s.finishedAt) : null,
      lastTermination: null,
    };
  });
  const counted = containers.filter((c) => c.type !== "init");
  const ready = o.sandbox.state === "SANDBOX_READY";
  return {
    namespace: o.sandbox.metadata.namespace,
    name: o.sandbox.metadata.name,
    uid: o.sandbox.metadata.uid,
    source: o.source,
    phase: ready ? "Running" : "Unknown",
    status: !ready ? "SandboxNotReady" : counted.every((c) => c.ready) ? "Running" : "NotReady",
    ready: `${counted.filter((c) => c.ready).length}/${counted.length}`,
    restarts: containers.reduce((n, c) => n + c.restartCount, 0),
    createdAt: iso(o.sandbox.createdAt),
    ip,
    sandboxId: o.sandbox.id,
    containers,
    backoffUntil: null,
    lastError: null,
    stale: false,
  };
}
