/**
 * The fake runtime's records of its sandboxes and containers, and what it answers from them:
 * the list entries and statuses the CRI returns (times in nanoseconds, copies of labels and
 * annotations), whether a record passes a list filter, the NotFound of a missing one, whether a
 * new one's name is taken and whether a container may start; and its fixed answers to
 * `Version` and `Status`.
 *
 * @module
 */
import type {
  Container,
  ContainerConfig,
  ContainerFilter,
  ContainerState,
  ContainerStatus,
  PodSandbox,
  PodSandboxConfig,
  PodSandboxFilter,
  PodSandboxStatus,
  RuntimeStatus,
  SandboxState,
  VersionInfo,
} from "../lib/runtime/cri.ts";
import { CriError } from "../lib/runtime/errors.ts";

/** A sandbox the fake runs: its config as given and its state. */
export interface FakeSandbox {
  id: string;
  config: PodSandboxConfig;
  state: SandboxState;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** The pod IP; empty on the host network. */
  ip: string;
}

/** A container the fake holds: its config as given, its state and how it ended. */
export interface FakeContainer {
  id: string;
  sandboxId: string;
  config: ContainerConfig;
  state: ContainerState;
  /** Milliseconds since the epoch, as are `startedAt` and `finishedAt` (0: not yet). */
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  reason: string;
  /** The id of the image the container was created from. */
  imageRef: string;
}

/** What the fake answers to `Version`. */
export const FAKE_VERSION: Readonly<VersionInfo> = {
  version: "0.1.0",
  runtimeName: "fake",
  runtimeVersion: "1.0.0",
  runtimeApiVersion: "v1",
};

/** What the fake answers to `Status`: the runtime and its network are ready. */
export function readyStatus(): RuntimeStatus {
  return {
    conditions: [
      { type: "RuntimeReady", status: true, reason: "", message: "" },
      { type: "NetworkReady", status: true, reason: "", message: "" },
    ],
  };
}

function matchLabels(
  labels: Record<string, string> | undefined,
  selector?: Record<string, string>,
): boolean {
  if (!selector) return true;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** Whether `ListPodSandbox` with `filter` lists the sandbox `s`. */
export function sandboxPasses(s: FakeSandbox, filter?: PodSandboxFilter): boolean {
  if (filter?.id && !s.id.startsWith(filter.id)) return false;
  if (filter?.state && s.state !== filter.state) return false;
  return matchLabels(s.config.labels, filter?.labelSelector);
}

/** Whether `ListContainers` with `filter` lists the container `c`. */
export function containerPasses(c: FakeContainer, filter?: ContainerFilter): boolean {
  if (filter?.id && !c.id.startsWith(filter.id)) return false;
  if (filter?.state && c.state !== filter.state) return false;
  if (filter?.podSandboxId && c.sandboxId !== filter.podSandboxId) return false;
  return matchLabels(c.config.labels, filter?.labelSelector);
}

/** The sandbox as `ListPodSandbox` lists it. */
export function listedSandbox(s: FakeSandbox): PodSandbox {
  return {
    id: s.id,
    metadata: { ...s.config.metadata },
    state: s.state,
    createdAt: s.createdAt * 1e6,
    labels: { ...s.config.labels },
    annotations: { ...s.config.annotations },
    runtimeHandler: "",
  };
}

/** The sandbox as `PodSandboxStatus` answers: an IP only while it is ready. */
export function sandboxStatus(s: FakeSandbox): PodSandboxStatus {
  return {
    id: s.id,
    metadata: { ...s.config.metadata },
    state: s.state,
    createdAt: s.createdAt * 1e6,
    ip: s.state === "SANDBOX_READY" ? s.ip : "",
    additionalIps: [],
    labels: { ...s.config.labels },
    annotations: { ...s.config.annotations },
  };
}

/** The container as `ListContainers` lists it. */
export function listedContainer(c: FakeContainer): Container {
  return {
    id: c.id,
    podSandboxId: c.sandboxId,
    metadata: { ...c.config.metadata },
    image: { image: c.config.image.image },
    imageRef: c.imageRef,
    state: c.state,
    createdAt: c.createdAt * 1e6,
    labels: { ...c.config.labels },
    annotations: { ...c.config.annotations },
  };
}

/**
 * The container as `ContainerStatus` answers; its log path joins the sandbox's log directory
 * and the container's own, when both are set.
 */
export function containerStatus(
  c: FakeContainer,
  sandbox: FakeSandbox | undefined,
): ContainerStatus {
  return {
    id: c.id,
    metadata: { ...c.config.metadata },
    state: c.state,
    createdAt: c.createdAt * 1e6,
    startedAt: c.startedAt * 1e6,
    finishedAt: c.finishedAt * 1e6,
    exitCode: c.exitCode,
    image: { image: c.config.image.image },
    imageRef: c.imageRef,
    reason: c.reason,
    message: "",
    labels: { ...c.config.labels },
    annotations: { ...c.config.annotations },
    mounts: (c.config.mounts ?? []).map((m) => ({
      ...m,
      readonly: m.readonly ?? false,
    })),
    logPath: sandbox?.config.logDirectory && c.config.logPath
      ? `${sandbox.config.logDirectory}/${c.config.logPath}`
      : "",
  };
}

/** The record `id` of `records`, or the NotFound containerd answers for `method`. */
export function lookUp<T>(records: Map<string, T>, kind: string, method: string, id: string): T {
  const found = records.get(id);
  if (found) return found;
  const message = `${method}: an error occurred when try to find ${kind} "${id}": not found`;
  throw new CriError("NotFound", method, message);
}

/** Throws as containerd does when a sandbox of the same name, namespace, uid and attempt exists. */
export function refuseTakenSandboxName(
  existing: Iterable<FakeSandbox>,
  config: PodSandboxConfig,
): void {
  const m = config.metadata;
  for (const s of existing) {
    const o = s.config.metadata;
    if (
      o.name === m.name && o.namespace === m.namespace && o.uid === m.uid &&
      o.attempt === m.attempt
    ) {
      throw new CriError(
        "Other",
        "RunPodSandbox",
        `RunPodSandbox: failed to reserve sandbox name "${m.name}_${m.namespace}_${m.uid}_${m.attempt}": name is reserved for "${s.id}"`,
      );
    }
  }
}

/**
 * Throws as containerd does when the sandbox `sandboxId` holds a container of the same name
 * and attempt.
 */
export function refuseTakenContainerName(
  existing: Iterable<FakeContainer>,
  sandboxId: string,
  config: ContainerConfig,
): void {
  for (const c of existing) {
    if (
      c.sandboxId === sandboxId &&
      c.config.metadata.name === config.metadata.name &&
      c.config.metadata.attempt === config.metadata.attempt
    ) {
      throw new CriError(
        "Other",
        "CreateContainer",
        `CreateContainer: failed to reserve container name "${config.metadata.name}_${config.metadata.attempt}": name is reserved for "${c.id}"`,
      );
    }
  }
}

/**
 * Throws as containerd does when the container `c` cannot start: it is not newly created, or
 * its sandbox is not ready.
 */
export function refuseStart(c: FakeContainer, sandbox: FakeSandbox): void {
  if (c.state !== "CONTAINER_CREATED") {
    const message =
      `StartContainer: container "${c.id}" is in ${c.state} state, not CONTAINER_CREATED`;
    throw new CriError("Other", "StartContainer", message);
  }
  if (sandbox.state !== "SANDBOX_READY") {
    const message = `StartContainer: sandbox container "${sandbox.id}" is not running`;
    throw new CriError("Other", "StartContainer", message);
  }
}
