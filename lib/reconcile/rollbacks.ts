/**
 * Rollback: a replacement watched for its rollback window (`--rollback-window`, or the pod's
 * `tinylet.dev/rollback-window`), its verdict (`rollback_watch.ts`) acted on, the state kept per
 * pod identity under `<--root>/rollback/` (`lib/node/rollback_state.ts`) so it survives a restart.
 *
 * - A spec that runs its whole window becomes the pod's last good spec.
 * - A spec that fails within it is rolled back: the pod runs its last good spec again (the
 *   desired state takes it in the spec's place, {@linkcode Rollbacks.substitute}), with an
 *   event, one log line and the metric, until the file's content changes.
 * - The last good spec is not watched unless it runs other images (an auto-update or a moved
 *   tag): their failure brings back its last good images, pinned; else nothing is rolled back.
 * - A pod with no last good spec (its first spec) has nothing to roll back to.
 *
 * @module
 */
import type { Logger } from "../base/log.ts";
import { isPodOfHash, type Pod } from "../manifest/pod.ts";
import { podRollbackWindow } from "../manifest/opt_in.ts";
import type { RollbackState, RollbackStore } from "../node/rollback_state.ts";
import type { ProbeStatus } from "../probe/probes.ts";
import type { DesiredPod } from "../translate/desired_pod.ts";
import type { DesiredState, RollbackHook } from "./desired.ts";
import type { PodEvent } from "./executor_options.ts";
import type { ObservedState } from "./observe.ts";
import { failedContainer, isCreateError, sandboxOf, sandboxVerdict } from "./rollback_watch.ts";
import { shortId } from "./auto_update.ts";
import {
  failedImages,
  imageRollbackMessage,
  instancesSince,
  keptImages,
  lastGoodImages,
  lastGoodRun,
  ranImages,
  sameImages,
} from "./rollback_images.ts";

/** What {@linkcode Rollbacks} needs. */
export interface RollbacksOptions {
  store: RollbackStore;
  /** `--rollback-window` in ms; 0: off unless a pod's annotation says otherwise. */
  windowMs: number;
  log: Logger;
  /** Milliseconds since the epoch. */
  now: () => number;
  onEvent?: (e: PodEvent) => void;
  /** Counts a rollback (`tinylet_rollbacks_total`). */
  onRollback?: () => void;
}

/** What the pass gives {@linkcode Rollbacks.watch} of a pod beyond the runtime. */
export interface WatchContext {
  /** The pod's last pull or create error, if any: when, and the spec hash it happened to. */
  podError(
    key: string,
  ): { message: string; reason?: string; at: number; hash?: string } | undefined;
  /** A container's probes. */
  probes(containerId: string): ProbeStatus[];
}

function short(hash: string): string {
  return hash.replace(/^v1:/, "").slice(0, 12);
}

interface Loaded {
  state: RollbackState;
  /** The last good spec as a Pod, one object while it stays (its translation is cached). */
  good?: Pod;
  /** The last good spec with its last good images pinned, made once (what a rollback runs). */
  pinned?: Pod;
  /** Listed on disk but not read yet. */
  unread?: boolean;
}

/** The rollback state of the agent's pods, and what it decides. */
export class Rollbacks {
  readonly #o: RollbacksOptions;
  readonly #loaded = new Map<string, Loaded>();
  /** The window of each pod, from its declared spec. */
  readonly #windows = new Map<string, number>();
  /** Rolled-back pods whose last good spec was said to fail too: `key\0sandbox id`. */
  readonly #saidFailing = new Set<string>();
  /** Whether the states on disk of pods no longer declared were looked for (once). */
  #swept = false;

  constructor(options: RollbacksOptions) {
    this.#o = options;
  }

