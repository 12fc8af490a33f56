/**
 * What the runtime holds of tinylet's: rebuilt from two list calls every
 * pass. The runtime is the source of truth for what exists and in which
 * state; the observer remembers only what does not change while an object
 * lives (the status of a container in its current state, the IP of a ready
 * sandbox), so it asks the runtime again only when a state changed.
 *
 * @module
 */
import type { CallOptions, Container, ContainerStatus, Cri, PodSandbox } from "../runtime/cri.ts";
import { LABEL_INSTANCE, LABEL_MANAGED } from "../runtime/labels.ts";
import { isNotFound } from "../runtime/errors.ts";
import type { Logger } from "../base/log.ts";
import { SYSTEM_CLOCK } from "../base/clock.ts";
import {
  containerLogPathProblem,
  type PodIdentity,
  podIdentityProblem,
  quoteRuntimeValue,
} from "../node/paths.ts";
import { podKey } from "../manifest/pod.ts";
import { KEYS } from "../runtime/labels.ts";

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
  /**
   * Why the pod's identity (UID, namespace, name, from the sandbox's metadata and labels)
   * cannot name host paths; absent when it can. tinylet never made such a sandbox: it is
   * never taken for a declared pod's, and it is stopped and removed through the runtime by
   * id, with no host path built from it (no state or log directory, no preStop hook read).
   */
  unsafeIdentity?: string;
}

/**
 * A path the runtime gave that tinylet will not build on: a sandbox whose pod
 * identity cannot name host paths, or a container whose log path is not where
 * tinylet put it.
 */
export interface Refusal {
  kind: "sandbox" | "container";
  id: string;
  /** Says what is left alone and why. */
  message: string;
}

/** Everything of one agent instance on the runtime, by pod key. */
export interface ObservedState {
  /** Sandboxes by pod key, oldest first. */
  pods: Map<string, ObservedPod[]>;
  /**
   * Containers whose sandbox is not listed. From {@linkcode Observer.observe}: only those of
   * this instance whose sandbox the runtime says is gone (left over), not those of a sandbox
   * created after the sandboxes were listed.
   */
  orphans: Container[];
  /** The paths from the runtime that tinylet will not build on, each with the reason. */
  refused: Refusal[];
  /** The status of every exited container (exit code, reason, times, log path), by id. */
  exited: Map<string, ContainerStatus>;
  /** The last status fetched of each running or exited container (for log paths), by id. */
  statuses: Map<string, ContainerStatus>;
  /** The pod IP of each ready sandbox, by sandbox id ("" on the host network). */
  ips: Map<string, string>;
  /**
   * When the listing began, on the observer's monotonic clock: what happened after it may be
   * missing from it. Undefined for a state not listed from a runtime.
   */
  listedAt?: number;
}

/** The label selector of one agent instance. */
export function ownedBy(instance: string): Record<string, string> {
  return { [LABEL_MANAGED]: "true", [LABEL_INSTANCE]: instance };
}

/**
 * Lists the runtime (one `ListPodSandbox`, one `ListContainers`) and groups
 * what this instance owns. A container's status is asked for only when its
 * state changed since it was last asked; a sandbox's IP once; the status of a
 * sandbox that containers of ours name but the listing lacks, every time.
 */
export class Observer {
  readonly #statuses = new Map<string, ContainerStatus>();
  readonly #ips = new Map<string, string>();
  readonly #podLogRoot: string | undefined;
  readonly #log: Logger | undefined;
  /** What was refused and logged, by id: each refusal is logged once, again when it changes. */
  readonly #refusalsLogged = new Map<string, string>();
  /** The monotonic clock `listedAt` is read on. */
  readonly #now: () => number;

  /**
   * With `podLogRoot`, a container's log path must lie below it; with `log`, each refusal
   * is logged once (a warning), and again only when it changes. `now` is the monotonic clock
   * a listing's start is read on (default: the system's).
   */
  constructor(options: { podLogRoot?: string; log?: Logger; now?: () => number } = {}) {
    this.#podLogRoot = options.podLogRoot;
    this.#log = options.log;
    this.#now = options.now ?? SYSTEM_CLOCK.now;
  }

  /**
   * Records a ready sandbox's IP learned elsewhere (the flight that created it asked), so the
   * next observation does not ask again.
   */
  rememberIp(sandboxId: string, ip: string): void {
    this.#ips.set(sandboxId, ip);
  }

