/**
 * Rollback of images, pure: the last good spec run again with other images (an auto-update, or
 * a pull of a moved tag) is watched like a new spec, and when it fails the pod runs the images
 * its last good run had, pinned by their repo digests.
 *
 * The images are compared by the id `ListContainers` gives (the runtime's own name of what
 * runs); they are pinned by the repo digest `ContainerStatus` gives (`host/app@sha256:…`), which
 * the runtime still holds after the tag moved, and a registry serves again. A container whose
 * image has no repo digest (imported, never pulled) cannot be pinned and is not compared.
 *
 * @module
 */
import type { Pod } from "../manifest/pod.ts";
import type { Container, ContainerStatus } from "../runtime/cri.ts";
import type {
  FailedImage,
  LastGood,
  RanImage,
  RollbackState,
  RolledBack,
} from "../node/rollback_state.ts";
import type { DesiredPod } from "../translate/desired_pod.ts";
import type { ObservedPod } from "./observe.ts";
import { shortId } from "./auto_update.ts";
import { latestInstances } from "./plan.ts";
import { isCreateError } from "./rollback_watch.ts";

const REPO_DIGEST = /^[^@\s]+@sha256:[0-9a-f]{64}$/;

/**
 * The images the containers of sandbox `o` run (the newest instance of each), by container
 * name: each with its id and the repo digest its status gives. A container whose status is not
 * known, or names no repo digest, is left out.
 */
export function ranImages(
  o: ObservedPod,
  statuses: ReadonlyMap<string, ContainerStatus>,
): Record<string, RanImage> {
  const images: Record<string, RanImage> = {};
  for (const [name, c] of latestInstances(o)) {
    const ref = statuses.get(c.id)?.imageRef ?? "";
    if (c.imageRef !== "" && REPO_DIGEST.test(ref)) images[name] = { id: c.imageRef, ref };
  }
  return images;
}

/** New images in a sandbox of the last good spec: their ids, and since when they run. */
export interface ChangedImages {
  /** The id each changed container's newest instance runs, by container name. */
  images: Record<string, string>;
  /** When the first instance running one of them was created, in epoch milliseconds. */
  since: number;
}

/**
 * The containers of sandbox `o` whose newest instance runs another image than `good` names for
 * it; undefined when none does (a container `good` does not name is not compared).
 */
export function changedImages(
  good: Readonly<Record<string, RanImage>>,
  o: ObservedPod,
): ChangedImages | undefined {
  const images: Record<string, string> = {};
  let since: number | undefined;
  for (const [name, c] of latestInstances(o)) {
    const was = good[name];
    if (!was || c.imageRef === "" || c.imageRef === was.id) continue;
    images[name] = c.imageRef;
    // The first instance of this name on the new image: a restart on it is the new image's.
    for (const x of o.containers) {
      if (x.metadata.name !== name || x.imageRef !== c.imageRef) continue;
      const at = Math.floor(x.createdAt / 1e6);
      since = since === undefined ? at : Math.min(since, at);
    }
  }
  return since === undefined ? undefined : { images, since };
}

