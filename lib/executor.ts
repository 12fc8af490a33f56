/**
 * The executor: the only code that changes the runtime. Applies a plan, pod
 * by pod (in order within a pod, concurrently across pods), and records one
 * result per action instead of stopping at the first failure.
 *
 * @module
 */
import { type Cri, isNotFound } from "./cri.ts";
import type { Logger } from "./log.ts";
import type { Action, CreateContainer, CreatePod, DeletePod, StartContainer } from "./plan.ts";
import { type DesiredPod, podLogDirectory, sandboxForAttempt } from "./translate.ts";

/** What the executor needs. */
export interface ExecutorOptions {
  cri: Cri;
  log: Logger;
  /** The agent's state root (`--root`); pod state lives in `<root>/pods/<uid>`. */
  root: string;
  podLogRoot: string;
  /** How many pods change at once. */
  parallel: number;
  signal?: AbortSignal;
}

/** The outcome of one action. */
export interface ActionResult {
  action: Action;
  error?: Error;
  ms: number;
}

/** The directory holding one pod's state. */
export function podStateDir(root: string, uid: string): string {
  return `${root}/pods/${uid}`;
}

/** Runs `actions`; the actions of one pod in order, stopping that pod at its first failure. */
export async function execute(
  actions: Action[],
  options: ExecutorOptions,
): Promise<ActionResult[]> {
  const byPod = new Map<string, Action[]>();
  for (const a of actions) {
    const list = byPod.get(a.key) ?? [];
    list.push(a);
    byPod.set(a.key, list);
  }
  const queues = [...byPod.values()];
  const results: ActionResult[] = [];
  const worker = async () => {
    for (let q = queues.shift(); q; q = queues.shift()) {
      for (const action of q) {
        const r = await runAction(action, options);
        results.push(r);
        if (r.error) break;
      }
    }
  };
  const n = Math.max(1, Math.min(options.parallel, queues.length));
  await Promise.all(Array.from({ length: n }, worker));
  return results;
}

async function runAction(
  action: Action,
  o: ExecutorOptions,
): Promise<ActionResult> {
  const started = performance.now();
  const fields = { pod: action.key, reason: action.reason };
  try {
    switch (action.type) {
      case "createPod":
        await createPod(action, o);
        o.log.info(`Started pod ${action.key}`, {
          ...fields,
          file: action.pod.source,
        });
        break;
      case "deletePod":
        await deletePod(action, o);
        o.log.info(`Removed pod ${action.key}`, fields);
        break;
      case "createContainer":
        await createContainer(action, o);
        o.log.info(
          `Started container ${action.container} of pod ${action.key}`,
          fields,
        );
        break;
      case "startContainer":
        await startContainer(action, o);
        o.log.info(
          `Started container ${action.container} of pod ${action.key}`,
          fields,
        );
        break;
    }
    return { action, ms: performance.now() - started };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    return { action, error, ms: performance.now() - started };
  }
}

async function ensureImage(image: string, o: ExecutorOptions): Promise<void> {
  const opts = o.signal ? { signal: o.signal } : {};
  const present = await o.cri.imageStatus({ image }, opts);
  if (present) return;
  o.log.info(`Pulling image ${image}`);
  await o.cri.pullImage({ image }, undefined, undefined, opts);
}

/** Creates and starts one container; its image is already present. */
async function createAndStart(
  pod: DesiredPod,
  sandboxId: string,
  attempt: number,
  name: string,
  o: ExecutorOptions,
): Promise<void> {
  const c = pod.containers.find((x) => x.name === name);
  if (!c) throw new Error(`Pod ${pod.key} has no container "${name}"`);
  const opts = o.signal ? { signal: o.signal } : {};
  const id = await o.cri.createContainer(
    sandboxId,
    c.config,
    sandboxForAttempt(pod, attempt),
    opts,
  );
  await o.cri.startContainer(id, opts);
}

async function createPod(a: CreatePod, o: ExecutorOptions): Promise<void> {
  const pod = a.pod;
  const opts = o.signal ? { signal: o.signal } : {};
  await Deno.mkdir(podStateDir(o.root, pod.uid), {
    recursive: true,
    mode: 0o750,
  });
  await Deno.mkdir(
    podLogDirectory(o.podLogRoot, pod.namespace, pod.name, pod.uid),
    {
      recursive: true,
      mode: 0o755,
    },
  );
  for (const image of new Set(pod.containers.map((c) => c.image))) {
    await ensureImage(image, o);
  }
  const sandboxId = await o.cri.runPodSandbox(
    sandboxForAttempt(pod, a.attempt),
    opts,
  );
  for (const c of pod.containers) {
    await createAndStart(pod, sandboxId, a.attempt, c.name, o);
  }
}

async function createContainer(
  a: CreateContainer,
  o: ExecutorOptions,
): Promise<void> {
  const image = a.pod.containers.find((c) => c.name === a.container)?.image;
  if (image) await ensureImage(image, o);
  await createAndStart(a.pod, a.sandboxId, a.attempt, a.container, o);
}

async function startContainer(
  a: StartContainer,
  o: ExecutorOptions,
): Promise<void> {
  await o.cri.startContainer(
    a.containerId,
    o.signal ? { signal: o.signal } : {},
  );
}

/** Treats NotFound as done: whatever was to be stopped or removed is gone. */
async function idempotent(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

async function deletePod(a: DeletePod, o: ExecutorOptions): Promise<void> {
  const opts = o.signal ? { signal: o.signal } : {};
  await Promise.all(
    a.containerIds.map((id) => idempotent(o.cri.stopContainer(id, a.gracePeriodSeconds, opts))),
  );
  await idempotent(o.cri.stopPodSandbox(a.sandboxId, opts));
  // Nothing runs in the pod any more. Its directories go before the sandbox, so a pod
  // the runtime no longer lists has nothing left on disk either (a failure here keeps
  // the sandbox listed, and the next pass tries again).
  if (a.removeState) {
    await removeDir(podStateDir(o.root, a.uid));
    await removeDir(podLogDirectory(o.podLogRoot, a.namespace, a.name, a.uid));
  }
  await idempotent(o.cri.removePodSandbox(a.sandboxId, opts));
}

async function removeDir(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}
