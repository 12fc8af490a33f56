/**
 * The registries the CRI contract's tag cases pull from, behind one face
 * ({@linkcode ContractRegistry}): the fake runtime's registry (`FakeCri.addToRegistry` and
 * `pushToRegistry`; it checks no credentials, and its recorded `PullImage` calls show the ones
 * a pull carried), and a real private registry (`registry_harness.ts`: busybox variants pushed
 * with skopeo; its log shows the pulls it authorised).
 *
 * @module
 */
import type { AuthConfig } from "../lib/runtime/cri.ts";
import { variantArchive } from "./busybox_images.ts";
import type { FakeCri } from "./fake_cri.ts";
import type { Registry } from "./registry_harness.ts";

/** A registry whose tags the contract moves, and what it saw of the pulls. */
export interface ContractRegistry {
  /** The credentials a pull gives: a user name and a password, no server address. */
  readonly auth: AuthConfig;
  /** The full name of image `repo:tag` in this registry (its host differs per run). */
  name(repo: string, tag: string): string;
  /** Makes `image` (a name from {@linkcode name}) pullable: pushes a first image under its tag. */
  publish(image: string): Promise<void>;
  /** Pushes a new image, unlike any pushed before, under `image`'s tag. */
  pushNew(image: string): Promise<void>;
  /**
   * How many times the registry resolved `image`'s tag for a client that gave
   * {@linkcode auth}: one per `PullImage` of that name carrying the credentials.
   */
  authorisedPulls(image: string): Promise<number>;
}

/** The host part of the names in the fake's registry. */
export const FAKE_REGISTRY_HOST = "registry.invalid:5000";

/**
 * The fake runtime's registry. It takes any credentials; a pull counts as authorised when
 * the fake recorded a `PullImage` of that name carrying exactly this user name and password.
 */
export function fakeContractRegistry(fake: FakeCri): ContractRegistry {
  const auth = { username: "contract", password: `secret-${crypto.randomUUID()}` };
  return {
    auth,
    name: (repo, tag) => `${FAKE_REGISTRY_HOST}/${repo}:${tag}`,
    publish: (image) => Promise.resolve(fake.addToRegistry(image)),
    pushNew: (image) => Promise.resolve(void fake.pushToRegistry(image)),
    authorisedPulls: (image) =>
      Promise.resolve(
        fake.calls.filter((c) => c.method === "PullImage" && pullWith(c.arg, image, auth)).length,
      ),
  };
}

/** Whether a recorded `PullImage` argument (`{ image, auth }`) pulled `image` with `auth`. */
function pullWith(arg: unknown, image: string, auth: AuthConfig): boolean {
  if (typeof arg !== "object" || arg === null) return false;
  const pulled = arg as { image?: unknown; auth?: AuthConfig | null };
  return pulled.image === image && pulled.auth?.username === auth.username &&
    pulled.auth?.password === auth.password && !pulled.auth?.serverAddress;
}

/**
 * A real private registry: `publish` and `pushNew` push a new busybox variant (built in a
 * directory inside the registry's temp dir) under the image's `repo:tag`. The registry has
 * one user, so a request it logs as `authorized request` carried that user's credentials.
 */
export async function realContractRegistry(registry: Registry): Promise<ContractRegistry> {
  const work = await Deno.makeTempDir({ dir: registry.dir, prefix: "contract-archives-" });
  const prefix = `${registry.host}/`;
  const refOf = (image: string) => {
    if (!image.startsWith(prefix)) {
      throw new Error(
        `Push "${image}" to the private registry: its name must start with "${prefix}"`,
      );
    }
    return image.slice(prefix.length);
  };
  let pushes = 0;
  const pushVariant = async (image: string) => {
    const ref = refOf(image);
    await registry.push(await variantArchive(work, `${image} #${++pushes}`), ref);
  };
  return {
    auth: { username: registry.username, password: registry.password },
    name: (repo, tag) => `${prefix}${repo}:${tag}`,
    publish: pushVariant,
    pushNew: pushVariant,
    async authorisedPulls(image) {
      const ref = refOf(image);
      const colon = ref.lastIndexOf(":");
      const uri = `/v2/${ref.slice(0, colon)}/manifests/${ref.slice(colon + 1)}`;
      const log = await Deno.readTextFile(registry.log);
      return log.split("\n").filter((line) =>
        line.includes('msg="authorized request"') &&
        line.includes("http.request.method=HEAD") &&
        (line.includes(`http.request.uri=${uri} `) ||
          line.includes(`http.request.uri="${uri}"`)) &&
        line.includes('http.request.useragent="containerd/')
      ).length;
    },
  };
}
