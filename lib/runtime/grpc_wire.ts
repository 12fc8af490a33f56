/**
 * The CRI messages as they come off the wire, turned into this project's plain types, and the
 * list filters turned into their wire form: empty strings for unset ids, a wrapped state, and
 * fresh copies so nothing the gRPC library owns is handed on.
 *
 * @module
 */
import type {
  Container,
  ContainerFilter,
  ContainerStatus,
  Image,
  PodSandbox,
  PodSandboxFilter,
  PodSandboxStatus,
} from "./cri.ts";

/** `PodSandboxStatus` on the wire: the addresses sit in `network`. */
export interface WirePodSandboxStatus extends Omit<PodSandboxStatus, "ip" | "additionalIps"> {
  network: { ip: string; additionalIps: { ip: string }[] } | null;
}

/** `PodSandboxFilter` on the wire; null when there is no filter. */
export function sandboxFilterToWire(filter: PodSandboxFilter | undefined): unknown {
  return filter
    ? {
      id: filter.id ?? "",
      state: filter.state ? { state: filter.state } : null,
      labelSelector: filter.labelSelector ?? {},
    }
    : null;
}

/** `ContainerFilter` on the wire; null when there is no filter. */
export function containerFilterToWire(filter: ContainerFilter | undefined): unknown {
  return filter
    ? {
      id: filter.id ?? "",
      state: filter.state ? { state: filter.state } : null,
      podSandboxId: filter.podSandboxId ?? "",
      labelSelector: filter.labelSelector ?? {},
    }
    : null;
}

/** A `PodSandbox` of `ListPodSandbox`, copied. */
export function fromWireSandbox(s: PodSandbox): PodSandbox {
  return {
    id: s.id,
    metadata: { ...s.metadata },
    state: s.state,
    createdAt: s.createdAt,
    labels: { ...s.labels },
    annotations: { ...s.annotations },
    runtimeHandler: s.runtimeHandler,
  };
}

/** A `PodSandboxStatus`, its addresses lifted out of `network`. */
export function fromWireSandboxStatus(s: WirePodSandboxStatus): PodSandboxStatus {
  return {
    id: s.id,
    metadata: { ...s.metadata },
    state: s.state,
    createdAt: s.createdAt,
    ip: s.network?.ip ?? "",
    additionalIps: (s.network?.additionalIps ?? []).map((a) => a.ip),
    labels: { ...s.labels },
    annotations: { ...s.annotations },
  };
}

/** A `Container` of `ListContainers`, copied. */
export function fromWireContainer(c: Container): Container {
  return {
    id: c.id,
    podSandboxId: c.podSandboxId,
    metadata: { name: c.metadata.name, attempt: c.metadata.attempt },
    image: { image: c.image?.image ?? "" },
    imageRef: c.imageRef,
    state: c.state,
    createdAt: c.createdAt,
    labels: { ...c.labels },
    annotations: { ...c.annotations },
  };
}

/** A `ContainerStatus`, copied; a mount without `readonly` is read-write. */
export function fromWireContainerStatus(s: ContainerStatus): ContainerStatus {
  return {
    id: s.id,
    metadata: { name: s.metadata.name, attempt: s.metadata.attempt },
    state: s.state,
    createdAt: s.createdAt,
    startedAt: s.startedAt,
    finishedAt: s.finishedAt,
    exitCode: s.exitCode,
    image: { image: s.image?.image ?? "" },
    imageRef: s.imageRef,
    reason: s.reason,
    message: s.message,
    labels: { ...s.labels },
    annotations: { ...s.annotations },
    mounts: s.mounts.map((m) => ({
      containerPath: m.containerPath,
      hostPath: m.hostPath,
      readonly: m.readonly ?? false,
    })),
    logPath: s.logPath,
  };
}

/** An `Image`, its size and uid as numbers. */
export function fromWireImage(i: Image): Image {
  return {
    id: i.id,
    repoTags: [...i.repoTags],
    repoDigests: [...i.repoDigests],
    size: Number(i.size),
    uid: i.uid ? { value: Number(i.uid.value) } : null,
    username: i.username,
  };
}
