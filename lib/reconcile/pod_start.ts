/**
 * Starting pods and containers: a new sandbox with its directories, volumes and /etc/hosts;
 * containers created and started in order, each with its image and subPaths, then its
 * postStart hook (a failed hook records the container to be killed).
 *
 * @module
 */
import { checkNonRoot } from "../translate/non_root.ts";
import type { Image, PodSandboxConfig } from "../runtime/cri.ts";
import { hostNetworkHostsFile, podHostsFile } from "../translate/hosts.ts";
import type { ContainerStart, CreatePod, StartContainers, StartCreated } from "./actions.ts";
import {
  type DesiredContainer,
  type DesiredPod,
  type RuntimeFacts,
  sandboxForAttempt,
} from "../translate/desired_pod.ts";
import { buildContainerConfig, volumeBase } from "../translate/container_config.ts";
import { hostsFilePath, podLogDirectory } from "../node/paths.ts";
import type { ProbeTarget } from "../probe/probes.ts";
import { prepareVolumes } from "../node/volumes.ts";
import { bindSubPath, subPathTarget } from "../node/sub_path.ts";
import {
  callOptions,
  event,
  type ExecutorOptions,
  podSpecFile,
  runHook,
} from "./executor_options.ts";

/** Pod IPs once the sandbox runs; none for host-network pods. */
async function runtimeFacts(
  pod: DesiredPod,
  sandboxId: string,
  attempt: number,
  o: ExecutorOptions,
): Promise<RuntimeFacts> {
  if (pod.hostNetwork) return { podIPs: [], attempt };
  const status = await o.cri.podSandboxStatus(sandboxId, callOptions(o));
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
export type Prefetched = Map<string, Promise<Image | null>>;

/** A container's image in {@linkcode Prefetched}: the image, its pull policy and runAsNonRoot. */
export function imageKey(c: DesiredContainer): string {
  return `${c.image}\0${c.pullPolicy}\0${c.runAsNonRoot}`;
}

/**
 * Starts looking up (and if need be pulling) the images of the containers to start, so the
 * lookups run while the sandbox starts instead of after it. A failure surfaces where the
 * container awaits its image, as it would without this.
 */
function prefetchImages(pod: DesiredPod, start: ContainerStart[], o: ExecutorOptions): Prefetched {
  const opts = callOptions(o);
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
  const opts = callOptions(o);
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
      o.kills?.record({
        key: pod.key,
        containerId: id,
        container: c.name,
        reason: "FailedPostStartHook",
        message: `Container ${c.name}: ${result.output}`,
        gracePeriodSeconds: pod.gracePeriodSeconds,
      });
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

/** Starts pod `a`; `pulled` holds the images had before (a replacement's), found there first. */
export async function createPod(
  a: CreatePod,
  o: ExecutorOptions,
  pulled?: Prefetched,
): Promise<void> {
  const pod = a.pod;
  const opts = callOptions(o);
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
  const images = pulled ?? prefetchImages(pod, a.start, o);
  const sandboxId = await o.cri.runPodSandbox(sandbox, opts);
  event(o, pod.key, "SandboxCreated", `Created sandbox (attempt ${a.attempt}): ${a.reason}`);
  const facts = await runtimeFacts(pod, sandboxId, a.attempt, o);
  await writeHostsFile(pod, facts, o);
  for (const s of a.start) await createAndStart(pod, sandboxId, facts, s, o, images);
}

export async function startContainers(a: StartContainers, o: ExecutorOptions): Promise<void> {
  const pod = a.pod;
  // kubelet forms the sandbox config before it starts any container: none starts without it.
  sandboxForAttempt(pod, a.attempt);
  await prepareVolumes(pod.volumes, pod.podDir);
  const facts = await runtimeFacts(pod, a.sandboxId, a.attempt, o);
  await writeHostsFile(pod, facts, o);
  for (const s of a.start) await createAndStart(pod, a.sandboxId, facts, s, o);
}

export async function startCreated(a: StartCreated, o: ExecutorOptions): Promise<void> {
  const opts = callOptions(o);
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
