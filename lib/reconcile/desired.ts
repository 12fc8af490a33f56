/**
 * From a directory scan to the pods that should run: translation, the
 * last-known-good rule, conflicts between files, and the ConfigMaps and
 * Secrets pods read (`config_index.ts`).
 *
 * @module
 */
import type { Manifest, Problem } from "../manifest/parse.ts";
import { DEFAULT_NAMESPACE, type Pod, podKey } from "../manifest/pod.ts";
import type { Scan } from "../manifest/source.ts";
import { type DesiredPod, type TranslateOptions, translatePod } from "../translate/desired_pod.ts";
import type { ConfigLookup } from "../translate/config_lookup.ts";
import { podConfigRefs } from "../translate/pod_config.ts";
import {
  type ConfigObject,
  declaredTwice,
  held,
  indexObjects,
  lookupOf,
  referenced,
  referenceProblems,
} from "./config_index.ts";

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
   * False when the directory itself is missing, or the read is partial (`--manifest-url` has
   * given no valid document yet): then nothing is torn down, the agent waits for the
   * directory to come back or the URL to answer.
   */
  complete: boolean;
  /** Why the read is partial, if it is (see `Scan.partial`). */
  partial?: string;
  /** Why the pods of a kept source are kept, when its problems do not say (`Scan.keptBecause`). */
  keptBecause?: ReadonlyMap<string, string>;
  /**
   * Sources whose undeclared pods are removed even when `complete` is false (the document of
   * `--manifest-url`: a missing directory does not hold it back).
   */
  independent?: ReadonlySet<string>;
  /**
   * Problems across files: one pod or object declared in two files, a pod waiting for a
   * ConfigMap or Secret, a reference to an object of the wrong kind.
   */
  problems: Problem[];
}

interface Cached {
  source: string;
  options: string;
  /** The objects the pod's references found, by identity. */
  found: readonly (ConfigObject | undefined)[];
  desired: DesiredPod;
}

/**
 * Translations of pods already seen, so an unchanged file costs no translation and no
 * hashing. The source reuses the parsed object of a file whose bytes did not change, so a
 * pod object seen before, from the same file, under the same options, reading the same
 * ConfigMap and Secret objects, translates to the same result. Cached results are frozen:
 * nothing downstream may change them.
 *
 * It also keeps each pod's last translation that did not wait for an object: when a
 * ConfigMap or Secret a pod reads goes away, the pod keeps that (its last data) as long as
 * its spec stays the same, as kubelet leaves a running pod's files and env as they were.
 */
export class TranslationCache {
  #byPod = new WeakMap<Pod, Cached>();
  #refs = new WeakMap<Pod, ReturnType<typeof podConfigRefs>>();
  #lastGood = new Map<
    string,
    { desired: DesiredPod; found: readonly (ConfigObject | undefined)[] }
  >();

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

  /** The ConfigMaps and Secrets `pod` references (computed once per pod object). */
  refs(pod: Pod): ReturnType<typeof podConfigRefs> {
    let refs = this.#refs.get(pod);
    if (!refs) this.#refs.set(pod, refs = podConfigRefs(pod));
    return refs;
  }

  /**
   * The translation of `pod` from `source` under options of identity `key`, its references
   * having found `found`, if cached.
   */
  get(
    pod: Pod,
    source: string,
    key: string,
    found: readonly (ConfigObject | undefined)[] = [],
  ): DesiredPod | undefined {
    const hit = this.#byPod.get(pod);
    if (!hit || hit.source !== source || hit.options !== key) return undefined;
    if (hit.found.length !== found.length || hit.found.some((o, i) => o !== found[i])) {
      return undefined;
    }
    return hit.desired;
  }

  /** Translates `pod` and caches the (frozen) result under the options' `key`. */
  async translate(
    pod: Pod,
    source: string,
    options: TranslateOptions,
    key: string,
    objects: { lookup: ConfigLookup; found: readonly (ConfigObject | undefined)[] } | undefined =
      undefined,
  ): Promise<DesiredPod> {
    const desired = deepFreeze(await translatePod(pod, source, options, objects?.lookup));
    this.#byPod.set(pod, { source, options: key, found: objects?.found ?? [], desired });
    return desired;
  }

  /**
   * The objects of `desired`'s references (which found `found`) that it read before and that
   * are gone now, for the same spec from the same file: each of them stands for itself as it
   * was (`found`, with the old object in its place; `gone`, their names), so the pod keeps
   * their data while the others change as usual. Undefined when none is gone. An object that
   * goes away never restarts a pod, as in kubelet.
   */
  gone(
    desired: DesiredPod,
    found: readonly (ConfigObject | undefined)[],
  ): { found: (ConfigObject | undefined)[]; gone: string[] } | undefined {
    const last = this.#lastGood.get(desired.key);
    if (
      !last || last.desired.hash !== desired.hash || last.desired.source !== desired.source ||
      last.found.length !== found.length
    ) {
      return undefined;
    }
    const gone = desired.configRefs.filter((_, i) => last.found[i] !== undefined && !found[i]);
    if (gone.length === 0) return undefined;
    return {
      found: found.map((o, i) => o ?? last.found[i]),
      gone: [...new Set(gone.map((r) => `${r.kind} "${r.name}"`))],
    };
  }

