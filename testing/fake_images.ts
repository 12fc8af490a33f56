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
  readonly #registry = new Set<string>();
  readonly #newId: () => string;

  /** `newId` gives each added image a fresh number for its id. */
  constructor(newId: () => string) {
    this.#newId = newId;
  }

  /** Makes `image` present, as if pulled; `user` is the image's configured user. */
  add(image: string, user = ""): void {
    const ref = normalizeImage(image);
    const id = `sha256:${this.#newId().padStart(64, "0")}`;
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

  /** Makes `image` pullable. */
  addToRegistry(image: string): void {
    this.#registry.add(normalizeImage(image));
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
    if (!this.#registry.has(ref) && !this.#present.has(ref)) {
      throw new CriError(
        "Other",
        "PullImage",
        `PullImage: failed to pull and unpack image "${ref}": failed to resolve reference "${ref}": not found`,
      );
    }
    if (!this.#present.has(ref)) this.add(ref);
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
