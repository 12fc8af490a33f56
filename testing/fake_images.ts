/**
 * The fake runtime's images: the ones present, as containerd's image store holds them (by id,
 * each under its normalised names: its tags, and once pulled its repo digests), and the ones a
 * pull can fetch, as a registry serves them (each tag's image id and manifest digest).
 *
 * @module
 */
import type { Image } from "../lib/runtime/cri.ts";
import { CriError } from "../lib/runtime/errors.ts";

/** Normalises an image name as containerd does: `busybox` → `docker.io/library/busybox:latest`. */
export function normalizeImage(name: string): string {
  let ref = name;
  const slash = ref.indexOf("/");
  const first = slash < 0 ? "" : ref.slice(0, slash);
  if (
    slash < 0 ||
    !(first.includes(".") || first.includes(":") || first === "localhost")
  ) {
    ref = `docker.io/${slash < 0 ? `library/${ref}` : ref}`;
  }
  const lastSegment = ref.slice(ref.lastIndexOf("/") + 1);
  if (!lastSegment.includes(":") && !ref.includes("@")) ref += ":latest";
  return ref;
}

/** The repository of a normalised name: `host/app:1` → `host/app`, `host/app@sha256:…` → `host/app`. */
function repositoryOf(ref: string): string {
  const at = ref.indexOf("@");
  if (at >= 0) return ref.slice(0, at);
  const colon = ref.lastIndexOf(":");
  return colon > ref.lastIndexOf("/") ? ref.slice(0, colon) : ref;
}

/** What the registry serves under one tag: the image's id and its manifest's digest. */
interface Served {
  id: string;
  digest: string;
}

/** The images present and the images pullable. */
export class FakeImages {
  /** The present images by id. */
  readonly #byId = new Map<string, Image>();
  /** Each normalised name of a present image (a tag or a repo digest) → that image's id. */
  readonly #names = new Map<string, string>();
  /** What the registry serves, by normalised tag. */
  readonly #registry = new Map<string, Served>();
  readonly #newId: () => string;

  /** `newId` gives each added image a fresh number for its id. */
  constructor(newId: () => string) {
    this.#newId = newId;
  }

  /**
   * Makes `image` present, as if pulled or imported (with no repo digest); `user` is the
   * image's configured user. A name that named another image is taken from it; an image left
   * with no name is gone, as containerd's CRI forgets it.
   */
  add(image: string, user = "", id = this.#fresh("e")): void {
    const ref = normalizeImage(image);
    if (this.#names.get(ref) === id) return;
    this.#unname(ref);
    this.#names.set(ref, id);
    const existing = this.#byId.get(id);
    if (existing) {
      existing.repoTags.push(ref);
      return;
    }
    const numeric = /^\d+$/.test(user);
    this.#byId.set(id, {
      id,
      repoTags: [ref],
      repoDigests: [],
      size: 1024,
      uid: numeric ? { value: Number(user) } : null,
      username: numeric ? "" : user,
    });
  }

  /** Makes `image` pullable: the registry serves the present image of that name, or a new one. */
  addToRegistry(image: string): void {
    const ref = normalizeImage(image);
    this.#registry.set(ref, {
      id: this.#names.get(ref) ?? this.#fresh("e"),
      digest: this.#fresh("d"),
    });
  }

  /**
   * Pushes a new image under `image`'s tag: the registry serves a new id (and manifest digest)
   * for it from now on. What is present does not change until the next pull. Returns the new id.
   */
  push(image: string): string {
    const id = this.#fresh("e");
    this.#registry.set(normalizeImage(image), { id, digest: this.#fresh("d") });
    return id;
  }

  /**
   * A new digest shaped as containerd's (`sha256:` and 64 hex digits), differing in its first
   * 12; image ids end in `e`s, manifest digests in `d`s.
   */
  #fresh(fill: "d" | "e"): string {
    const n = Number(/\d+$/.exec(this.#newId())?.[0] ?? 0);
    return `sha256:${n.toString(16).padStart(12, "0")}${fill.repeat(52)}`;
  }

  /** Takes the name `ref` from the image it names; forgets that image when it has no name left. */
  #unname(ref: string): void {
    const id = this.#names.get(ref);
    if (id === undefined) return;
    this.#names.delete(ref);
    const image = this.#byId.get(id);
    if (!image) return;
    image.repoTags = image.repoTags.filter((t) => t !== ref);
    image.repoDigests = image.repoDigests.filter((d) => d !== ref);
    if (image.repoTags.length === 0 && image.repoDigests.length === 0) this.#byId.delete(id);
  }

  /** The present image a container config names: by tag, by repo digest or by id. */
  find(nameOrId: string): Image | undefined {
    return this.#byId.get(this.#names.get(normalizeImage(nameOrId)) ?? nameOrId);
  }

  /** A copy of the present image of this name or id, or null (as `ImageStatus` answers). */
  status(nameOrId: string): Image | null {
    const found = this.find(nameOrId);
    return found ? structuredClone(found) : null;
  }

  /**
   * What `ContainerStatus` reports as the image ref of a container made from the image `id`:
   * containerd 1.6 gives the image's first repo digest (`host/app@sha256:…`) while it has one,
   * else its id. (`ListContainers` gives the id.)
   */
  statusImageRef(id: string): string {
    return this.#byId.get(id)?.repoDigests[0] ?? id;
  }

  /**
   * Pulls `name`: a tag the registry serves is resolved again, and when it moved, the new
   * image takes the name (containers made from the old one keep its id; the old image stays
   * under its repo digest). The pulled image gets its repo digest. Without a registry entry, a
   * present image is its own answer. Returns the image's id.
   */
  pull(name: string): string {
    const ref = normalizeImage(name);
    const served = this.#registry.get(ref);
    if (served === undefined) {
      const present = this.#names.get(ref);
      if (present !== undefined) return present;
      throw new CriError(
        "Other",
        "PullImage",
        `PullImage: failed to pull and unpack image "${ref}": failed to resolve reference "${ref}": not found`,
      );
    }
    if (this.#names.get(ref) !== served.id) {
      const before = this.find(ref);
      this.add(ref, before?.uid ? String(before.uid.value) : before?.username ?? "", served.id);
    }
    const digestRef = `${repositoryOf(ref)}@${served.digest}`;
    const image = this.#byId.get(served.id);
    if (image && !image.repoDigests.includes(digestRef)) {
      image.repoDigests.push(digestRef);
      this.#names.set(digestRef, served.id);
    }
    return served.id;
  }

  /** Copies of the present images, or of the one named `name`. */
  list(name?: string): Image[] {
    const images = name ? [this.find(name)] : [...this.#byId.values()];
    return images.filter((i) => i !== undefined).map((i) => structuredClone(i));
  }
}