/** Whether two maps of container names to image ids name the same images. */
export function sameImages(
  a: Readonly<Record<string, string>> | undefined,
  b: Readonly<Record<string, string>> | undefined,
): boolean {
  const key = (m: Readonly<Record<string, string>> | undefined) =>
    JSON.stringify(Object.entries(m ?? {}).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
  return key(a) === key(b);
}

/**
 * A copy of `pod` whose containers named in `images` (init containers included) run the image
 * pinned there: what a rolled-back pod runs instead of its tags.
 */
export function pinImages(pod: Pod, images: Readonly<Record<string, RanImage>>): Pod {
  // A digest never moves: what the runtime holds is used, even where the spec says Always.
  const pin = <C extends { name: string; image?: string; imagePullPolicy?: string }>(c: C): C => {
    const ran = images[c.name];
    if (!ran) return c;
    return {
      ...c,
      image: ran.ref,
      ...(c.imagePullPolicy === "Always" ? { imagePullPolicy: "IfNotPresent" } : {}),
    };
  };
  return {
    ...pod,
    spec: {
      ...pod.spec,
      containers: pod.spec.containers.map(pin),
      ...(pod.spec.initContainers ? { initContainers: pod.spec.initContainers.map(pin) } : {}),
    },
  };
}

/**
 * What a rolled-back pod runs: its last good spec `good` (the Pod of `lastGood`), with the
 * images its containers ran then pinned by digest, since a tag may name another image now (the
 * one that failed among them). Undefined when new images failed and those that ran before are
 * not known.
 */
export function lastGoodRun(
  good: Pod,
  lastGood: LastGood,
  rolledBack: RolledBack,
): Pod | undefined {
  const images = lastGood.images ?? {};
  if (Object.keys(images).length === 0) return rolledBack.images ? undefined : good;
  return pinImages(good, images);
}

/**
 * The failed images of pod `d`, each as its spec names it with the id it ran: of the changed
 * containers (`images`), those the failure is about (`blamed`), or all of them when it names
 * none of them (a container kept on its image may fail because of a changed one).
 */
export function failedImages(
  d: DesiredPod,
  images: Readonly<Record<string, string>>,
  blamed: readonly string[] = [],
): Record<string, FailedImage> {
  const named = blamed.filter((n) => images[n] !== undefined);
  const failed: Record<string, FailedImage> = {};
  for (const c of d.containers) {
    const id = images[c.name];
    if (id !== undefined && (named.length === 0 || named.includes(c.name))) {
      failed[c.name] = { image: c.image, id };
    }
  }
  return failed;
}

/**
 * The last good images after new ones ran their window: `ran` (those with a repo digest) over
 * `good`; a changed container whose new image has none is no longer compared.
 */
export function keptImages(
  good: Readonly<Record<string, RanImage>> | undefined,
  ran: Readonly<Record<string, RanImage>>,
  changed: Readonly<Record<string, string>>,
): Record<string, RanImage> {
  const kept = { ...good, ...ran };
  for (const name of Object.keys(changed)) if (!ran[name]) delete kept[name];
  return kept;
}

/**
 * The instances a watch of new images (from `since`, epoch ms) judges. Of a container on a new
 * image (named in `changed`): those created since, the first of them its start. Of a container
 * kept on its image: its newest instance created before, as the start its later restarts count
 * from, and those created since.
 */
export function instancesSince(
  containers: readonly Container[],
  since: number,
  changed: Readonly<Record<string, string>>,
): Container[] {
  const byName = new Map<string, Container[]>();
  for (const c of containers) {
    byName.set(c.metadata.name, [...(byName.get(c.metadata.name) ?? []), c]);
  }
  return [...byName].flatMap(([name, list]) => {
    const isAfter = (c: Container) => Math.floor(c.createdAt / 1e6) >= since;
    const after = list.filter(isAfter);
    if (name in changed) return after;
    const before = list.filter((c) => !isAfter(c));
    const base = before.reduce<Container | undefined>(
      (a, c) => (a === undefined || c.metadata.attempt > a.metadata.attempt ? c : a),
      undefined,
    );
    return base ? [base, ...after] : after;
  });
}

/**
 * When a rolled-back pod goes back to its tags, for messages: `the tag "host/app:1" of container
 * "app" names another image than sha256:0123456789ab (the one that failed)`, joined by " or ".
 */
export function retryText(images: Readonly<Record<string, FailedImage>>): string {
  return Object.entries(images).map(([name, f]) =>
    `the tag "${f.image}" of container ${JSON.stringify(name)} names another image than ${
      shortId(f.id)
    } (the one that failed)`
  ).join(" or ");
}

/** The log line and event of a rollback from new images. */
export function imageRollbackMessage(
  cause: string,
  failed: Readonly<Record<string, FailedImage>>,
  source: string,
): string {
  return `Rolled back to the last good images: ${cause}; the pod goes back to its tags once ${
    retryText(failed)
  }, or when ${source} changes (tags are checked every --auto-update-interval, and at once by tinylet auto-update)`;
}

/** What a watch makes of the last good spec running: new images, or images to take. */
export interface LastGoodLook {
  /** The new images it runs (or that an update asked for and could not create). */
  changed?: ChangedImages;
  /**
   * The container a create error is about, when the error does not say: the first of the new
   * images not created (the pod's containers are created in order, and stop at the first error).
   */
  blame?: string[];
  /** Set while an update asked for has no sandbox yet: its watch waits for it. */
  pending?: boolean;
  /** The images of a last good spec kept without them (by an older agent), to take now. */
  backfill?: Record<string, RanImage>;
}

/**
 * What the watch makes of pod `d`, whose declared spec is its last good one, running in
 * `sandbox` (the newest of its spec): the images that changed since the last good run. An update
 * asked for (`state.watching.images`, from when it was asked) applies to a sandbox created since:
 * a container of it that could not be created (`error`) fails those of its images not created.
 * For a last good spec kept without its images, once every regular container runs: what runs.
 */
export function lastGoodImages(
  d: DesiredPod,
  state: RollbackState,
  sandbox: ObservedPod | undefined,
  statuses: ReadonlyMap<string, ContainerStatus>,
  error: { reason: string; at: number } | undefined,
): LastGoodLook {
  const { lastGood: good, watching: w } = state;
  if (!good) return {};
  const created = sandbox ? Math.floor(sandbox.sandbox.createdAt / 1e6) : undefined;
  const asked = w?.images && w.hash === d.hash ? w.images : undefined;
  // The update's sandbox: made since it was asked (the one it replaces is older).
  const replaced = asked && created !== undefined && created >= w!.startedAt;
  const changed = sandbox && good.images ? changedImages(good.images, sandbox) : undefined;
  if (asked && !replaced && !changed) return { pending: true };
  if (replaced && error && isCreateError(error.reason) && error.at >= created!) {
    const notCreated = d.containers.filter((c) =>
      asked[c.name] !== undefined && good.images?.[c.name] !== undefined &&
      !sandbox!.containers.some((x) => x.metadata.name === c.name && x.imageRef === asked[c.name])
    ).map((c) => c.name);
    if (notCreated.length > 0) {
      const images = { ...changed?.images };
      for (const name of notCreated) images[name] = asked[name]!;
      return {
        changed: { images, since: Math.min(changed?.since ?? created!, created!) },
        blame: notCreated.slice(0, 1),
      };
    }
  }
  if (changed) return { changed };
  if (good.images || !sandbox) return {};
  const running = new Set(
    sandbox.containers.filter((c) => c.state === "CONTAINER_RUNNING").map((c) => c.metadata.name),
  );
  const ready = sandbox.sandbox.state === "SANDBOX_READY" &&
    d.containers.every((c) => c.type !== "regular" || running.has(c.name));
  return ready ? { backfill: ranImages(sandbox, statuses) } : {};
}
