/**
 * What the runtime holds of tinylet's: rebuilt from two list calls every
 * pass. The runtime is the source of truth; nothing is remembered.
 *
 * @module
 */
import {
  type CallOptions,
  type Container,
  type Cri,
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
}

/** Everything of one agent instance on the runtime, by pod key. */
export interface ObservedState {
  /** Sandboxes by pod key, oldest first. */
  pods: Map<string, ObservedPod[]>;
  /** Containers whose sandbox is not listed (left over). */
  orphans: Container[];
}

/** The label selector of one agent instance. */
export function ownedBy(instance: string): Record<string, string> {
  return { [LABEL_MANAGED]: "true", [LABEL_INSTANCE]: instance };
}

/** Lists the runtime (one `ListPodSandbox`, one `ListContainers`) and groups what this instance owns. */
export async function observe(
  cri: Cri,
  instance: string,
  opts?: CallOptions,
): Promise<ObservedState> {
  const selector = ownedBy(instance);
  const [sandboxes, containers] = await Promise.all([
    cri.listPodSandbox({ labelSelector: selector }, opts),
    cri.listContainers({ labelSelector: selector }, opts),
  ]);
  return groupObserved(sandboxes, containers);
}

/** Groups listed sandboxes and containers by pod. Pure. */
export function groupObserved(
  sandboxes: PodSandbox[],
  containers: Container[],
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
    const op: ObservedPod = { key, sandbox, containers: [] };
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
  return { pods, orphans };
}
