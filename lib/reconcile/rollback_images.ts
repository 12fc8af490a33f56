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
import type { FailedImage, LastGood, RanImage, RolledBack } from "../node/rollback_state.ts";
import type { DesiredPod } from "../translate/desired_pod.ts";
import type { ObservedPod } from "./observe.ts";
import { shortId } from "./auto_update.ts";

const REPO_DIGEST = /^[^@\s]+@sha256:[0-9a-f]{64}$/;

/** The newest instance of each container of sandbox `o`, by name. */
function newest(o: ObservedPod): Map<string, Container> {
  const byName = new Map<string, Container>();
  for (const c of o.containers) {
    const seen = byName.get(c.metadata.name);
    if (!seen || c.metadata.attempt >= seen.metadata.attempt) byName.set(c.metadata.name, c);
  }
  return byName;
}

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
  for (const [name, c] of newest(o)) {
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
  for (const [name, c] of newest(o)) {
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
  const pin = <C extends { name: string; image?: string }>(c: C): C => {
    const ran = images[c.name];
    return ran ? { ...c, image: ran.ref } : c;
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

/** The failed images of pod `d`: each as its spec names it, with the id it ran. */
export function failedImages(
  d: DesiredPod,
  images: Readonly<Record<string, string>>,
): Record<string, FailedImage> {
  const failed: Record<string, FailedImage> = {};
  for (const c of d.containers) {
    const id = images[c.name];
    if (id !== undefined) failed[c.name] = { image: c.image, id };
  }
  return failed;
}

/**
 * The images of a rollback, for messages: `"host/app:1" (sha256:0123456789ab) of container
 * "app"`, each, joined by ", ".
 */
export function imagesText(images: Readonly<Record<string, FailedImage>>): string {
  return Object.entries(images).map(([name, f]) =>
    `"${f.image}" (${shortId(f.id)}) of container ${JSON.stringify(name)}`
  ).join(", ");
}
