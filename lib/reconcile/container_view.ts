/**
 * One container's status, as `kubectl describe` shows it: from its instances in the runtime,
 * their statuses, and what only the agent knows (backoffs, last errors, probes). Pure.
 *
 * @module
 */
import type { Container, ContainerStatus } from "../runtime/cri.ts";
import type { ProbeStatus } from "../probe/probes.ts";
import type { ObservedPod } from "./observe.ts";
import { restartKey, shouldRestart } from "./plan.ts";
import type { ContainerType, DesiredContainer, DesiredPod } from "../translate/desired_pod.ts";

/** One container's state, as `kubectl describe` shows it. */
export interface ContainerView {
  name: string;
  type: ContainerType;
  image: string;
  state: "waiting" | "running" | "terminated";
  /** `ContainerCreating`, `CrashLoopBackOff`, `ImagePullBackOff`, `Completed`, `Error`, ... */
  reason: string;
  message: string;
  exitCode: number | null;
  restartCount: number;
  ready: boolean;
  containerId: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  /** The previous instance, when the container has restarted. */
  lastTermination: { exitCode: number; reason: string; finishedAt: string | null } | null;
  /** Its probes' state, when it has probes and runs. */
  probes?: ProbeStatus[];
}

/** What the agent knows beyond the runtime. */
export interface StatusContext {
  now: number;
  restartAllowedAt(key: string): number | undefined;
  /** The last error of each pod (by `namespace/name`), with a kubelet reason when there is one. */
  errors: Map<string, { message: string; reason?: string }>;
  /** Pod IPs by sandbox id, when known. */
  ips: Map<string, string>;
  /** A container's readiness from its probes: undefined when no probe has an opinion. */
  ready?(containerId: string): boolean | undefined;
  /** The probes of a container, for `describe`. */
  probes?(containerId: string): ProbeStatus[];
}

export function iso(ns: number): string | null {
  return ns > 0 ? new Date(ns / 1e6).toISOString() : null;
}

function latestOf(o: ObservedPod | undefined, name: string): Container[] {
  return (o?.containers ?? []).filter((c) => c.metadata.name === name);
}

/** One container of pod `pod`, from its instances in `o` and what the agent knows. */
export function containerView(
  pod: DesiredPod,
  c: DesiredContainer,
  o: ObservedPod | undefined,
  /** The statuses fetched of its instances: running (their start) and exited. */
  statuses: Map<string, ContainerStatus>,
  ctx: StatusContext,
  initsPending: boolean,
): ContainerView {
  const instances = latestOf(o, c.name);
  const latest = instances.at(-1);
  const previous = instances.at(-2);
  const prevStatus = previous ? statuses.get(previous.id) : undefined;
  const base: ContainerView = {
    name: c.name,
    type: c.type,
    image: c.image,
    state: "waiting",
    reason: "ContainerCreating",
    message: "",
    exitCode: null,
    restartCount: latest?.metadata.attempt ?? 0,
    ready: false,
    containerId: latest?.id ?? null,
    startedAt: null,
    finishedAt: null,
    lastTermination: prevStatus
      ? {
        exitCode: prevStatus.exitCode,
        reason: prevStatus.reason,
        finishedAt: iso(prevStatus.finishedAt),
      }
      : null,
  };
  if (!latest) {
    const wait = pod.waiting;
    if (wait?.reason === "CreateContainerConfigError" && wait.container === c.name) {
      return { ...base, reason: wait.reason, message: wait.message };
    }
    if (wait?.reason === "FailedMount") return { ...base, message: wait.message };
    const err = ctx.errors.get(pod.key);
    if (err?.reason && err.message.includes(`"${c.image}"`)) {
      return { ...base, reason: err.reason, message: err.message };
    }
    if (c.type === "regular" && initsPending) return { ...base, reason: "PodInitializing" };
    return base;
  }
  if (latest.state === "CONTAINER_RUNNING") {
    const probes = ctx.probes?.(latest.id) ?? [];
    return {
      ...base,
      state: "running",
      reason: "",
      startedAt: iso(statuses.get(latest.id)?.startedAt ?? 0),
      ready: ctx.ready?.(latest.id) ?? true,
      ...(probes.length > 0 ? { probes } : {}),
    };
  }
  if (latest.state !== "CONTAINER_EXITED") return base;
  const s = statuses.get(latest.id);
  if (!s) return { ...base, state: "terminated", reason: "Unknown" };
  const terminated: ContainerView = {
    ...base,
    state: "terminated",
    reason: s.reason || (s.exitCode === 0 ? "Completed" : "Error"),
    message: s.message,
    exitCode: s.exitCode,
    startedAt: iso(s.startedAt),
    finishedAt: iso(s.finishedAt),
  };
  const until = ctx.restartAllowedAt(restartKey(pod.uid, c.name));
  if (shouldRestart(c, pod.restartPolicy, s.exitCode) && until !== undefined && until > ctx.now) {
    return {
      ...terminated,
      state: "waiting",
      reason: "CrashLoopBackOff",
      message: `back-off ${Math.ceil((until - ctx.now) / 1000)}s restarting failed container`,
      lastTermination: {
        exitCode: s.exitCode,
        reason: terminated.reason,
        finishedAt: terminated.finishedAt,
      },
    };
  }
  return terminated;
}

/** Whether init containers (or sidecars) of `pod` must still run before its regular ones. */
export function initsPendingOf(
  pod: DesiredPod,
  o: ObservedPod | undefined,
  exited: Map<string, ContainerStatus>,
) {
  const regularStarted = pod.containers.some((c) =>
    c.type === "regular" && latestOf(o, c.name).length > 0
  );
  if (regularStarted) return false;
  return pod.containers.some((c) => {
    if (c.type === "regular") return false;
    const l = latestOf(o, c.name).at(-1);
    if (!l) return true;
    if (c.type === "sidecar") return l.state !== "CONTAINER_RUNNING";
    return l.state !== "CONTAINER_EXITED" || exited.get(l.id)?.exitCode !== 0;
  });
}
