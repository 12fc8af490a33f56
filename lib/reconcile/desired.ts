/**
 * From a directory scan to the pods that should run: translation, the
 * last-known-good rule, and conflicts between files.
 *
 * @module
 */
import type { Problem } from "../manifest/parse.ts";
import { DEFAULT_NAMESPACE, type Pod, podKey } from "../manifest/pod.ts";
import type { Scan } from "../manifest/source.ts";
import { type DesiredPod, type TranslateOptions, translatePod } from "../translate/desired_pod.ts";

/** What the agent wants, as the planner takes it. */
export interface DesiredState {
  pods: Map<string, DesiredPod>;
  /**
   * Files present but invalid: pods recorded as coming from them keep
   * running as they are (the last known good), and are never torn down.
   */
  keepSources: Set<string>;
  /** Every manifest file present, valid or not. */
  files: Set<string>;
  /**
   * False when the directory itself is missing: then nothing is torn down,
   * the agent waits for the directory to come back.
   */
  complete: boolean;
  /** Problems across files, such as one pod declared in two files. */
  problems: Problem[];
}

/**
 * Translations of pods already seen, so an unchanged file costs no translation and no
 * hashing. The source reuses the parsed object of a file whose bytes did not change, so a
 * pod object seen before, from the same file, under the same options, translates to the
 * same result. Cached results are frozen: nothing downstream may change them.
 */
export class TranslationCache {
  #byPod = new WeakMap<Pod, { source: string; options: string; desired: DesiredPod }>();

  /** The options' identity for {@linkcode translate}; compute it once per pass. */
  static key(options: TranslateOptions): string {
    return JSON.stringify([
      options.instance,
      options.podLogRoot,
      options.root,
      options.nodeName,
      options.hostDns,
      options.cgroupV2 ?? false,
    ]);
  }

  /** The translation of `pod` from `source` under options of identity `key`, if cached. */
  get(pod: Pod, source: string, key: string): DesiredPod | undefined {
    const hit = this.#byPod.get(pod);
    return hit && hit.source === source && hit.options === key ? hit.desired : undefined;
  }

  /** Translates `pod` and caches the (frozen) result under the options' `key`. */
  async translate(
    pod: Pod,
    source: string,
    options: TranslateOptions,
    key: string,
  ): Promise<DesiredPod> {
    const desired = deepFreeze(await translatePod(pod, source, options));
    this.#byPod.set(pod, { source, options: key, desired });
    return desired;
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * Builds the desired state from a scan. Files are taken in path order, so the lexically first
 * file wins a conflict. With the cache of earlier calls, pods of unchanged files are not
 * translated again.
 */
export async function desiredState(
  scan: Scan,
  options: TranslateOptions,
  cache = new TranslationCache(),
): Promise<DesiredState> {
  const pods = new Map<string, DesiredPod>();
  const optionsKey = TranslationCache.key(options);
  const keepSources = new Set<string>();
  const problems: Problem[] = [];
  const declaredAt = new Map<
    string,
    { file: string; line: number; column: number }
  >();
  for (const file of scan.manifests) {
    // An invalid file stands for its last valid content when this agent saw one; otherwise
    // (it was already invalid when the agent started) whatever runs from it is kept.
    const m = file.valid ? file : scan.lastValid.get(file.file);
    if (!m) {
      keepSources.add(file.file);
      continue;
    }
    for (const mp of m.pods) {
      const meta = mp.pod.metadata;
      const key = podKey(meta.namespace ?? DEFAULT_NAMESPACE, meta.name);
      const first = declaredAt.get(key);
      if (first) {
        problems.push({
          file: m.file,
          line: mp.line,
          column: mp.column,
          severity: "error",
          field: "",
          message:
            `Rename or remove this pod: "${key}" is also declared in ${first.file}:${first.line}, which wins (the lexically first file)`,
        });
        problems.push({
          file: first.file,
          line: first.line,
          column: first.column,
          severity: "warning",
          field: "",
          message:
            `Pod "${key}" is also declared in ${m.file}:${mp.line}; this file wins (the lexically first file)`,
        });
        continue;
      }
      declaredAt.set(key, { file: m.file, line: mp.line, column: mp.column });
      // Awaited only on a miss: a pass over unchanged files stays synchronous.
      pods.set(
        key,
        cache.get(mp.pod, m.file, optionsKey) ??
          await cache.translate(mp.pod, m.file, options, optionsKey),
      );
    }
  }
  const files = new Set(scan.manifests.map((m) => m.file));
  return { pods, keepSources, files, complete: scan.present && !scan.refused, problems };
}
