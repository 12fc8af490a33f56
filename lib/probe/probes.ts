/**
 * Liveness, readiness and startup probes, run by the agent as kubelet runs
 * them: one worker per container and kind, on the probe's period, counting
 * consecutive results against the thresholds. Time and timers are injected,
 * so tests drive them by hand. Probes never block the reconcile loop, and
 * stopping a worker (or the manager) cancels the run or kill it has in flight.
 *
 * @module
 */
import type { HandlerSpec, ProbeSpec } from "../manifest/types.ts";
import { scheduleAfter } from "../base/timer.ts";

export type ProbeKind = "liveness" | "readiness" | "startup";

/** The result of running a handler once. */
export interface ProbeOutcome {
  ok: boolean;
  output: string;
}

/** Where a probe goes. */
export interface ProbeTarget {
  containerId: string;
  host: string;
  namedPorts: Record<string, number>;
}

/** One running container to probe. */
export interface ProbedContainer {
  pod: string;
  container: string;
  containerId: string;
  /** When the container started, in milliseconds since the epoch. */
  startedAt: number;
  target: ProbeTarget;
  /** The pod's grace period, used when a probe does not set its own. */
  gracePeriodSeconds: number;
  liveness?: ProbeSpec;
  readiness?: ProbeSpec;
  startup?: ProbeSpec;
  /** The container's preStop hook, run before a probe kills it. */
  preStop?: HandlerSpec;
}

/** What one kind of probe of one container says now. */
export interface ProbeStatus {
  kind: ProbeKind;
  /** "unknown" until the first result that crosses a threshold. */
  result: "unknown" | "success" | "failure";
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  lastOutput: string;
  lastFailureAt: number | null;
  /** The output of the last failed run, for `describe`. */
  lastFailureOutput: string;
  lastRunAt: number | null;
}

/** What the probe manager needs from the agent. */
export interface ProbeDeps {
  /** Runs a probe once; `signal` aborts when its worker stops: the run should end at once. */
  run(
    spec: ProbeSpec,
    target: ProbeTarget,
    timeoutSeconds: number,
    signal: AbortSignal,
  ): Promise<ProbeOutcome>;
  /**
   * Has the container killed: its `kind` probe (liveness or startup) failed; the restart
   * policy decides what follows. `signal` aborts when the manager stops: a kill still in
   * hand should give up at once.
   */
  kill(
    c: ProbedContainer,
    kind: "liveness" | "startup",
    gracePeriodSeconds: number,
    reason: string,
    signal: AbortSignal,
  ): Promise<void> | void;
  now(): number;
  /** Runs `fn` after `ms`; returns a canceller. Defaults to a timer of any length. */
  schedule?(fn: () => void, ms: number): () => void;
  /** Told about every probe run. */
  onResult?(c: ProbedContainer, kind: ProbeKind, outcome: ProbeOutcome): void;
}

/** Kubernetes defaults. */
export const PROBE_DEFAULTS = {
  periodSeconds: 10,
  timeoutSeconds: 1,
  failureThreshold: 3,
  successThreshold: 1,
  initialDelaySeconds: 0,
};

interface Worker {
  c: ProbedContainer;
  kind: ProbeKind;
  spec: ProbeSpec;
  status: ProbeStatus;
  cancel: (() => void) | undefined;
  running: boolean;
  stopped: boolean;
  /** Aborted when the worker stops: cancels its run in flight. */
  abort: AbortController;
}

const KINDS: ProbeKind[] = ["startup", "liveness", "readiness"];

/** Runs the probes of every container it is given, until told they are gone. */
export class ProbeManager {
  readonly #d: ProbeDeps;
  readonly #workers = new Map<string, Worker[]>();
  /** Containers killed by a probe: no more probing until a new instance appears. */
  readonly #onHold = new Set<string>();
  /** Aborted by `stop`: cancels kills in flight. */
  #stopping = new AbortController();
  /** Runs and kills in flight, so `stop` can wait for them to unwind. */
  readonly #busy = new Set<Promise<void>>();

  constructor(deps: ProbeDeps) {
    this.#d = deps;
  }

