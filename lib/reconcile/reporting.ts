/**
 * What the agent tells the log about the state of things, once per change rather than once
 * per pass: the manifest directory missing or refused, each file's problems, the runtime
 * unreachable and back, and each pod's failures. It also remembers the last of each, for the
 * health check and the pods' status.
 *
 * @module
 */
import { isUrlSource } from "../manifest/url_rules.ts";
import type { Logger } from "../base/log.ts";
import { formatProblem, type Problem } from "../manifest/parse.ts";
import { ImagePullError } from "../node/images.ts";
import { VolumeError } from "../node/volume_error.ts";
import { CriError } from "../runtime/errors.ts";
import { ContainerConfigError } from "../translate/non_root.ts";

/**
 * Kubelet's reason for a failure to start a pod's container: a pull's, a container that
 * cannot be configured (its user, a subPath), or one the runtime could not create.
 */
function failureReason(e: Error): string | undefined {
  if (e instanceof ImagePullError) return e.reason;
  if (e instanceof ContainerConfigError || e instanceof VolumeError) {
    return "CreateContainerConfigError";
  }
  if (e instanceof CriError && e.method === "CreateContainer") return "CreateContainerError";
  return undefined;
}
import type { ActionResult } from "./executor.ts";
import type { Action } from "./plan.ts";
import { movesPod, upkeepTarget } from "./actions.ts";
import type { KillRequest } from "./kills.ts";

/** A pod's last failure, as its status shows it. */
export interface PodError {
  message: string;
  /**
   * Kubelet's reason: why a pull failed (`ErrImagePull`, ...), or why a container could not
   * be configured (`CreateContainerConfigError`) or created (`CreateContainerError`).
   */
  reason?: string;
  /** The spec hash of the pod whose start failed, when the failed action started one. */
  hash?: string;
  /** What failed, to tell one kind of failure from another. */
  text: string;
  /** When it failed, in wall-clock milliseconds. */
  at: number;
  /** Whether a status has shown it yet (a failed pull shows ErrImagePull once, first). */
  shown?: boolean;
}

/** The agent's health: `ok`, or why not; when ok, why it is degraded, if it is. */
export interface Health {
  ok: boolean;
  /** Why the agent is unhealthy; empty when ok. */
  reason: string;
  /** Set when ok but degraded: pods run from a kept document (`--manifest-url` failing). */
  degraded?: string;
}

/** What health asks of the manifest sources. */
export interface SourceHealth {
  /** True when a missing directory is fine (`--manifest-url` may be all there is). */
  readonly dirOptional?: boolean;
  /** Why a source degrades the agent, if it does. */
  degraded?(): string | undefined;
}

/** Logs each state once per change and remembers it. */
export class Reporting {
  readonly #log: Logger;
  readonly #dir: string;
  readonly #socket: string;
  readonly #source: SourceHealth | undefined;
  /** Per file, the text of the problems last logged. */
  readonly #reported = new Map<string, string>();
  readonly #podErrors = new Map<string, PodError>();
  /** The last failure of each upkeep target (`kill/<id>`, `orphan/<id>`) still failing. */
  readonly #upkeepErrors = new Map<string, string>();
  #runtimeDown: string | undefined;
  #dirMissing = false;
  #dirRefused: string | undefined;

  /**
   * `dir` is the manifest directory and `socket` the runtime's, for messages; `source`, what
   * health asks of the manifest sources.
   */
  constructor(options: { log: Logger; dir: string; socket: string; source?: SourceHealth }) {
    this.#log = options.log;
    this.#dir = options.dir;
    this.#socket = options.socket;
    this.#source = options.source;
  }

  /** Why the runtime is unreachable; undefined while it answers. */
  get runtimeDown(): string | undefined {
    return this.#runtimeDown;
  }

  /** Why the manifest directory is refused; undefined while it is accepted. */
  get dirRefused(): string | undefined {
    return this.#dirRefused;
  }

  /** Whether the manifest directory is missing. */
  get dirMissing(): boolean {
    return this.#dirMissing;
  }

