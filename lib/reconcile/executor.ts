/**
 * The executor: the only code that changes the runtime. Applies a plan, pod
 * by pod (in order within a pod, concurrently across pods), and records one
 * result per action instead of stopping at the first failure.
 *
 * @module
 */
import { checkNonRoot } from "../translate/non_root.ts";
import type { Cri, Image, PodSandboxConfig } from "../runtime/cri.ts";
import { isNotFound } from "../runtime/errors.ts";
import { hostNetworkHostsFile, podHostsFile } from "../translate/hosts.ts";
import type { ImagePuller } from "../node/images.ts";
import type { Logger } from "../base/log.ts";
import { removeLogFiles } from "../node/log_rotation.ts";
import type {
  Action,
  ContainerStart,
  CreatePod,
  DeletePod,
  RemoveContainers,
  StartContainers,
  StartCreated,
} from "./plan.ts";
import {
  type DesiredContainer,
  type DesiredPod,
  type RuntimeFacts,
  sandboxForAttempt,
} from "../translate/desired_pod.ts";
import { buildContainerConfig, volumeBase } from "../translate/container_config.ts";
import { hostsFilePath, podLogDirectory } from "../node/paths.ts";
import {
  checkedPodLogDir,
  checkedPodStateDir,
  quoteRuntimeValue,
  removeBelow,
  resolveBelow,
} from "../node/paths.ts";
import type { Pod } from "../manifest/pod.ts";
import type { HandlerSpec } from "../manifest/types.ts";
import type { ProbeOutcome, ProbeTarget } from "../probe/probes.ts";
import { runHandler } from "../probe/handlers.ts";
import { prepareVolumes } from "../node/volumes.ts";
import { releaseVolumes } from "../node/volume_release.ts";
import { bindSubPath, subPathTarget } from "../node/sub_path.ts";

