/**
 * Taking pods apart: a pod's containers stopped in groups after their preStop hooks (read
 * from the spec kept in the pod's state directory), its sandbox stopped, its directories
 * and volumes released, the sandbox removed and its removal confirmed; and dead container
 * instances removed with their log files.
 *
 * @module
 */
import { removeLogFiles } from "../node/log_rotation.ts";
import type { DeletePod, RemoveContainers } from "./actions.ts";
import {
  checkedPodLogDir,
  checkedPodStateDir,
  quoteRuntimeValue,
  removeBelow,
  resolveBelow,
} from "../node/paths.ts";
import type { Pod } from "../manifest/pod.ts";
import type { HandlerSpec } from "../manifest/types.ts";
import type { ProbeTarget } from "../probe/probes.ts";
import { releaseVolumes } from "../node/volume_release.ts";
import {
  callOptions,
  event,
  type ExecutorOptions,
  idempotent,
  podSpecFile,
  runHook,
  stillThere,
} from "./executor_options.ts";

export async function removeContainers(a: RemoveContainers, o: ExecutorOptions): Promise<void> {
  const opts = callOptions(o);
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

export async function deletePod(a: DeletePod, o: ExecutorOptions): Promise<void> {
  const opts = callOptions(o);
  // The pod's identity comes from the runtime: no host path is built from it unless the
  // observer found it fit (its labels included). One that cannot name paths gets the runtime's
  // side of the removal only, by id; asked to remove its directories, the removal fails
  // before it starts.
  const id = { namespace: a.namespace, name: a.name, uid: a.uid };
  const dirs = a.removeState || a.hostPaths
    ? { state: checkedPodStateDir(o.root, id), log: checkedPodLogDir(o.podLogRoot, id) }
    : undefined;
  const hooks = await preStopHooks(a, dirs?.state, o);
  const now = o.now ?? Date.now;
  const t0 = now();
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
      const left = Math.max(2, a.gracePeriodSeconds - Math.floor((now() - t0) / 1000));
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
        const opts = callOptions(o);
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
