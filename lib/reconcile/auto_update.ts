/**
 * Auto-update decisions: which images of which pods to check against their registry, and,
 * once each tag is resolved to an image id, which pods run an image their tag no longer names.
 * Pure: the resolution (a `PullImage` of each tag through the runtime) comes in as a map.
 *
 * Only pods annotated `tinylet.dev/auto-update: registry` are looked at. Of those, a container
 * counts when its newest instance runs in the pod's current sandbox and its image is named by
 * tag (an image pinned by digest never moves; `imagePullPolicy: Never` is never pulled). A pod
 * that does not restart its containers (`restartPolicy` Never or OnFailure) and has a regular
 * container that has finished is left alone: replacing it would run that container again.
 *
 * @module
 */
import type { DesiredContainer, DesiredPod } from "../translate/desired_pod.ts";
import type { ObservedPod, ObservedState } from "./observe.ts";
import type { DesiredState } from "./desired.ts";
import { KEYS } from "../runtime/labels.ts";
import type { Container } from "../runtime/cri.ts";
import { AUTO_UPDATE_KEY } from "../manifest/opt_in.ts";

/** What became of one container of an annotated pod. */
export type ContainerOutcome =
  /** Its tag now names another image: the pod is replaced. */
  | "update"
  /** Its tag still names the image it runs. */
  | "current"
  /** Its image is pinned by digest. */
  | "pinned"
  /** Its `imagePullPolicy` is Never. */
  | "never"
  /** It does not run now (not started yet, exited, or the pod has no running sandbox). */
  | "not running"
  /** Its pod has a regular container that finished and will not restart. */
  | "finished"
  /** The registry could not be asked (the detail says why). */
  | "failed"
  /** It was rolled back from the image its tag still names: it runs its last good one. */
  | "rolled back"
  /** It was rolled back, and its tag names another image now: the pod tries it. */
  | "retry";

/** One container of an annotated pod, as an auto-update check saw it. */
export interface ContainerVerdict {
  /** `namespace/name`. */
  key: string;
  /** The container's name. */
  container: string;
  /** The image as the manifest names it. */
  image: string;
  outcome: ContainerOutcome;
  /** The image id the container runs, when it runs. */
  running?: string;
  /** The image id its tag names now, when resolved. */
  latest?: string;
  /** Why the check failed, for "failed". */
  detail?: string;
  /** The sandbox the container runs in, when it runs. */
  sandboxId?: string;
}

/** A pod to replace because a tag of one of its running containers moved. */
export interface PodUpdate {
  key: string;
  /** The sandbox that runs the old images: the replacement is of this sandbox only. */
  sandboxId: string;
  /** The containers whose tag moved. */
  containers: ContainerVerdict[];
}

/** Whether `pod` is annotated for auto-update from its registry. */
export function autoUpdates(pod: DesiredPod): boolean {
  return pod.pod.metadata.annotations?.[AUTO_UPDATE_KEY] === "registry";
}

/**
 * Whether a check looks at `pod`: it is annotated, or it was rolled back from new images
 * (whose tags are checked to know when to try them again, annotated or not).
 */
export function checked(pod: DesiredPod): boolean {
  return autoUpdates(pod) || pod.rolledBack?.images !== undefined;
}

/** Whether `image` names an image by digest (`name@sha256:...`), which never moves. */
export function pinnedByDigest(image: string): boolean {
  return image.includes("@");
}

/** The sandbox of the pod's current spec that runs, if any. */
function runningSandbox(d: DesiredPod, observed: ObservedState): ObservedPod | undefined {
  return (observed.pods.get(d.key) ?? []).filter((o) =>
    o.unsafeIdentity === undefined && o.sandbox.state === "SANDBOX_READY" &&
    o.sandbox.annotations[KEYS.specHash] === d.hash
  ).at(-1);
}

/** The newest instance of container `name` in `o`, when it runs. */
function runningInstance(o: ObservedPod | undefined, name: string): Container | undefined {
  let latest: Container | undefined;
  for (const c of o?.containers ?? []) {
    if (c.metadata.name !== name) continue;
    if (!latest || c.metadata.attempt >= latest.metadata.attempt) latest = c;
  }
  return latest?.state === "CONTAINER_RUNNING" ? latest : undefined;
}

/**
 * Whether the pod's current sandbox has a regular container that finished for good: a pod
 * whose restart policy is not Always, and whose container's newest instance exited.
 */
function finished(d: DesiredPod, sandbox: ObservedPod | undefined): boolean {
  if (d.restartPolicy === "Always" || !sandbox) return false;
  return d.containers.some((c) => {
    if (c.type !== "regular") return false;
    const mine = sandbox.containers.filter((x) => x.metadata.name === c.name);
    const latest = mine.reduce<Container | undefined>(
      (a, x) => (!a || x.metadata.attempt >= a.metadata.attempt ? x : a),
      undefined,
    );
    return latest?.state === "CONTAINER_EXITED";
  });
}