  /**
   * Whether the agent is healthy: the runtime answered, the manifest directory could be read
   * (it exists, unless it is optional, and its permissions are accepted), and a pass completed
   * (at `lastGoodPassAt`, 0 for never) within three intervals (at least 10 s) of `now`. A
   * healthy agent is degraded while a source says so.
   */
  health(lastGoodPassAt: number, now: number, intervalMs: number): Health {
    const limit = Math.max(3 * intervalMs, 10_000);
    if (this.#runtimeDown !== undefined) return { ok: false, reason: this.#runtimeDown };
    if (this.#dirRefused !== undefined) return { ok: false, reason: this.#dirRefused };
    if (this.#dirMissing && !this.#source?.dirOptional) {
      return {
        ok: false,
        reason: `Cannot read the manifest directory ${this.#dir}: it does not exist`,
      };
    }
    if (lastGoodPassAt === 0) return { ok: false, reason: "No pass has completed yet" };
    const age = now - lastGoodPassAt;
    if (age > limit) {
      return { ok: false, reason: `The last pass completed ${Math.round(age / 1000)} s ago` };
    }
    const degraded = this.#source?.degraded?.();
    return degraded === undefined ? { ok: true, reason: "" } : { ok: true, reason: "", degraded };
  }

  /**
   * Pod `key`'s last error (a failed pull, create or start), if it has one, with when it
   * happened and the spec hash it happened to; changes nothing.
   */
  podError(
    key: string,
  ): { message: string; reason?: string; at: number; hash?: string } | undefined {
    const e = this.#podErrors.get(key);
    if (!e) return undefined;
    return {
      message: e.message,
      at: e.at,
      ...(e.reason ? { reason: e.reason } : {}),
      ...(e.hash ? { hash: e.hash } : {}),
    };
  }

  /**
   * Each failing pod's error as the status of one pass shows it; called once per pass, at
   * `now`. As kubelet's: a failed pull is ErrImagePull in the first status after it failed,
   * and ImagePullBackOff in later ones while it waits for its next try (`retryAt`). Counted
   * in statuses, not in time: the pass that publishes a flight's failure always comes after
   * the failure, so a test of time would never show ErrImagePull.
   */
  statusErrors(
    now: number,
    retryAt: (key: string) => number | undefined,
  ): Map<string, { message: string; reason?: string }> {
    const errors = new Map<string, { message: string; reason?: string }>();
    for (const [key, e] of this.#podErrors) {
      const waiting = e.shown === true && (retryAt(key) ?? 0) > now &&
        e.reason === "ErrImagePull";
      e.shown = true;
      const { message, reason } = e;
      errors.set(
        key,
        waiting
          ? { message, reason: "ImagePullBackOff" }
          : { message, ...(reason ? { reason } : {}) },
      );
    }
    return errors;
  }

  /** Logs the manifest directory going missing or refused, and coming back. */
  directory(present: boolean, refused: string | undefined): void {
    if (refused !== this.#dirRefused) {
      if (refused) this.#log.error(refused);
      else if (this.#dirRefused) {
        this.#log.info(`Manifest directory ${this.#dir} is accepted again`);
      }
      this.#dirRefused = refused;
    }
    if (!present && !this.#dirMissing) {
      this.#log.warn(
        this.#source?.dirOptional
          ? `Manifest directory ${this.#dir} does not exist: reading --manifest-url only (pods from the directory's files are kept)`
          : `Waiting for the manifest directory ${this.#dir}: it does not exist (running pods are kept)`,
      );
      this.#dirMissing = true;
    } else if (present && this.#dirMissing) {
      this.#log.info(`Manifest directory ${this.#dir} is back`);
      this.#dirMissing = false;
    }
  }

  /**
   * Logs each file's problems once per change. Only a file in `invalid` is said to be ignored:
   * the others' errors are about one pod or object (declared twice, a wrong reference).
   */
  problems(problems: Problem[], invalid: ReadonlySet<string> = new Set()): void {
    const byFile = new Map<string, Problem[]>();
    for (const p of problems) {
      const list = byFile.get(p.file) ?? [];
      list.push(p);
      byFile.set(p.file, list);
    }
    for (const [file, list] of byFile) {
      const text = list.map(formatProblem).join("\n");
      if (this.#reported.get(file) === text) continue;
      this.#reported.set(file, text);
      // One line per file and change: the first error (or each warning of a valid file),
      // and how many more problems `tinylet check` would show.
      const errors = list.filter((p) => p.severity === "error");
      if (errors.length > 0) {
        const more = list.length - 1;
        this.#log.error(
          `${formatProblem(errors[0]!)}${more > 0 ? ` (and ${more} more; see tinylet check)` : ""}${
            invalid.has(file) ? `; ${ignoring(file)}` : ""
          }`,
          { file },
        );
      } else {
        for (const p of list) this.#log.warn(formatProblem(p), { file });
      }
    }
    for (const file of [...this.#reported.keys()]) {
      if (!byFile.has(file)) this.#reported.delete(file);
    }
  }

  /** Logs the runtime becoming unreachable (`reason`) and answering again (undefined). */
  runtime(reason: string | undefined): void {
    if (reason === undefined) {
      if (this.#runtimeDown !== undefined) {
        this.#log.info(`Container runtime at "${this.#socket}" answers again`);
        this.#runtimeDown = undefined;
      }
      return;
    }
    const message =
      `Cannot reach the container runtime at "${this.#socket}": ${reason} (is containerd running? see --socket)`;
    // One line per outage; a changing reason while it lasts is only debug detail.
    if (this.#runtimeDown === undefined) this.#log.error(message);
    else if (this.#runtimeDown !== message) this.#log.debug(message);
    this.#runtimeDown = message;
  }

  /**
   * Logs a pod's failure once per distinct error; successes are logged by the executor. Only
   * the success of an action that moves its pod forward clears the pod's error. A kill, a
   * left-over container's removal or a log rotation leaves the pod's error as it is: its
   * failure is logged once per distinct error of what it works on, forgotten when it succeeds.
   */
  results(results: ActionResult[], now: number): void {
    const failed = new Set(
      results.filter((r) => r.error && movesPod(r.action.type)).map((r) => r.action.key),
    );
    for (const r of results) {
      if (!movesPod(r.action.type)) {
        this.#upkeepResult(r);
        continue;
      }
      const key = r.action.key;
      if (!r.error) {
        if (!failed.has(key)) this.#podErrors.delete(key);
        continue;
      }
      const e = r.error;
      const reason = failureReason(e);
      const action = r.action;
      const hash = action.type === "createPod" || action.type === "startContainers"
        ? action.pod.hash
        : undefined;
      // Log once per kind of failure, not once per retry.
      const text = e instanceof ImagePullError
        ? `${r.action.type}: ${e.reason} ${e.image}`
        : `${r.action.type}: ${e.message}`;
      const known = this.#podErrors.get(key);
      this.#podErrors.set(key, {
        message: e.message,
        text,
        at: now,
        ...(reason ? { reason } : {}),
        ...(hash ? { hash } : {}),
      });
      if (known?.text === text) continue;
      this.#logFailure(r.action, e);
    }
  }

  /**
   * Forgets the upkeep failures of targets no longer worked on: neither `planned` nor a
   * pending kill request (`kills`) names them.
   */
  forgetUpkeep(planned: readonly Action[], kills: readonly KillRequest[]): void {
    const live = new Set([
      ...planned.map(upkeepTarget),
      ...kills.map((k) => upkeepTarget({ ...k, type: "killContainer" })),
    ]);
    for (const target of [...this.#upkeepErrors.keys()]) {
      if (!live.has(target)) this.#upkeepErrors.delete(target);
    }
  }

  /** How many upkeep targets have a failure remembered. */
  get upkeepFailures(): number {
    return this.#upkeepErrors.size;
  }

  #upkeepResult(r: ActionResult): void {
    const target = upkeepTarget(r.action);
    if (!r.error) {
      this.#upkeepErrors.delete(target);
      return;
    }
    if (this.#upkeepErrors.get(target) === r.error.message) return;
    this.#upkeepErrors.set(target, r.error.message);
    this.#logFailure(r.action, r.error);
  }

  #logFailure(a: Action, e: Error): void {
    this.#log.error(`Failed to ${describe(a)}: ${e.message}`, { pod: a.key, reason: a.reason });
  }
}

/** What an invalid file's line ends with: it is ignored, its pods kept. */
function ignoring(file: string): string {
  return isUrlSource(file)
    ? "ignoring the document until it is fixed, what it ran keeps running"
    : "ignoring the file until it is fixed, its pods keep running";
}

/** What an action does, as the start of a sentence's object ("Failed to ..."). */
function describe(a: Action): string {
  switch (a.type) {
    case "createPod":
      return `start pod ${a.key}`;
    case "deletePod":
      return `remove pod ${a.key}`;
    case "startContainers":
      return `start ${a.start.map((s) => `container ${s.name}`).join(", ")} of pod ${a.key}`;
    case "startCreated":
      return `start container ${a.container} of pod ${a.key}`;
    case "removeContainers":
      return `remove dead containers of pod ${a.key}`;
    case "killContainer":
      return `kill container ${a.container} of pod ${a.key}`;
    case "removeOrphan":
      return `remove left-over container ${a.containerId.slice(0, 12)}`;
    case "rotateLogs":
      return `rotate the logs of pod ${a.key}`;
  }
}
