/**
 * The verdict on a replacement under watch, pure: from the window, when the new sandbox started,
 * the time now and what was observed of the new sandbox (its containers, their statuses and
 * probes, the pod's last pull or create error), whether the replacement failed (and why), ran
 * its window whole, or is still being watched.
 *
 * A replacement fails when, within the window (from `startedAt` to `startedAt + windowMs`, both
 * included):
 *
 * 1. a container terminates with an error: a non-zero exit code, init containers included
 *    (a container that exits 0 has not failed; under `restartPolicy: Always` its restart does);
 * 2. a container restarts: an instance with a CRI attempt above 0 is created;
 * 3. an image cannot be pulled (`ErrImagePull`, `ImagePullBackOff`, `ErrImageNeverPull`), or a
 *    container cannot be configured (`CreateContainerConfigError`) or created
 *    (`CreateContainerError`);
 * 4. a startup probe fails (its failure threshold is reached);
 *
 * or when, at the end of the window, a container with a readiness probe is not ready (its
 * latest instance running, its startup probe, if any, and its readiness probe succeeded).
 *
 * Each failure is placed at the time it happened: an exit at its `finishedAt`, a restart at the
 * new instance's `createdAt`, a probe at its `lastFailureAt`, an error at its `at`; a time the
 * runtime or the prober did not give is taken as `now`. A failure after the window does not
 * count. When several count, the earliest is the cause (the first in the order above for
 * equal times). The verdict is final once the window ended (`now >= until`): a failure, or
 * success; before, it is a failure as soon as one is seen, else "watching".
 *
 * @module
 */
import type { ObservedPod, ObservedState } from "./observe.ts";
import type { DesiredPod } from "../translate/desired_pod.ts";
import { KEYS } from "../runtime/labels.ts";
import type { Container, ContainerStatus } from "../runtime/cri.ts";
import type { ProbeStatus } from "../probe/probes.ts";
import type { Pod } from "../manifest/pod.ts";

/** The pod's last failure to pull an image or create a container, as the pod's status has it. */
export interface WatchedError {
  /**
   * `ErrImagePull`, `ImagePullBackOff` or `ErrImageNeverPull` (an image cannot be pulled);
   * `CreateContainerConfigError` or `CreateContainerError` (a container cannot be configured or
   * created). Any other reason is not a failure of the replacement.
   */
  reason: string;
  /** What went wrong, as the status shows it (the registry's or runtime's reason). */
  message: string;
  /** When it failed, in epoch milliseconds: one before the sandbox started is not this one's. */
  at: number;
  /** The container it is about, when known. */
  container?: string;
}

/** What the verdict is made from. */
export interface WatchInput {
  /** The window's length in milliseconds; positive. */
  windowMs: number;
  /** When the new sandbox started, in epoch milliseconds. */
  startedAt: number;
  /** The time now, in epoch milliseconds. */
  now: number;
  /** The containers of the new sandbox as listed, each instance (attempt) of each. */
  containers: ObservedPod["containers"];
  /** Container statuses by container id (`ObservedState.statuses`): exit codes and times. */
  statuses: ReadonlyMap<string, ContainerStatus>;
  /** Each container instance's probe statuses, by container id (`ProbeManager.statuses`). */
  probes: ReadonlyMap<string, readonly ProbeStatus[]>;
  /** The names of the containers that have a readiness probe. */
  readinessProbes: ReadonlySet<string>;
  /** The pod's last pull or create error, if any. */
  lastError?: WatchedError;
}

/** The verdict on a replacement under watch. */
export type WatchVerdict =
  /**
   * It failed within the window; `cause` says which container and how, `containers` names
   * them when the failure is about given containers.
   */
  | { verdict: "failed"; cause: string; containers?: string[] }
  /** The window ran out without a failure, and every readiness probe held at its end. */
  | { verdict: "succeeded" }
  /** Nothing failed yet; the window ends at `until` (epoch milliseconds). */
  | { verdict: "watching"; until: number };