/** Whether the check looks at `c` at all (by its spec, whatever runs). */
function checkable(c: DesiredContainer): ContainerOutcome | undefined {
  if (pinnedByDigest(c.image)) return "pinned";
  if (c.pullPolicy === "Never") return "never";
  return undefined;
}

/**
 * The images to resolve: those of the running containers of annotated pods, named by tag,
 * each once, in pod order.
 */
export function imagesToCheck(desired: DesiredState, observed: ObservedState): string[] {
  const images = new Set<string>();
  for (const d of desired.pods.values()) {
    for (const c of d.containers) {
      const held = d.rolledBack?.images?.[c.name];
      if (held && c.pullPolicy !== "Never") images.add(held.image);
    }
    if (!autoUpdates(d)) continue;
    const sandbox = runningSandbox(d, observed);
    if (finished(d, sandbox)) continue;
    for (const c of d.containers) {
      if (checkable(c) === undefined && runningInstance(sandbox, c.name)) images.add(c.image);
    }
  }
  return [...images];
}

/**
 * For each container of each annotated pod, what the check makes of it, given each image
 * resolved (`resolved`: image → its image id now, or the error of asking). Pods without the
 * annotation are never listed.
 */
export function containerVerdicts(
  desired: DesiredState,
  observed: ObservedState,
  resolved: ReadonlyMap<string, string | Error>,
): ContainerVerdict[] {
  const verdicts: ContainerVerdict[] = [];
  for (const d of desired.pods.values()) {
    if (!checked(d)) continue;
    const sandbox = runningSandbox(d, observed);
    const done = finished(d, sandbox);
    for (const c of d.containers) {
      const held = d.rolledBack?.images?.[c.name];
      if (held) {
        verdicts.push(
          c.pullPolicy === "Never"
            ? { key: d.key, container: c.name, image: held.image, outcome: "never" }
            : heldVerdict(d.key, c.name, held, runningInstance(sandbox, c.name), resolved),
        );
        continue;
      }
      if (!autoUpdates(d)) continue;
      const base = { key: d.key, container: c.name, image: c.image };
      if (done) {
        verdicts.push({ ...base, outcome: "finished" });
        continue;
      }
      const instance = runningInstance(sandbox, c.name);
      const running = instance && sandbox
        ? { running: instance.imageRef, sandboxId: sandbox.sandbox.id }
        : {};
      const skipped = checkable(c);
      if (skipped) {
        verdicts.push({ ...base, ...running, outcome: skipped });
        continue;
      }
      const latest = resolved.get(c.image);
      if (!instance || latest === undefined) {
        verdicts.push({ ...base, outcome: "not running" });
      } else if (latest instanceof Error) {
        verdicts.push({ ...base, ...running, outcome: "failed", detail: latest.message });
      } else {
        verdicts.push({
          ...base,
          ...running,
          latest,
          outcome: latest === instance.imageRef ? "current" : "update",
        });
      }
    }
  }
  return verdicts;
}

/** What the check makes of a container rolled back from image `held.id` of tag `held.image`. */
function heldVerdict(
  key: string,
  container: string,
  held: { image: string; id: string },
  instance: Container | undefined,
  resolved: ReadonlyMap<string, string | Error>,
): ContainerVerdict {
  const latest = resolved.get(held.image);
  const base = {
    key,
    container,
    image: held.image,
    ...(instance ? { running: instance.imageRef, sandboxId: instance.podSandboxId } : {}),
  };
  if (latest === undefined) return { ...base, outcome: "not running" };
  if (latest instanceof Error) return { ...base, outcome: "failed", detail: latest.message };
  return { ...base, latest, outcome: latest === held.id ? "rolled back" : "retry" };
}

/** The pods to replace: those with a container whose tag moved, each with its sandbox. */
export function podUpdates(verdicts: readonly ContainerVerdict[]): PodUpdate[] {
  const updates = new Map<string, PodUpdate>();
  for (const v of verdicts) {
    if (v.outcome !== "update" || v.sandboxId === undefined) continue;
    const u = updates.get(v.key) ?? { key: v.key, sandboxId: v.sandboxId, containers: [] };
    u.containers.push(v);
    updates.set(v.key, u);
  }
  return [...updates.values()];
}

/** An image id shortened for messages: `sha256:0123456789ab`. */
export function shortId(id: string | undefined): string {
  if (!id) return "none";
  const m = /^(sha256:)?([0-9a-f]{12})[0-9a-f]*$/.exec(id);
  return m ? `${m[1] ?? ""}${m[2]}` : id;
}

/** The reason of a replacement, for the plan, the log and the events. */
export function updateReason(u: PodUpdate): string {
  return `image ${
    u.containers.map((c) =>
      `"${c.image}" of container ${c.container} moved: ${shortId(c.running)} → ${shortId(c.latest)}`
    ).join("; ")
  }`;
}
