/**
 * The file each pod belongs to, when it differs from its sandbox's annotation: a pod whose file
 * was renamed (same content, so the same sandbox) belongs to the new file. The runtime's
 * annotations cannot change, so the file is recorded in `<podDir>/source`.
 *
 * @module
 */
import { podStateDir } from "../node/paths.ts";
import type { DesiredState } from "./desired.ts";
import type { ObservedState } from "./observe.ts";

/** The recorded sources of the pods, read once per pod and written when they change. */
export class RecordedSources {
  readonly #root: string;
  /** Per pod UID, its recorded source ("" when none). */
  readonly #sources = new Map<string, string>();

  /** `root` is the agent's state root, where the pods' directories are. */
  constructor(root: string) {
    this.#root = root;
  }

  /**
   * Sets each observed pod's `source` to its recorded one, and records the desired pod's file
   * for each pod whose file was renamed. Forgets the pods no longer observed.
   */
  async apply(desired: DesiredState, observed: ObservedState): Promise<void> {
    const uids = new Set<string>();
    for (const list of observed.pods.values()) {
      for (const o of list) {
        if (o.unsafeIdentity !== undefined) continue; // no host path from its UID
        const uid = o.sandbox.metadata.uid;
        uids.add(uid);
        let recorded = this.#sources.get(uid);
        if (recorded === undefined) {
          recorded = await Deno.readTextFile(`${podStateDir(this.#root, uid)}/source`)
            .catch(() => "");
          this.#sources.set(uid, recorded);
        }
        if (recorded) o.source = recorded;
        const d = desired.pods.get(o.key);
        if (d && d.uid === uid && d.source !== o.source) {
          try {
            await Deno.writeTextFile(`${podStateDir(this.#root, uid)}/source`, d.source);
            this.#sources.set(uid, d.source);
            o.source = d.source;
          } catch {
            // The pod directory is not there (yet): the sandbox annotation still tells.
          }
        }
      }
    }
    for (const uid of [...this.#sources.keys()]) if (!uids.has(uid)) this.#sources.delete(uid);
  }
}