  async observe(cri: Cri, instance: string, opts?: CallOptions): Promise<ObservedState> {
    const selector = ownedBy(instance);
    const listedAt = this.#now();
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
    state.listedAt = listedAt;
    state.orphans = await this.#orphans(cri, state.orphans, selector, opts);
    checkLogPaths(state, this.#podLogRoot);
    this.#report(state.refused);
    return state;
  }

  /**
   * The containers of `candidates` (their sandbox was not listed) that carry this instance's
   * labels and whose sandbox the runtime says is gone. A sandbox created after the sandboxes
   * were listed, or one the runtime has but not under this instance's labels, keeps its
   * containers out; so does a sandbox the runtime cannot tell about now.
   */
  async #orphans(
    cri: Cri,
    candidates: Container[],
    selector: Record<string, string>,
    opts: CallOptions | undefined,
  ): Promise<Container[]> {
    const ours = candidates.filter((c) =>
      Object.entries(selector).every(([k, v]) => c.labels[k] === v)
    );
    const gone = new Set<string>();
    for (const id of new Set(ours.map((c) => c.podSandboxId))) {
      try {
        await cri.podSandboxStatus(id, opts);
      } catch (err) {
        if (isNotFound(err)) gone.add(id);
      }
    }
    return ours.filter((c) => gone.has(c.podSandboxId));
  }

  #report(refused: Refusal[]) {
    const listed = new Set(refused.map((r) => r.id));
    for (const id of [...this.#refusalsLogged.keys()]) {
      if (!listed.has(id)) this.#refusalsLogged.delete(id);
    }
    for (const r of refused) {
      if (this.#refusalsLogged.get(r.id) === r.message) continue;
      this.#refusalsLogged.set(r.id, r.message);
      this.#log?.warn(r.message);
    }
  }
}

/**
 * Why a sandbox's pod identity cannot name host paths (undefined when it can): its metadata
 * must pass {@linkcode podIdentityProblem}, and its labels, when present, must repeat it, as
 * tinylet writes both.
 */
function identityProblem(sandbox: PodSandbox): string | undefined {
  const m = sandbox.metadata;
  const id: PodIdentity = { namespace: m.namespace, name: m.name, uid: m.uid };
  for (
    const [label, value] of [
      [KEYS.podNamespace, m.namespace],
      [KEYS.podName, m.name],
      [KEYS.podUid, m.uid],
    ] as const
  ) {
    const labelled = sandbox.labels[label];
    if (labelled !== undefined && labelled !== value) {
      return `its label ${label}=${quoteRuntimeValue(labelled)} differs from its metadata (${
        quoteRuntimeValue(value)
      })`;
    }
  }
  return podIdentityProblem(id);
}

/**
 * Blanks the log path of each container whose status reports one that is not where tinylet
 * put it, and records why: no log rotation or removal follows a path the runtime made up.
 */
function checkLogPaths(state: ObservedState, podLogRoot: string | undefined) {
  for (const list of state.pods.values()) {
    for (const o of list) {
      const m = o.sandbox.metadata;
      const pod = { namespace: m.namespace, name: m.name, uid: m.uid };
      for (const c of o.containers) {
        const status = state.statuses.get(c.id);
        if (!status?.logPath) continue;
        const why = o.unsafeIdentity ?? containerLogPathProblem(status.logPath, pod, podLogRoot);
        if (why === undefined) continue;
        const blanked = { ...status, logPath: "" };
        state.statuses.set(c.id, blanked);
        if (state.exited.has(c.id)) state.exited.set(c.id, blanked);
        if (o.unsafeIdentity !== undefined) continue; // said once for the whole sandbox
        state.refused.push({
          kind: "container",
          id: c.id,
          message: `Leaving the log files of container ${
            quoteRuntimeValue(c.id.slice(0, 12))
          } of pod ${quoteRuntimeValue(o.key)} alone: ${why}`,
        });
      }
    }
  }
}

/**
 * Groups listed sandboxes and containers by pod. Pure. A sandbox whose pod identity cannot
 * name host paths is marked ({@linkcode ObservedPod.unsafeIdentity}) and refused.
 */
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
  const refused: Refusal[] = [];
  for (const sandbox of sorted) {
    const key = podKey(
      sandbox.labels[KEYS.podNamespace] ?? sandbox.metadata.namespace,
      sandbox.labels[KEYS.podName] ?? sandbox.metadata.name,
    );
    const op: ObservedPod = {
      key,
      sandbox,
      containers: [],
      source: sandbox.annotations[KEYS.source] ?? "",
    };
    const unsafe = identityProblem(sandbox);
    if (unsafe !== undefined) {
      op.unsafeIdentity = unsafe;
      refused.push({
        kind: "sandbox",
        id: sandbox.id,
        message: `Leaving the host directories of sandbox ${
          quoteRuntimeValue(sandbox.id.slice(0, 12))
        } (pod ${
          quoteRuntimeValue(key)
        }) alone: ${unsafe}; tinylet did not make it, builds no host path from it, and stops and removes it through the runtime only`,
      });
    }
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
  return { pods, orphans, refused, exited, statuses: new Map(exited), ips: new Map() };
}