  /** Remembers what `desired` found, when it does not wait: its data can be kept later. */
  remember(desired: DesiredPod, found: readonly (ConfigObject | undefined)[]): void {
    if (desired.waiting) this.#lastGood.delete(desired.key);
    else this.#lastGood.set(desired.key, { desired, found });
  }

  /** Forgets the last good translations of pods no longer desired. */
  prune(keys: ReadonlySet<string>): void {
    for (const key of this.#lastGood.keys()) if (!keys.has(key)) this.#lastGood.delete(key);
  }
}

function deepFreeze<T>(value: T): T {
  // A typed array with elements cannot be frozen; its bytes are never changed.
  if (ArrayBuffer.isView(value)) return value;
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * Asked for each pod to run: the last good spec to run instead (the pod's spec failed within
 * its rollback window), with why; undefined to run the pod as declared.
 */
export type RollbackHook = (
  pod: DesiredPod,
) => Promise<{ pod: Pod; rolledBack: NonNullable<DesiredPod["rolledBack"]> } | undefined>;

/**
 * Builds the desired state from a scan. Files are taken in path order, so the lexically first
 * file wins a conflict. With the cache of earlier calls, pods of unchanged files are not
 * translated again.
 */
export async function desiredState(
  scan: Scan,
  options: TranslateOptions,
  cache = new TranslationCache(),
  rollback?: RollbackHook,
): Promise<DesiredState> {
  const pods = new Map<string, DesiredPod>();
  const optionsKey = TranslationCache.key(options);
  const keepSources = new Set<string>();
  const problems: Problem[] = [];
  const declaredAt = new Map<
    string,
    { file: string; line: number; column: number }
  >();
  // An invalid file stands for its last valid content when this agent saw one; otherwise
  // (it was already invalid when the agent started) whatever runs from it is kept.
  const inForce: Manifest[] = [];
  for (const file of scan.manifests) {
    const m = file.valid ? file : scan.lastValid.get(file.file);
    if (m) inForce.push(m);
    else keepSources.add(file.file);
  }
  const index = indexObjects(inForce);
  // Invalid files never seen valid that may declare objects: what they declare is unknown.
  const unreadable = new Set(
    scan.manifests.filter((m) => keepSources.has(m.file) && m.objectsUnknown !== false)
      .map((m) => m.file),
  );
  problems.push(...index.problems);
  for (const m of inForce) {
    for (const mp of m.pods) {
      const meta = mp.pod.metadata;
      const key = podKey(meta.namespace ?? DEFAULT_NAMESPACE, meta.name);
      const first = declaredAt.get(key);
      if (first) {
        problems.push(
          ...declaredTwice("Pod", key, { file: m.file, line: mp.line, column: mp.column }, first),
        );
        continue;
      }
      declaredAt.set(key, { file: m.file, line: mp.line, column: mp.column });
      const found = referenced(index, meta.namespace ?? DEFAULT_NAMESPACE, cache.refs(mp.pod));
      // Awaited only on a miss: a pass over unchanged files stays synchronous.
      const translate = (seen: readonly (ConfigObject | undefined)[], lookup = index.lookup) =>
        cache.get(mp.pod, m.file, optionsKey, seen) ??
          cache.translate(mp.pod, m.file, options, optionsKey, { lookup, found: seen });
      const live = await translate(found);
      const gone = cache.gone(live, found);
      // With objects gone, their old data stands in for them; the others are read live.
      const desired = gone ? await translate(gone.found, lookupOf(index, gone.found, live)) : live;
      cache.remember(desired, gone?.found ?? found);
      problems.push(...referenceProblems(live, index, mp, gone ? gone.gone : false));
      const kept = gone
        ? `${
          live.waiting?.message ?? `${gone.gone.join(", ")} gone`
        }: the pod keeps running with the ConfigMap and Secret data it had`
        : undefined;
      const chosen = (gone ? undefined : held(desired, found, unreadable)) ??
        (kept ? { ...desired, kept } : desired);
      // A spec rolled back: its last good spec runs instead, until the file changes again.
      const back = await rollback?.(chosen);
      if (!back) {
        pods.set(key, chosen);
        continue;
      }
      const ns = back.pod.metadata.namespace ?? DEFAULT_NAMESPACE;
      const seen = referenced(index, ns, cache.refs(back.pod));
      const good = cache.get(back.pod, m.file, optionsKey, seen) ??
        await cache.translate(back.pod, m.file, options, optionsKey, {
          lookup: index.lookup,
          found: seen,
        });
      pods.set(key, { ...good, rolledBack: back.rolledBack });
    }
  }
  cache.prune(new Set(pods.keys()));
  const files = new Set(scan.manifests.map((m) => m.file));
  const complete = scan.present && !scan.refused && scan.partial === undefined;
  return {
    pods,
    keepSources,
    files,
    complete,
    problems,
    ...(scan.independent ? { independent: scan.independent } : {}),
    ...(scan.partial !== undefined ? { partial: scan.partial } : {}),
    ...(scan.keptBecause ? { keptBecause: scan.keptBecause } : {}),
  };
}

/**
 * Whether a pod from `source` that `desired` does not declare is judged (removed, unless its
 * source is kept): always when the read was complete, else only for an independent source.
 */
export function judgesSource(desired: DesiredState, source: string): boolean {
  return desired.complete || (desired.independent?.has(source) ?? false);
}