  /**
   * Makes the running workers match `containers`: starts workers for new
   * containers, stops those of containers that are gone.
   */
  sync(containers: ProbedContainer[]): void {
    const live = new Set(containers.map((c) => c.containerId));
    for (const [id, workers] of this.#workers) {
      if (live.has(id)) continue;
      for (const w of workers) this.#stop(w);
      this.#workers.delete(id);
    }
    for (const id of [...this.#onHold]) if (!live.has(id)) this.#onHold.delete(id);
    for (const c of containers) {
      if (this.#workers.has(c.containerId) || this.#onHold.has(c.containerId)) continue;
      const workers: Worker[] = [];
      for (const kind of KINDS) {
        const spec = c[kind];
        if (!spec) continue;
        const w: Worker = {
          c,
          kind,
          spec,
          status: {
            kind,
            // kubelet: liveness is assumed good, readiness bad, startup unknown until run.
            result: kind === "liveness" ? "success" : kind === "readiness" ? "failure" : "unknown",
            consecutiveFailures: 0,
            consecutiveSuccesses: 0,
            lastOutput: "",
            lastFailureAt: null,
            lastFailureOutput: "",
            lastRunAt: null,
          },
          cancel: undefined,
          running: false,
          stopped: false,
          abort: new AbortController(),
        };
        workers.push(w);
      }
      if (workers.length === 0) continue;
      this.#workers.set(c.containerId, workers);
      for (const w of workers) {
        const delay = (w.spec.initialDelaySeconds ?? PROBE_DEFAULTS.initialDelaySeconds) * 1000;
        this.#arm(w, Math.max(0, c.startedAt + delay - this.#d.now()));
      }
    }
  }

  /** Whether the container has started (its startup probe succeeded, or it has none). */
  started(containerId: string): boolean {
    const startup = this.#workers.get(containerId)?.find((w) => w.kind === "startup");
    return !startup || startup.status.result === "success";
  }

  /** The readiness of a container: undefined when it has no readiness probe. */
  ready(containerId: string): boolean | undefined {
    if (this.#onHold.has(containerId)) return false;
    const r = this.#workers.get(containerId)?.find((w) => w.kind === "readiness");
    if (!r) return this.started(containerId) ? undefined : false;
    return this.started(containerId) && r.status.result === "success";
  }

  /** Every probe of a container, for `describe`. */
  statuses(containerId: string): ProbeStatus[] {
    return (this.#workers.get(containerId) ?? []).map((w) => ({ ...w.status }));
  }

  /**
   * Stops every worker and cancels what they have in flight (runs, and kills after a failed
   * probe). Resolves when those have unwound; `sync` starts afresh afterwards.
   */
  async stop(): Promise<void> {
    for (const workers of this.#workers.values()) for (const w of workers) this.#stop(w);
    this.#workers.clear();
    this.#stopping.abort(new DOMException("The probes were stopped", "AbortError"));
    this.#stopping = new AbortController();
    await Promise.allSettled([...this.#busy]);
  }

  #stop(w: Worker) {
    w.stopped = true;
    w.cancel?.();
    w.cancel = undefined;
    w.abort.abort(new DOMException("The probe was stopped", "AbortError"));
  }

  #arm(w: Worker, ms: number) {
    if (w.stopped) return;
    const schedule = this.#d.schedule ?? scheduleAfter;
    w.cancel = schedule(() => {
      w.cancel = undefined;
      const tick = this.#tick(w);
      this.#busy.add(tick);
      void tick.finally(() => this.#busy.delete(tick));
    }, ms);
  }

  async #tick(w: Worker): Promise<void> {
    if (w.stopped || w.running) return;
    const period = (w.spec.periodSeconds ?? PROBE_DEFAULTS.periodSeconds) * 1000;
    const id = w.c.containerId;
    // Liveness and readiness wait for the startup probe; startup stops once it succeeded.
    const gated = w.kind !== "startup" && !this.started(id);
    const done = w.kind === "startup" && w.status.result === "success";
    if (gated || done || this.#onHold.has(id)) {
      if (!done) this.#arm(w, period);
      return;
    }
    w.running = true;
    let outcome: ProbeOutcome;
    try {
      outcome = await this.#d.run(
        w.spec,
        w.c.target,
        w.spec.timeoutSeconds ?? PROBE_DEFAULTS.timeoutSeconds,
        w.abort.signal,
      );
    } catch (err) {
      outcome = { ok: false, output: err instanceof Error ? err.message : String(err) };
    }
    w.running = false;
    if (w.stopped) return;
    this.#record(w, outcome);
    this.#d.onResult?.(w.c, w.kind, outcome);
    if (w.status.result === "failure" && (w.kind === "liveness" || w.kind === "startup")) {
      this.#onHold.add(id);
      for (const other of this.#workers.get(id) ?? []) this.#stop(other);
      const grace = w.spec.terminationGracePeriodSeconds ?? w.c.gracePeriodSeconds;
      const reason = `Container ${w.c.container} failed its ${w.kind} probe ${
        w.spec.failureThreshold ?? PROBE_DEFAULTS.failureThreshold
      } times in a row (${outcome.output || "no output"}); it will be restarted`;
      try {
        await this.#d.kill(w.c, w.kind, grace, reason, this.#stopping.signal);
      } catch {
        // The next pass sees the container as it is and acts on it.
      }
      return;
    }
    this.#arm(w, period);
  }

  #record(w: Worker, outcome: ProbeOutcome) {
    const s = w.status;
    s.lastRunAt = this.#d.now();
    s.lastOutput = outcome.output;
    if (outcome.ok) {
      s.consecutiveSuccesses++;
      s.consecutiveFailures = 0;
      if (s.consecutiveSuccesses >= (w.spec.successThreshold ?? PROBE_DEFAULTS.successThreshold)) {
        s.result = "success";
      }
    } else {
      s.consecutiveFailures++;
      s.consecutiveSuccesses = 0;
      s.lastFailureAt = s.lastRunAt;
      s.lastFailureOutput = outcome.output;
      if (s.consecutiveFailures >= (w.spec.failureThreshold ?? PROBE_DEFAULTS.failureThreshold)) {
        s.result = "failure";
      }
    }
  }
}