/** Something that happened to a pod, for `describe` and the logs. */
export interface PodEvent {
  pod: string;
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

/** What the executor needs. */
export interface ExecutorOptions {
  cri: Cri;
  log: Logger;
  images: ImagePuller;
  /** The agent's state root (`--root`); pod state lives in `<root>/pods/<uid>`. */
  root: string;
  podLogRoot: string;
  /** Reads the host's /etc/hosts (for host-network pods); injectable for tests. */
  readHostHosts?: () => Promise<string>;
  /** Told about each event. */
  onEvent?: (event: PodEvent) => void;
  /** Told each sandbox IP the executor asked the runtime for. */
  onSandboxIp?: (sandboxId: string, ip: string) => void;
  /** Runs a lifecycle hook (postStart, preStop); defaults to the agent's probe handlers. */
  hook?: (
    handler: HandlerSpec,
    target: ProbeTarget,
    timeoutSeconds: number,
  ) => Promise<ProbeOutcome>;
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

function event(o: ExecutorOptions, pod: string, reason: string, message: string, warning = false) {
  o.onEvent?.({ pod, type: warning ? "Warning" : "Normal", reason, message });
}

async function runAction(action: Action, o: ExecutorOptions): Promise<ActionResult> {
  const started = performance.now();
  const fields = { pod: action.key, reason: action.reason };
  try {
    switch (action.type) {
      case "createPod":
        await createPod(action, o);
        o.log.info(`Started pod ${action.key}`, { ...fields, file: action.pod.source });
        break;
      case "deletePod":
        await deletePod(action, o);
        o.log.info(`Removed pod ${action.key}`, fields);
        break;
      case "startContainers":
        await startContainers(action, o);
        o.log.info(
          `Started ${
            action.start.map((s) => `container ${s.name}`).join(", ")
          } of pod ${action.key}`,
          fields,
        );
        break;
      case "startCreated":
        await startCreated(action, o);
        o.log.info(`Started container ${action.container} of pod ${action.key}`, fields);
        break;
      case "removeContainers":
        await removeContainers(action, o);
        o.log.debug(`Removed ${action.containers.length} dead container(s) of pod ${action.key}`);
        break;
    }
    return { action, ms: performance.now() - started };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    return { action, error, ms: performance.now() - started };
  }
}

/** Pod IPs once the sandbox runs; none for host-network pods. */
async function runtimeFacts(
  pod: DesiredPod,
  sandboxId: string,
  attempt: number,
  o: ExecutorOptions,
): Promise<RuntimeFacts> {
  if (pod.hostNetwork) return { podIPs: [], attempt };
  const status = await o.cri.podSandboxStatus(sandboxId, o.signal ? { signal: o.signal } : {});
  o.onSandboxIp?.(sandboxId, status.ip);
  return { podIPs: [status.ip, ...status.additionalIps].filter((ip) => ip !== ""), attempt };
}

/** Writes the pod's /etc/hosts, as kubelet manages it. */
async function writeHostsFile(pod: DesiredPod, facts: RuntimeFacts, o: ExecutorOptions) {
  const content = pod.hostNetwork
    ? hostNetworkHostsFile(
      await (o.readHostHosts ?? (() => Deno.readTextFile("/etc/hosts")))().catch(() => ""),
      pod.hostAliases,
    )
    : podHostsFile(facts.podIPs, pod.sandbox.hostname ?? pod.name, pod.hostAliases);
  await Deno.writeTextFile(hostsFilePath(pod.podDir), content, { mode: 0o644 });
}

/** Images being looked up (or pulled) ahead of need, by {@linkcode imageKey}. */
type Prefetched = Map<string, Promise<Image | null>>;

function imageKey(c: DesiredContainer): string {
  return `${c.image}\0${c.pullPolicy}\0${c.runAsNonRoot}`;
}

/**
 * Starts looking up (and if need be pulling) the images of the containers to start, so the
 * lookups run while the sandbox starts instead of after it. A failure surfaces where the
 * container awaits its image, as it would without this.
 */
function prefetchImages(pod: DesiredPod, start: ContainerStart[], o: ExecutorOptions): Prefetched {
  const opts = o.signal ? { signal: o.signal } : {};
  const prefetched: Prefetched = new Map();
  for (const s of start) {
    const c = pod.containers.find((x) => x.name === s.name);
    if (!c || prefetched.has(imageKey(c))) continue;
    const p = o.images.ensure(c.image, c.pullPolicy, c.runAsNonRoot, opts);
    p.catch(() => {}); // awaited (and reported) by the container; never unhandled meanwhile
    prefetched.set(imageKey(c), p);
  }
  return prefetched;
}

/** Gets the image, then creates and starts one container instance. */
async function createAndStart(
  pod: DesiredPod,
  sandboxId: string,
  facts: RuntimeFacts,
  start: ContainerStart,
  o: ExecutorOptions,
  prefetched?: Prefetched,
): Promise<void> {
  const c = pod.containers.find((x) => x.name === start.name);
  if (!c) throw new Error(`Pod ${pod.key} has no container "${start.name}"`);
  const opts = o.signal ? { signal: o.signal } : {};
  let image: Image | null;
  try {
    image = await (prefetched?.get(imageKey(c)) ??
      o.images.ensure(c.image, c.pullPolicy, c.runAsNonRoot, opts));
  } catch (err) {
    event(o, pod.key, "Failed", `Container ${c.name}: ${(err as Error).message}`, true);
    throw err;
  }
  checkNonRoot(pod, c, image);
  for (const [i, m] of (c.spec.volumeMounts ?? []).entries()) {
    if (!m.subPath) continue;
    await bindSubPath(
      m.name,
      volumeBase(pod, m.name),
      m.subPath,
      subPathTarget(pod.podDir, m.name, c.name, i),
    );
  }
  const config = buildContainerConfig(pod, c.name, facts, start.restartCount);
  const id = await o.cri.createContainer(
    sandboxId,
    config,
    sandboxForAttempt(pod, facts.attempt),
    opts,
  );
  await o.cri.startContainer(id, opts);
  const postStart = c.spec.lifecycle?.postStart;
  if (postStart) {
    const result = await runHook(
      o,
      postStart,
      hookTarget(pod, c, id, facts),
      pod.gracePeriodSeconds,
    );
    o.signal?.throwIfAborted(); // a hook cut short by a stopping agent did not fail
    if (!result.ok) {
      // kubelet kills a container whose postStart hook failed; the restart policy follows.
      event(o, pod.key, "FailedPostStartHook", `Container ${c.name}: ${result.output}`, true);
      o.log.warn(
        `PostStart hook of container ${c.name} of pod ${pod.key} failed: ${result.output}`,
      );
      await idempotent(o.cri.stopContainer(id, pod.gracePeriodSeconds, opts));
      return;
    }
  }
  event(
    o,
    pod.key,
    "Started",
    start.restartCount > 0
      ? `Started container ${c.name} (restart ${start.restartCount})`
      : `Started container ${c.name}`,
  );
}

/** Where a pod's spec is kept, for its preStop hooks when its file is gone. */
function podSpecFile(podDir: string): string {
  return `${podDir}/pod.json`;
}

function hookTarget(
  pod: DesiredPod,
  c: DesiredContainer,
  id: string,
  facts: RuntimeFacts,
): ProbeTarget {
  const namedPorts: Record<string, number> = {};
  for (const p of c.spec.ports ?? []) if (p.name) namedPorts[p.name] = p.containerPort;
  return {
    containerId: id,
    host: pod.hostNetwork ? "127.0.0.1" : facts.podIPs[0] ?? "",
    namedPorts,
  };
}

async function runHook(
  o: ExecutorOptions,
  handler: HandlerSpec,
  target: ProbeTarget,
  timeoutSeconds: number,
): Promise<ProbeOutcome> {
  try {
    const signal = o.signal ? { signal: o.signal } : {};
    return await (o.hook ?? ((h, t, s) => runHandler(h, t, s, { cri: o.cri, ...signal })))(
      handler,
      target,
      timeoutSeconds,
    );
  } catch (err) {
    return { ok: false, output: (err as Error).message };
  }
}

async function createPod(a: CreatePod, o: ExecutorOptions): Promise<void> {
  const pod = a.pod;
  const opts = o.signal ? { signal: o.signal } : {};
  let sandbox: PodSandboxConfig;
  try {
    // Formed first, as kubelet does: a config that cannot be formed creates nothing.
    sandbox = sandboxForAttempt(pod, a.attempt);
  } catch (err) {
    event(o, pod.key, "FailedCreatePodSandBox", (err as Error).message, true);
    throw err;
  }
  await Deno.mkdir(pod.podDir, { recursive: true, mode: 0o750 });
  await Deno.writeTextFile(podSpecFile(pod.podDir), JSON.stringify(pod.pod));
  await Deno.mkdir(podLogDirectory(o.podLogRoot, pod.namespace, pod.name, pod.uid), {
    recursive: true,
    mode: 0o755,
  });
  await prepareVolumes(pod.volumes, pod.podDir);
  const images = prefetchImages(pod, a.start, o);
  const sandboxId = await o.cri.runPodSandbox(sandbox, opts);
  event(o, pod.key, "SandboxCreated", `Created sandbox (attempt ${a.attempt}): ${a.reason}`);
  const facts = await runtimeFacts(pod, sandboxId, a.attempt, o);
  await writeHostsFile(pod, facts, o);
  for (const s of a.start) await createAndStart(pod, sandboxId, facts, s, o, images);
}

async function startContainers(a: StartContainers, o: ExecutorOptions): Promise<void> {
  const pod = a.pod;
  // kubelet forms the sandbox config before it starts any container: none starts without it.
  sandboxForAttempt(pod, a.attempt);
  await prepareVolumes(pod.volumes, pod.podDir);
  const facts = await runtimeFacts(pod, a.sandboxId, a.attempt, o);
  await writeHostsFile(pod, facts, o);
  for (const s of a.start) await createAndStart(pod, a.sandboxId, facts, s, o);
}

async function startCreated(a: StartCreated, o: ExecutorOptions): Promise<void> {
  const opts = o.signal ? { signal: o.signal } : {};
  await o.cri.startContainer(a.containerId, opts);
  // A start the runtime accepts but does not carry out would be planned again at once: it
  // fails instead, and backs off.
  const status = await o.cri.containerStatus(a.containerId, opts);
  if (status.state === "CONTAINER_CREATED") {
    throw new Error(
      `Cannot start container ${a.container} of pod ${a.key}: the runtime accepted the start but the container is still created`,
    );
  }
}

async function removeContainers(a: RemoveContainers, o: ExecutorOptions): Promise<void> {
  const opts = o.signal ? { signal: o.signal } : {};
  const refused: Error[] = [];
  for (const c of a.containers) {
    await idempotent(o.cri.removeContainer(c.id, opts));
    await stillThere(
      o.cri.containerStatus(c.id, opts),
      `Cannot remove container ${quoteRuntimeValue(c.id)} of pod ${a.key}`,
    );
    if (!c.logPath) continue;
    // The log files go only from below the pod log root, by the path resolved there; one
    // that is refused keeps the other containers from being removed no longer.
    try {
      const real = await resolveBelow(o.podLogRoot, c.logPath);
      if (real !== undefined) await removeLogFiles(real);
    } catch (err) {
      refused.push(err as Error);
    }
  }
  if (refused.length > 0) {
    throw refused.length === 1 ? refused[0] : new AggregateError(
      refused,
      `Cannot remove the log files of ${refused.length} containers of pod ${a.key}`,
    );
  }
}

/**
 * Fails unless `status` (the runtime asked about what was just removed) says NotFound: a
 * removal the runtime accepted but did not carry out is a failed action, which backs off
 * like any other, not a success to plan again at once.
 */
async function stillThere(status: Promise<unknown>, action: string): Promise<void> {
  try {
    await status;
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  throw new Error(`${action}: the runtime accepted its removal but still has it`);
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
  // The pod's identity comes from the runtime: no host path is built from it unless the
  // observer found it fit (its labels included). One that cannot name paths gets the runtime's
  // side of the removal only, by id; asked to remove its directories, the removal fails
  // before it starts.
  const id = { namespace: a.namespace, name: a.name, uid: a.uid };
  const dirs = a.removeState || a.hostPaths
    ? { state: checkedPodStateDir(o.root, id), log: checkedPodLogDir(o.podLogRoot, id) }
    : undefined;
  const hooks = await preStopHooks(a, dirs?.state, o);
  const t0 = performance.now();
  for (const group of a.stopGroups) {
    await Promise.all(group.map(async (id) => {
      const hook = hooks.get(id);
      if (hook) {
        const r = await runHook(o, hook.handler, hook.target, a.gracePeriodSeconds);
        if (!r.ok) {
          event(
            o,
            a.key,
            "FailedPreStopHook",
            `Container ${a.containerNames[id]}: ${r.output}`,
            true,
          );
        }
      }
      // What is left of the grace period, at least 2 s, as kubelet gives.
      const left = Math.max(2, a.gracePeriodSeconds - Math.floor((performance.now() - t0) / 1000));
      await idempotent(o.cri.stopContainer(id, hook ? left : a.gracePeriodSeconds, opts));
    }));
  }
  if (a.stopGroups.length > 0) {
    event(o, a.key, "Killing", `Stopped containers (grace period ${a.gracePeriodSeconds} s)`);
  }
  await idempotent(o.cri.stopPodSandbox(a.sandboxId, opts));
  // Nothing runs in the pod any more. Its directories go before the sandbox, so a pod
  // the runtime no longer lists has nothing left on disk either (a failure here keeps
  // the sandbox listed, and the next pass tries again).
  if (a.removeState && dirs) {
    const dir = await resolveBelow(o.root, dirs.state);
    if (dir !== undefined) await releaseVolumes(dir, o.root);
    await removeBelow(o.root, dirs.state);
    await removeBelow(o.podLogRoot, dirs.log);
  }
  await idempotent(o.cri.removePodSandbox(a.sandboxId, opts));
  await stillThere(
    o.cri.podSandboxStatus(a.sandboxId, opts),
    `Cannot remove sandbox ${quoteRuntimeValue(a.sandboxId)} of pod ${a.key}`,
  );
}

/** The preStop hooks of the containers being stopped, from the spec kept in `stateDir`. */
async function preStopHooks(
  a: DeletePod,
  stateDir: string | undefined,
  o: ExecutorOptions,
): Promise<Map<string, { handler: HandlerSpec; target: ProbeTarget }>> {
  const hooks = new Map<string, { handler: HandlerSpec; target: ProbeTarget }>();
  if (stateDir === undefined) return hooks; // No directory of the pod's to read a spec from.
  let pod: Pod;
  try {
    pod = JSON.parse(await Deno.readTextFile(podSpecFile(stateDir)));
  } catch {
    return hooks; // No spec kept (an older pod): no hooks to run.
  }
  const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  let host: string | undefined;
  for (const group of a.stopGroups) {
    for (const id of group) {
      const c = all.find((x) => x.name === a.containerNames[id]);
      const handler = c?.lifecycle?.preStop;
      if (!c || !handler) continue;
      if (host === undefined) {
        const opts = o.signal ? { signal: o.signal } : {};
        host = pod.spec.hostNetwork
          ? "127.0.0.1"
          : await o.cri.podSandboxStatus(a.sandboxId, opts).then(
            (s) => s.ip,
            () => "",
          );
      }
      const namedPorts: Record<string, number> = {};
      for (const p of c.ports ?? []) if (p.name) namedPorts[p.name] = p.containerPort;
      hooks.set(id, { handler, target: { containerId: id, host, namedPorts } });
    }
  }
  return hooks;
}
