/**
 * The fake runtime's images: the ones present, as containerd's image store holds them under
 * their normalised names, and the ones a pull can fetch, as a registry would serve them.
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

/** The images present and the images pullable, by normalised name. */
export class FakeImages {
  readonly #present = new Map<string, Image>();
  /** What the registry serves: each tag's image id. */
  readonly #registry = new Map<string, string>();
  readonly #newId: () => string;

  /** `newId` gives each added image a fresh number for its id. */
  constructor(newId: () => string) {
    this.#newId = newId;
  }

  /** Makes `image` present, as if pulled; `user` is the image's configured user. */
  add(image: string, user = "", id = this.#freshId()): void {
    const ref = normalizeImage(image);
    const numeric = /^\d+$/.test(user);
    this.#present.set(ref, {
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
    this.#registry.set(ref, this.#present.get(ref)?.id ?? this.#freshId());
  }

  /**
   * Pushes a new image under `image`'s tag: the registry serves a new id for it from now on.
   * What is present does not change until the next pull. Returns the new id.
   */
  push(image: string): string {
    const id = this.#freshId();
    this.#registry.set(normalizeImage(image), id);
    return id;
  }

  /** A new id shaped as containerd's (`sha256:` and 64 hex digits), differing in its first 12. */
  #freshId(): string {
    const n = Number(/\d+$/.exec(this.#newId())?.[0] ?? 0);
    return `sha256:${n.toString(16).padStart(12, "0")}${"e".repeat(52)}`;
  }

  /** The present image a container config names, by name or by id. */
  find(nameOrId: string): Image | undefined {
    return this.#present.get(normalizeImage(nameOrId)) ??
      [...this.#present.values()].find((i) => i.id === nameOrId);
  }

  /** A copy of the present image of this name, or null (as `ImageStatus` answers). */
  status(name: string): Image | null {
    const found = this.#present.get(normalizeImage(name));
    return found ? structuredClone(found) : null;
  }

  /** Pulls `name` from the registry unless present; returns the image's id. */
  pull(name: string): string {
    const ref = normalizeImage(name);
    const served = this.#registry.get(ref);
    if (served === undefined && !this.#present.has(ref)) {
      throw new CriError(
        "Other",
        "PullImage",
        `PullImage: failed to pull and unpack image "${ref}": failed to resolve reference "${ref}": not found`,
      );
    }
    // A tag the registry serves is resolved again: when it moved, the new image replaces the
    // present one under that name (containers made from the old one keep its id).
    if (served !== undefined && this.#present.get(ref)?.id !== served) {
      const user = this.#present.get(ref);
      this.add(ref, user?.uid ? String(user.uid.value) : user?.username ?? "", served);
    }
    return this.#present.get(ref)?.id ?? "";
  }

  /** Copies of the present images, or of the one named `name`. */
  list(name?: string): Image[] {
    const want = name ? normalizeImage(name) : undefined;
    return [...this.#present.entries()]
      .filter(([ref]) => !want || ref === want)
      .map(([, i]) => structuredClone(i));
  }
}