const PULL_REASONS = new Set(["ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull"]);
const CREATE_REASONS: Record<string, string> = {
  CreateContainerConfigError: "configured",
  CreateContainerError: "created",
};

/** Whether `reason` says a container could not be configured or created. */
export function isCreateError(reason: string): boolean {
  return reason in CREATE_REASONS;
}

/** One failure seen, with when it happened and the containers it is about, when known. */
interface Failure {
  at: number;
  cause: string;
  containers?: string[];
}

/** Nanoseconds since the epoch (the runtime's times) to milliseconds; 0 when not given. */
const nsToMs = (ns: number) => ns / 1e6;

/**
 * The verdict on a replacement under watch (see the module's doc for the rules). Throws a
 * `RangeError` for a window that is not a positive number of milliseconds.
 */
export function watchVerdict(input: WatchInput): WatchVerdict {
  const { windowMs, startedAt, now } = input;
  if (!Number.isFinite(windowMs) || windowMs <= 0) {
    throw new RangeError(`The rollback window must be a positive duration (it is ${windowMs} ms)`);
  }
  const until = startedAt + windowMs;
  // What failed before the window (an older instance) is not this replacement's failure.
  const failures = seen(input).filter((f) => f.at >= startedAt && f.at <= until);
  const first = failures.reduce<Failure | undefined>(
    (a, f) => (a === undefined || f.at < a.at ? f : a),
    undefined,
  );
  if (first) {
    return {
      verdict: "failed",
      cause: first.cause,
      ...(first.containers ? { containers: first.containers } : {}),
    };
  }
  if (now < until) return { verdict: "watching", until };
  const unready = notReady(input);
  if (unready.length > 0) {
    const names = unready.map((n) => JSON.stringify(n));
    const who = names.length === 1
      ? `container ${names[0]}`
      : `containers ${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
    return {
      verdict: "failed",
      cause: `${who} not ready at the end of the window (readiness probe)`,
      containers: unready,
    };
  }
  return { verdict: "succeeded" };
}

/** Every failure seen, whenever it happened, in rule order. */
function seen(input: WatchInput): Failure[] {
  const { now, startedAt, lastError } = input;
  const failures: Failure[] = [];
  const exits: Failure[] = [];
  const restarts: Failure[] = [];
  const probes: Failure[] = [];
  for (const c of input.containers) {
    const name = JSON.stringify(c.metadata.name);
    const status = input.statuses.get(c.id);
    if (c.state === "CONTAINER_EXITED" && status && status.exitCode !== 0) {
      exits.push({
        at: status.finishedAt > 0 ? nsToMs(status.finishedAt) : now,
        cause: `container ${name} exited with code ${status.exitCode}${
          status.reason ? ` (${status.reason})` : ""
        }`,
        containers: [c.metadata.name],
      });
    }
    if (c.metadata.attempt > 0) {
      restarts.push({
        at: c.createdAt > 0 ? nsToMs(c.createdAt) : now,
        cause: `container ${name} restarted`,
        containers: [c.metadata.name],
      });
    }
    const startup = input.probes.get(c.id)?.find((p) => p.kind === "startup");
    if (startup?.result === "failure") {
      probes.push({
        at: startup.lastFailureAt ?? now,
        cause: `startup probe of container ${name} failed: ${
          startup.lastFailureOutput || "no output"
        }`,
        containers: [c.metadata.name],
      });
    }
  }
  failures.push(...exits, ...restarts);
  if (lastError && lastError.at >= startedAt) {
    const made = CREATE_REASONS[lastError.reason];
    const who = lastError.container === undefined
      ? "a container"
      : `container ${JSON.stringify(lastError.container)}`;
    const containers = lastError.container === undefined ? {} : {
      containers: [lastError.container],
    };
    if (PULL_REASONS.has(lastError.reason)) {
      failures.push({
        at: lastError.at,
        cause: `image pull failed: ${lastError.message}`,
        ...containers,
      });
    } else if (made) {
      failures.push({
        at: lastError.at,
        cause: `${who} could not be ${made} (${lastError.reason}): ${lastError.message}`,
        ...containers,
      });
    }
  }
  failures.push(...probes);
  return failures;
}

/**
 * The containers with a readiness probe whose latest instance (highest attempt) is not ready
 * now, in set order.
 */
function notReady(input: WatchInput): string[] {
  const unready: string[] = [];
  for (const name of input.readinessProbes) {
    const latest = input.containers.filter((c) => c.metadata.name === name)
      .reduce<Container | undefined>(
        (a, c) => (a === undefined || c.metadata.attempt > a.metadata.attempt ? c : a),
        undefined,
      );
    const probes = latest ? input.probes.get(latest.id) ?? [] : [];
    const startup = probes.find((p) => p.kind === "startup");
    const ready = latest?.state === "CONTAINER_RUNNING" &&
      (startup === undefined || startup.result === "success") &&
      probes.some((p) => p.kind === "readiness" && p.result === "success");
    if (!ready) unready.push(name);
  }
  return unready;
}

/** A sandbox under watch, as the pass sees it. */
export interface SandboxWatch extends Omit<WatchInput, "probes" | "readinessProbes"> {
  /** The spec watched: which containers have a readiness probe. */
  pod: Pod;
  /** A container instance's probes, by its id. */
  probes(containerId: string): ProbeStatus[];
}

/**
 * The verdict on the instances `w.containers` of a sandbox under watch. Restarts count from
 * the first attempt watched of each container (a sandbox made for a new env or image starts at
 * the attempt its pod had reached). Readiness is judged only once the readiness probe ran in
 * this agent (not just after a restart): `unknown` counts the containers not judged, and while
 * it is above 0 a verdict "succeeded" is not final.
 */
export function sandboxVerdict(w: SandboxWatch): WatchVerdict & { unknown: number } {
  const all = [...(w.pod.spec.initContainers ?? []), ...w.pod.spec.containers];
  const readiness = new Set(all.filter((c) => c.readinessProbe).map((c) => c.name));
  const first = new Map<string, number>();
  for (const c of w.containers) {
    const a = c.metadata.attempt;
    first.set(c.metadata.name, Math.min(first.get(c.metadata.name) ?? a, a));
  }
  const containers = w.containers.map((c) => ({
    ...c,
    metadata: { ...c.metadata, attempt: c.metadata.attempt - first.get(c.metadata.name)! },
  }));
  const probes = new Map(containers.map((c) => [c.id, w.probes(c.id)] as const));
  const unknown = new Set(
    containers.filter((c) =>
      readiness.has(c.metadata.name) && c.state === "CONTAINER_RUNNING" &&
      !(probes.get(c.id) ?? []).some((p) => p.kind === "readiness" && p.lastRunAt !== null)
    ).map((c) => c.metadata.name),
  );
  const { pod: _, probes: __, ...input } = w;
  const verdict = watchVerdict({
    ...input,
    containers,
    probes,
    readinessProbes: new Set([...readiness].filter((n) => !unknown.has(n))),
  });
  return { ...verdict, unknown: unknown.size };
}

/** The newest sandbox of pod `d`'s spec (by its spec hash) that tinylet may build on, if any. */
export function sandboxOf(d: DesiredPod, observed: ObservedState): ObservedPod | undefined {
  return (observed.pods.get(d.key) ?? []).filter((o) =>
    o.sandbox.annotations[KEYS.specHash] === d.hash && o.unsafeIdentity === undefined
  ).at(-1);
}

/**
 * A container of `sandbox` that failed: exited with an error (its status in `exited`), or
 * restarted in it (a second instance of its name); undefined when none did.
 */
export function failedContainer(
  sandbox: ObservedPod,
  exited: ReadonlyMap<string, ContainerStatus>,
): Container | undefined {
  return sandbox.containers.find((c) =>
    (exited.get(c.id)?.exitCode ?? 0) !== 0 ||
    sandbox.containers.filter((x) => x.metadata.name === c.metadata.name).length > 1
  );
}
