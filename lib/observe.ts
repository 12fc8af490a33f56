/**
 * What the runtime holds of tinylet's: rebuilt from two list calls every
 * pass. The runtime is the source of truth; nothing is remembered.
 *
 * @module
 */
import {
  type CallOptions,
  type Container,
  type ContainerStatus,
  type Cri,
  isNotFound,
  LABEL_INSTANCE,
  LABEL_MANAGED,
  type PodSandbox,
} from "./cri.ts";
import { podKey } from "./pod.ts";
import { K } from "./translate.ts";

/** One sandbox of ours and its containers. */
export interface ObservedPod {
  key: string;
  sandbox: PodSandbox;
  containers: Container[];
  /**
   * The manifest file the pod belongs to now: the sandbox's `tinylet/source`, unless the
   * pod has since moved to another file with the same content (a rename), which the agent
   * records in the pod's state directory.
   */
  source: string;
}

/** Everything of one agent instance on the runtime, by pod key. */
export interface ObservedState {
  /** Sandboxes by pod key, oldest first. */
  pods: Map<string, ObservedPod[]>;
  /** Containers whose sandbox is not listed (left over). */
  orphans: Container[];
  /** The status of every exited container (exit code, reason, times, log path), by id. */
  exited: Map<string, ContainerStatus>;
  /** The last status fetched of each running or exited container (for log paths), by id. */
  statuses: Map<string, ContainerStatus>;
  /** The pod IP of each ready sandbox, by sandbox id ("" on the host network). */
  ips: Map<string, string>;
}

/** The label selector of one agent instance. */
export function ownedBy(instance: string): Record<string, string> {
  return { [LABEL_MANAGED]: "true", [LABEL_INSTANCE]: instance };
}

/**
 * Lists the runtime (one `ListPodSandbox`, one `ListContainers`) and groups
 * what this instance owns. A container's status is asked for only when its
 * state changed since it was last asked; a sandbox's IP once.
 */
export class Observer {
  readonly #statuses = new Map<string, ContainerStatus>();
  readonly #ips = new Map<string, string>();

  /**
   * Records a ready sandbox's IP learned elsewhere (the flight that created it asked), so the
   * next observation does not ask again.
   */
  rememberIp(sandboxId: string, ip: string): void {
    this.#ips.set(sandboxId, ip);
  }

  async observe(cri: Cri, instance: string, opts?: CallOptions): Promise<ObservedState> {
    const selector = ownedBy(instance);
    const [sandboxes, containers] = await Promise.all([
      cri.listPodSandbox({ labelSelector: selector }, opts),
      cri.listContainers({ labelSelector: selector }, opts),
    ]);
    const listed = new Set(containers.map((c) => c.id));
    for (const id of [...this.#statuses.keys()]) if (!listed.has(id)) this.#statuses.delete(id);
    const changed = containers.filter((c) =>
      (c.state === "CONTAINER_EXITED" || c.state === "CONTAINER_RUNNING") &&
      this.#statuses.get(c.id)?.state !== c.state
    );
    const ready = new Set(sandboxes.filter((s) => s.state === "SANDBOX_READY").map((s) => s.id));
    for (const id of [...this.#ips.keys()]) if (!ready.has(id)) this.#ips.delete(id);
    const newSandboxes = [...ready].filter((id) => !this.#ips.has(id));
    await Promise.all([
      ...changed.map(async (c) => {
        try {
          this.#statuses.set(c.id, await cri.containerStatus(c.id, opts));
        } catch (err) {
          if (!isNotFound(err)) throw err; // removed meanwhile
        }
      }),
      ...newSandboxes.map(async (id) => {
        try {
          this.#ips.set(id, (await cri.podSandboxStatus(id, opts)).ip);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }),
    ]);
    const exited = new Map<string, ContainerStatus>();
    for (const [id, s] of this.#statuses) if (s.state === "CONTAINER_EXITED") exited.set(id, s);
    const state = groupObserved(sandboxes, containers, exited);
    state.statuses = new Map(this.#statuses);
    state.ips = new Map(this.#ips);
    return state;
  }
}

/** Groups listed sandboxes and containers by pod. Pure. */
export function groupObserved(
  sandboxes: PodSandbox[],
  containers: Container[],
  exited = new Map<string, ContainerStatus>(),
): ObservedState {
  const bySandbox = new Map<string, ObservedPod>();
  const pods = new Map<string, ObservedPod[]>();
  const sorted = [...sandboxes].sort((a, b) =>
    a.createdAt - b.createdAt || a.id.localeCompare(b.id)
  );
  for (const sandbox of sorted) {
    const key = podKey(
      sandbox.labels[K.podNamespace] ?? sandbox.metadata.namespace,
      sandbox.labels[K.podName] ?? sandbox.metadata.name,
    );
    const op: ObservedPod = {
      key,
      sandbox,
      containers: [],
      source: sandbox.annotations[K.source] ?? "",
    };
    bySandbox.set(sandbox.id, op);
    const list = pods.get(key) ?? [];
    list.push(op);
    pods.set(key, list);
  }
  const orphans: Container[] = [];
  for (const c of containers) {
    const op = bySandbox.get(c.podSandboxId);
    if (op) op.containers.push(c);
    else orphans.push(c);
  }
  for (const op of bySandbox.values()) {
    op.containers.sort((a, b) =>
      a.metadata.attempt - b.metadata.attempt || a.createdAt - b.createdAt
    );
  }
  return { pods, orphans, exited, statuses: new Map(exited), ips: new Map() };
}