  async #state(key: string): Promise<Loaded> {
    let loaded = this.#loaded.get(key);
    if (!loaded || loaded.unread) {
      const read = await this.#o.store.load(key);
      if (read.warning) this.#o.log.warn(read.warning);
      const state = read.state ?? {};
      // A last good spec is run again only if it is a pod whose spec hash is the one kept.
      const good = state.lastGood;
      if (good && !(await isPodOfHash(good.pod, good.hash))) {
        this.#o.log.warn(
          `Forgetting the last good spec of pod ${key} in ${
            this.#o.store.path(key)
          }: it is not a pod of spec hash ${good.hash} (was the file edited?); the pod runs as declared`,
        );
        delete state.lastGood;
        delete state.rolledBack;
      }
      loaded = { state, ...(state.lastGood ? { good: state.lastGood.pod as Pod } : {}) };
      this.#loaded.set(key, loaded);
    }
    return loaded;
  }

  async #save(key: string, loaded: Loaded): Promise<void> {
    try {
      await this.#o.store.write(key, loaded.state);
    } catch (err) {
      this.#o.log.error(`Cannot keep the rollback state of pod ${key}: ${(err as Error).message}`);
    }
  }

  /**
   * The desired state's hook: for a pod whose declared spec was rolled back (and has not
   * changed since), its last good spec to run instead; a changed spec forgets the rollback.
   */
  readonly substitute: RollbackHook = async (d) => {
    const window = podRollbackWindow(d.pod, this.#o.windowMs);
    this.#windows.set(d.key, window);
    const loaded = await this.#state(d.key);
    if (window === 0) {
      // Off: a rollback decided before is forgotten, not resurrected when it is on again.
      if (loaded.state.rolledBack || loaded.state.watching) {
        delete loaded.state.rolledBack;
        delete loaded.state.watching;
        await this.#save(d.key, loaded);
      }
      return undefined;
    }
    const rb = loaded.state.rolledBack;
    if (!rb) return undefined;
    if (rb.hash !== d.hash) {
      // The file changed since: its new content is tried (and watched).
      delete loaded.state.rolledBack;
      await this.#save(d.key, loaded);
      this.#o.log.info(`Pod ${d.key} changed since it was rolled back: running its new spec`);
      return undefined;
    }
    const good = loaded.state.lastGood;
    if (!loaded.good || !good) return undefined;
    // Its images as they ran then, pinned: a tag may name the image that failed now.
    const pod = loaded.pinned ?? lastGoodRun(loaded.good, good, rb);
    if (!pod) return undefined;
    loaded.pinned = pod;
    const rolledBack = { cause: rb.cause, from: rb.hash, at: rb.at, good: good.hash };
    return {
      pod,
      rolledBack: rb.images ? { ...rolledBack, images: rb.images } : rolledBack,
    };
  };

  /**
   * An auto-update asked to replace pod `key`'s sandbox to run `images` (ids by container): they
   * are watched from now, so a container of theirs that cannot even be created fails them too.
   */
  async expectImages(key: string, images: Record<string, string>): Promise<void> {
    const loaded = this.#loaded.get(key);
    const s = loaded?.state;
    const window = this.#windows.get(key) ?? 0;
    if (!loaded || !s?.lastGood || window === 0) return;
    if (s.watching && s.watching.hash !== s.lastGood.hash) return; // a new spec under watch
    s.watching = { hash: s.lastGood.hash, startedAt: this.#o.now(), windowMs: window, images };
    await this.#save(key, loaded);
  }

  /**
   * The tag `image` of container `container` of pod `key` names `id` now: when the pod was
   * rolled back from another image of that tag, it runs its declared spec again.
   */
  async tagMoved(key: string, container: string, image: string, id: string): Promise<void> {
    const loaded = this.#loaded.get(key);
    const failed = loaded?.state.rolledBack?.images?.[container];
    if (!loaded || !failed || failed.id === id) return;
    const good = loaded.state.lastGood;
    const window = this.#windows.get(key) ?? 0;
    delete loaded.state.rolledBack;
    delete loaded.pinned;
    // Watched from now, as an update asked for: a container of it that cannot be created fails.
    if (good && window > 0) {
      const images = { [container]: id };
      loaded.state.watching = {
        hash: good.hash,
        startedAt: this.#o.now(),
        windowMs: window,
        images,
      };
    }
    await this.#save(key, loaded);
    const message = `The tag "${image}" of container ${JSON.stringify(container)} names ${
      shortId(id)
    } now, not ${shortId(failed.id)} that was rolled back: the pod runs its declared spec again`;
    this.#o.log.info(`Pod ${key}: ${message}`);
    this.#o.onEvent?.({ pod: key, type: "Normal", reason: "ImageRetry", message });
  }

  /**
   * Watches each desired pod whose spec is not its last good one, and acts on the verdict.
   * Returns when to look again at the latest (a window's end), if any; forgets the state of
   * pods no longer declared (`desired.complete`).
   */
  async watch(
    desired: DesiredState,
    observed: ObservedState,
    ctx: WatchContext,
  ): Promise<number | undefined> {
    // What still runs keeps its state: a pod of a file that is invalid after a restart too.
    const kept = new Set([...desired.pods.keys(), ...observed.pods.keys()]);
    let wakeAt: number | undefined;
    const now = this.#o.now();
    for (const d of desired.pods.values()) {
      const window = this.#windows.get(d.key) ?? 0;
      // The last good spec running again is not rolled back (no loop); its failure is said.
      if (d.rolledBack && window > 0) this.#failsToo(d, observed);
      if (window === 0 || d.rolledBack || d.waiting) continue;
      const loaded = await this.#state(d.key);
      const s = loaded.state;
      const sandbox = sandboxOf(d, observed);
      // Only an error of this very spec counts (one of the spec before is not its failure).
      const e = ctx.podError(d.key);
      // Its message without the pull's "(next try in N s)": a rolled-back spec is not retried.
      const own = e?.reason && e.hash === d.hash
        ? { ...e, reason: e.reason, message: e.message.replace(/ \(next try in [^)]*\)$/, "") }
        : undefined;
      // The last good spec is watched only when it runs new images (an auto-update).
      const look = s.lastGood?.hash === d.hash
        ? lastGoodImages(d, s, sandbox, observed.statuses, own)
        : {};
      if (look.backfill && s.lastGood) {
        s.lastGood.images = look.backfill;
        delete loaded.pinned;
        await this.#save(d.key, loaded);
      }
      const changed = look.changed;
      if (s.lastGood?.hash === d.hash && !changed) {
        const w = s.watching;
        const until = sandbox && w ? Math.floor(sandbox.sandbox.createdAt / 1e6) + w.windowMs : 0;
        // An update asked for is awaited until its sandbox ran a window; else the watch is done.
        if (look.pending || (w?.images && w.hash === d.hash && now < until)) {
          if (!look.pending) wakeAt = Math.min(wakeAt ?? Infinity, until);
        } else if (w) {
          delete s.watching;
          await this.#save(d.key, loaded);
        }
        continue;
      }
      // A first spec that failed is not judged again (nor taken as good) until the file changes.
      if (s.watching?.hash === d.hash && s.watching.failed) continue;
      // New images fail by their own containers: a pull error is the registry's, not theirs.
      const error = own && (!changed || (isCreateError(own.reason) && own.at >= changed.since))
        ? own
        : undefined;
      const started = changed?.since ??
        (sandbox ? Math.floor(sandbox.sandbox.createdAt / 1e6) : undefined);
      // Known: watched before (by this agent or one before it), whatever start it had then.
      const known = s.watching?.hash === d.hash && sameImages(s.watching.images, changed?.images);
      if (!known || (started !== undefined && s.watching!.startedAt !== started)) {
        s.watching = {
          hash: d.hash,
          startedAt: started ?? now,
          windowMs: window,
          ...(changed ? { images: changed.images } : {}),
        };
        await this.#save(d.key, loaded);
      }
      // The window runs from the sandbox's start; before it, a failure to pull or create
      // this spec fails it whenever it comes (a slow pull never makes a spec good).
      if (!sandbox && !error) continue;
      const w = s.watching!;
      // Never watched, and first seen after its window (the window was off): it ran, and what
      // failed back then is not judged now.
      const adopted = !known && started !== undefined && started + window <= now;
      const verdict = adopted ? { verdict: "succeeded" as const, unknown: 0 } : sandboxVerdict({
        pod: d.pod,
        containers: changed
          ? instancesSince(sandbox?.containers ?? [], changed.since, changed.images)
          : sandbox?.containers ?? [],
        statuses: observed.statuses,
        probes: ctx.probes,
        windowMs: w.windowMs,
        startedAt: sandbox ? w.startedAt : error!.at,
        now,
        ...(error ? { lastError: error } : {}),
      });
      if (verdict.verdict === "succeeded" && verdict.unknown > 0) {
        wakeAt = wakeAt === undefined ? now + 1_000 : Math.min(wakeAt, now + 1_000);
        continue;
      }
      if (verdict.verdict === "watching") {
        wakeAt = wakeAt === undefined ? verdict.until : Math.min(wakeAt, verdict.until);
        continue;
      }
      delete s.watching;
      if (verdict.verdict === "succeeded") {
        const images = sandbox ? ranImages(sandbox, observed.statuses) : {};
        s.lastGood = changed && s.lastGood
          ? { ...s.lastGood, images: keptImages(s.lastGood.images, images, changed.images) }
          : { hash: d.hash, pod: d.pod, since: new Date(now).toISOString(), images };
        s.lastGood.since = new Date(now).toISOString();
        loaded.good = s.lastGood.pod as Pod;
        delete loaded.pinned;
        await this.#save(d.key, loaded);
        const what = changed ? "new images" : `a spec (${short(d.hash)})`;
        this.#o.log.info(
          adopted
            ? `Pod ${d.key} runs ${what} never watched, first seen after its rollback window ended: taken as good`
            : changed
            ? `Pod ${d.key} ran its rollback window with its new images: they are its last good ones`
            : `Pod ${d.key} ran its rollback window: its spec (${
              short(d.hash)
            }) is its last good one`,
        );
        continue;
      }
      if (!s.lastGood) {
        s.watching = { ...w, failed: true };
        await this.#save(d.key, loaded);
        this.#o.log.warn(
          `Pod ${d.key} failed within its rollback window (${verdict.cause}), but has no last good spec to go back to: it runs as declared; fix ${d.source}, and the next version that runs its window is kept as good`,
        );
        continue;
      }
      const failed = changed
        ? failedImages(d, changed.images, verdict.containers ?? look.blame)
        : undefined;
      s.rolledBack = {
        hash: d.hash,
        cause: verdict.cause,
        at: new Date(now).toISOString(),
        from: s.lastGood.hash,
        ...(failed ? { images: failed } : {}),
      };
      await this.#save(d.key, loaded);
      const message = failed
        ? imageRollbackMessage(verdict.cause, failed, d.source)
        : `Rolled back to the last good spec (${
          short(s.lastGood.hash)
        }): ${verdict.cause}; ${`the spec in ${d.source} (${
          short(d.hash)
        }) runs again once the file changes`}`;
      this.#o.log.warn(`Pod ${d.key}: ${message}`);
      this.#o.onEvent?.({ pod: d.key, type: "Warning", reason: "RolledBack", message });
      this.#o.onRollback?.();
      wakeAt = now;
    }
    if (desired.complete) await this.#forget(kept);
    return wakeAt;
  }

  /**
   * Says once, with a log line and an event, that a rolled-back pod's last good spec fails
   * too (a container of it exited with an error or restarted): nothing more is rolled back.
   */
  #failsToo(d: DesiredPod, observed: ObservedState): void {
    const sandbox = sandboxOf(d, observed);
    const said = `${d.key}\0${sandbox?.sandbox.id}`;
    const failed = sandbox && !this.#saidFailing.has(said)
      ? failedContainer(sandbox, observed.exited)
      : undefined;
    if (!failed) return;
    this.#saidFailing.add(said);
    const message =
      `The last good spec of pod ${d.key} fails too (container "${failed.metadata.name}"): nothing more is rolled back; fix ${d.source}`;
    this.#o.log.warn(message);
    this.#o.onEvent?.({ pod: d.key, type: "Warning", reason: "RollbackFailed", message });
  }

  /** Forgets, on disk too, the state of every pod not in `keys` (its file no longer says it). */
  async #forget(keys: ReadonlySet<string>): Promise<void> {
    if (!this.#swept) {
      // Pods whose file went while the agent was down: their state goes too (looked for again
      // at the next pass when the directory cannot be listed).
      const listed = await this.#o.store.list().catch(() => undefined);
      this.#swept = listed !== undefined;
      for (const key of listed ?? []) {
        // Known by its file only: read when the pod is desired again.
        if (!this.#loaded.has(key)) this.#loaded.set(key, { state: {}, unread: true });
      }
    }
    for (const key of [...this.#loaded.keys()]) {
      if (keys.has(key)) continue;
      this.#loaded.delete(key);
      this.#windows.delete(key);
      await this.#o.store.remove(key).catch((err) =>
        this.#o.log.warn(`Cannot remove the rollback state of pod ${key}: ${err.message}`)
      );
    }
    for (const k of this.#saidFailing) {
      if (!keys.has(k.split("\0")[0]!)) this.#saidFailing.delete(k);
    }
  }
}
