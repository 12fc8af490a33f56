/**
 * Config volumes kept up to date: when a ConfigMap or Secret that a running pod mounts
 * changes, the volume's files are written again in place with kubelet's atomic writer (a
 * reader sees the old files or the new ones, never a mix), and nothing restarts. A `subPath`
 * mount of such a volume is a bind mount of one file: it keeps what it had, as in kubelet.
 * And a pod that starts to wait for a ConfigMap or Secret gets kubelet's event, once.
 *
 * @module
 */
import { isMountPoint } from "../node/mount_table.ts";
import {
  forgetConfigVolume,
  volumePath,
  writeConfigVolume,
  writtenConfigVolume,
} from "../node/volumes.ts";
import type { Logger } from "../base/log.ts";
import type { PodEvent } from "./executor_options.ts";
import type { DesiredState } from "./desired.ts";
import type { ObservedState } from "./observe.ts";
import type { DesiredPod } from "../translate/desired_pod.ts";

/** What {@linkcode VolumeUpdates} reports to. */
export interface VolumeUpdatesOptions {
  log: Logger;
  onEvent?: (e: PodEvent) => void;
  /** Whether the pod (`namespace/name`) has a flight running: its volumes are left alone. */
  busy?: (key: string) => boolean;
}

/** Rewrites the config volumes of running pods whose content changed. */
export class VolumeUpdates {
  readonly #o: VolumeUpdatesOptions;
  /** The volume directories of running pods, to forget when their pods go. */
  #live = new Set<string>();
  /** Volume directories whose last write failed, with the message logged. */
  #failed = new Map<string, string>();
  /** Pods waiting for a ConfigMap or Secret, with the message of their event. */
  #waits = new Map<string, string>();

  constructor(options: VolumeUpdatesOptions) {
    this.#o = options;
  }

  /**
   * Writes every config volume of a pod that runs (its sandbox, of its UID, is ready) whose
   * content is not the one last written there. A volume is written only where its pod made it:
   * its directory exists and, for a tmpfs volume, the tmpfs is mounted (a Secret never lands
   * on disk). Returns the number of volumes whose files changed.
   */
  async sync(desired: DesiredState, observed: ObservedState): Promise<number> {
    if (this.#o.onEvent) waitEvents(desired, this.#waits, this.#o.onEvent);
    const live = new Set<string>();
    let changed = 0;
    for (const d of desired.pods.values()) {
      if (d.waiting || this.#o.busy?.(d.key)) continue;
      const runs = (observed.pods.get(d.key) ?? []).some((o) =>
        o.sandbox.metadata.uid === d.uid && o.sandbox.state === "SANDBOX_READY"
      );
      if (!runs) continue;
      for (const v of d.volumes) {
        const payload = v.config?.payload;
        if (!v.config || !payload) continue;
        const dir = volumePath(v, d.podDir);
        live.add(dir);
        if (writtenConfigVolume(dir) === payload) continue;
        if (!(await isDirectory(dir))) continue;
        if (v.config.memory && !(await isMountPoint(dir))) continue;
        try {
          if (await writeConfigVolume(v.name, dir, payload, v.config.memory)) {
            changed++;
            const what = `Updated the files of volume "${v.name}"`;
            this.#o.log.info(`${what} of pod ${d.key}`);
            this.#o.onEvent?.({
              pod: d.key,
              type: "Normal",
              reason: "VolumeUpdated",
              message: what,
            });
          }
          this.#failed.delete(dir);
        } catch (error) {
          const message = (error as Error).message;
          if (this.#failed.get(dir) !== message) {
            this.#o.log.warn(`Cannot update the files of pod ${d.key}: ${message}`);
            this.#o.onEvent?.({ pod: d.key, type: "Warning", reason: "FailedMount", message });
          }
          this.#failed.set(dir, message);
        }
      }
    }
    for (const dir of this.#live) {
      if (live.has(dir)) continue;
      this.#live.delete(dir);
      forgetConfigVolume(dir);
    }
    for (const dir of live) this.#live.add(dir);
    for (const dir of this.#failed.keys()) if (!live.has(dir)) this.#failed.delete(dir);
    return changed;
  }
}

/**
 * Records an event when a pod starts to wait for a ConfigMap or Secret, or waits for another
 * reason: kubelet's `Failed` with `Error: MESSAGE` for its env, `FailedMount` for a volume; and
 * kubelet's `InvalidEnvironmentVariableNames` for names `envFrom` skipped. Once per change.
 */
export function waitEvents(
  desired: DesiredState,
  told: Map<string, string>,
  onEvent: (e: PodEvent) => void,
): void {
  const said = (d: DesiredPod) => [d.waiting?.message ?? "", ...d.configWarnings].join("\n");
  for (const key of told.keys()) {
    const d = desired.pods.get(key);
    if (!d || said(d) === "") told.delete(key);
  }
  for (const d of desired.pods.values()) {
    const now = said(d);
    if (now === "" || told.get(d.key) === now) continue;
    told.set(d.key, now);
    const w = d.waiting;
    if (w) {
      onEvent(
        w.reason === "FailedMount"
          ? { pod: d.key, type: "Warning", reason: "FailedMount", message: w.message }
          : { pod: d.key, type: "Warning", reason: "Failed", message: `Error: ${w.message}` },
      );
    }
    for (const message of d.configWarnings) {
      onEvent({ pod: d.key, type: "Warning", reason: "InvalidEnvironmentVariableNames", message });
    }
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.lstat(path)).isDirectory;
  } catch {
    return false;
  }
}
