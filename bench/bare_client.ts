/**
 * The bare client: the fewest CRI calls that bring a pod up (ImageStatus, RunPodSandbox,
 * CreateContainer, StartContainer) and down, on configs translated as tinylet translates them:
 * the runtime's own limit, beside which tinylet is measured.
 *
 * @module
 */
import type { ContainerConfig, PodSandboxConfig } from "../lib/runtime/cri.ts";
import { podHostsFile } from "../lib/translate/hosts.ts";
import { formatProblem, parseManifest } from "../lib/manifest/parse.ts";
import { sandboxForAttempt, translatePod } from "../lib/translate/desired_pod.ts";
import { buildContainerConfig } from "../lib/translate/container_config.ts";
import { hostsFilePath, podLogDirectory } from "../lib/node/paths.ts";
import { pool } from "../testing/pool.ts";
import type { Bench } from "./context.ts";
import type { CallCounts } from "./agent.ts";
import {
  BARE_WIDTH,
  GRACE_SECONDS,
  manifest,
  podName,
  pollDelay,
  SETTLE_MS,
  wallNow,
} from "./settings.ts";
import { range } from "./stats.ts";
import { sleep } from "./run_control.ts";

interface BarePod {
  sandbox: PodSandboxConfig;
  container: ContainerConfig;
  image: string;
  sandboxId: string;
  containerId: string;
}

/** Translates `count` pods as tinylet would and prepares their directories, off the clock. */
async function prepareBare(
  b: Bench,
  instance: string,
  prefix: string,
  count: number,
): Promise<BarePod[]> {
  const d = b.dirs(instance);
  const options = {
    instance,
    podLogRoot: d.logs,
    root: d.root,
    nodeName: Deno.hostname(),
    hostDns: await b.hostDns,
  };
  return await Promise.all(
    range(count).map(async (i) => {
      const file = `${d.manifests}/${podName(prefix, i)}.yaml`;
      const m = parseManifest(file, manifest(podName(prefix, i), b.rc.busyboxImage));
      const pod = m.pods[0]?.pod;
      if (!m.valid || !pod) {
        throw new Error(`Bench manifest invalid: ${m.problems.map(formatProblem)}`);
      }
      const desired = await translatePod(pod, file, options);
      await Deno.mkdir(desired.podDir, { recursive: true });
      await Deno.mkdir(podLogDirectory(d.logs, desired.namespace, desired.name, desired.uid), {
        recursive: true,
      });
      // tinylet writes the pod IP in; the bare client skips PodSandboxStatus, so it has none.
      await Deno.writeTextFile(
        hostsFilePath(desired.podDir),
        podHostsFile([], desired.sandbox.hostname ?? desired.name, []),
      );
      const sandbox = sandboxForAttempt(desired, 0);
      const container = buildContainerConfig(desired, "main", { podIPs: [], attempt: 0 });
      return { sandbox, container, image: container.image.image, sandboxId: "", containerId: "" };
    }),
  );
}

/**
 * ImageStatus, RunPodSandbox, CreateContainer, StartContainer per pod, `BARE_WIDTH` at once.
 * With `polled`, the bench's own poll (a filtered ListContainers, `pollDelay` apart) runs
 * meanwhile, as it does while tinylet is timed: its cost on the runtime, measured.
 */
async function bareUp(
  b: Bench,
  instance: string,
  pods: BarePod[],
  polled = false,
): Promise<{ ms: number; startedMs: number; calls: CallCounts }> {
  const calls: CallCounts = {
    passes: 0,
    byMethod: new Map(),
    stats: new Map(),
    seconds: new Map(),
  };
  const timed = async <T>(method: string, call: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await call();
    } finally {
      calls.byMethod.set(method, (calls.byMethod.get(method) ?? 0) + 1);
      calls.seconds.set(
        method,
        (calls.seconds.get(method) ?? 0) + (performance.now() - t) / 1000,
      );
    }
  };
  let done = false;
  const wall0 = wallNow();
  const t0 = performance.now();
  const poller = polled
    ? (async () => {
      while (!done) {
        await b.running(instance);
        await sleep(pollDelay(performance.now() - t0));
      }
    })()
    : Promise.resolve();
  let ms: number;
  try {
    await pool(pods, BARE_WIDTH, async (p) => {
      const image = await timed("ImageStatus", () => b.cri.imageStatus({ image: p.image }));
      if (!image) throw new Error(`Image "${p.image}" is not in the runtime`);
      p.sandboxId = await timed("RunPodSandbox", () => b.cri.runPodSandbox(p.sandbox));
      const id = await timed(
        "CreateContainer",
        () => b.cri.createContainer(p.sandboxId, p.container, p.sandbox),
      );
      p.containerId = id;
      await timed("StartContainer", () => b.cri.startContainer(id));
    });
    ms = performance.now() - t0;
  } finally {
    done = true;
    await poller;
  }
  return { ms, startedMs: await b.lastStarted(instance) - wall0, calls };
}

/**
 * Removes the pods as tinylet does, `BARE_WIDTH` at once: StopContainer with the pods'
 * grace period, StopPodSandbox, RemovePodSandbox. Returns the ms it took.
 */
async function bareDown(b: Bench, instance: string, pods: BarePod[]): Promise<number> {
  const t0 = performance.now();
  try {
    await pool(pods.filter((p) => p.sandboxId), BARE_WIDTH, async (p) => {
      if (p.containerId) await b.cri.stopContainer(p.containerId, GRACE_SECONDS);
      await b.cri.stopPodSandbox(p.sandboxId);
      await b.cri.removePodSandbox(p.sandboxId);
    });
    return performance.now() - t0;
  } finally {
    await Deno.remove(b.dirs(instance).base, { recursive: true }).catch(() => {});
  }
}

/** Brings `count` pods up with the bare client, waits a quiet second, and removes them: the times of both. */
export async function bareRun(
  b: Bench,
  instance: string,
  prefix: string,
  count: number,
  polled = false,
): Promise<{ ms: number; startedMs: number; calls: CallCounts; downMs: number }> {
  const pods = await prepareBare(b, instance, prefix, count);
  let up;
  try {
    up = await bareUp(b, instance, pods, polled);
    // As after tinylet's cold start: a quiet second, then the timed removal.
    await sleep(SETTLE_MS);
  } catch (err) {
    await bareDown(b, instance, pods).catch(() => {});
    throw err;
  }
  return { ...up, downMs: await bareDown(b, instance, pods) };
}
