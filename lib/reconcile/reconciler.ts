/**
 * The reconcile loop. A start, a file event or a tick only says "look
 * again": every pass re-reads the directory, lists the runtime, plans and
 * executes. Passes never overlap; bursts of events are coalesced.
 *
 * @module
 */
import { Backoff, type BackoffPolicy, KUBELET_BACKOFF } from "../base/backoff.ts";
import type { AuthConfig, Cri } from "../runtime/cri.ts";
import { type DesiredState, desiredState, TranslationCache } from "./desired.ts";
import { type ActionResult, execute } from "./executor.ts";
import type { PodEvent } from "./executor_options.ts";
import { KillRequests } from "./kills.ts";
import { ImagePuller, ImagePullError } from "../node/images.ts";
import type { Logger } from "../base/log.ts";
import type { RotationPolicy } from "../node/log_rotation.ts";
import { formatProblem, type Problem } from "../manifest/parse.ts";
import { type ObservedState, Observer } from "./observe.ts";
import { describeEndpoint } from "../runtime/endpoint.ts";
import { type Action, plan, restartKey, shouldRestart } from "./plan.ts";
import { type PodView, podViews } from "./status.ts";
import { type ProbedContainer, ProbeManager } from "../probe/probes.ts";
import { runHandler } from "../probe/handlers.ts";
import type { AgentMetrics } from "../base/metrics.ts";
import { SandboxConfigError } from "../translate/desired_pod.ts";
import { podStateDir } from "../node/paths.ts";
import { type StatusFile, writeStatusFile } from "../agent/status_file.ts";
import { within } from "../base/timer.ts";
import type { ManifestSource } from "../manifest/source.ts";
import { readHostResolvConf, type ResolvConf } from "../translate/dns.ts";
import { detectCgroupV2 } from "../node/cgroups.ts";

/** Everything the reconciler works with. */
export interface ReconcilerOptions {
  cri: Cri;
  /** The node name, for `spec.nodeName` and its field references. */
  nodeName: string;
  /** Registry credentials for an image, asked for when a pull is needed. */
  registryAuth?: (image: string) => Promise<AuthConfig | undefined>;
  /** Reads the host's DNS settings; defaults to /etc/resolv.conf. */
  readHostDns?: () => Promise<ResolvConf>;
  /** Whether the host runs cgroup v2; asked once. Defaults to reading /proc/self/mountinfo. */
  detectCgroupV2?: () => Promise<boolean>;
  /** Milliseconds since the epoch; defaults to `Date.now`. */
  clock?: () => number;
  source: ManifestSource;
  log: Logger;
  /** The runtime socket, for messages. */
  socket: string;
  instance: string;
  root: string;
  podLogRoot: string;
  parallel: number;
  /** Milliseconds between safety-net passes. */
  intervalMs: number;
  /** Container log rotation; defaults to 10Mi and 5 files. */
  logRotation?: RotationPolicy;
  /** Milliseconds between checks of the logs' sizes; defaults to 10 s, as kubelet's. */
  logCheckIntervalMs?: number;
  /** Where the pods' status is published for `tinylet pods`; off when undefined. */
  statusFile?: string;
  /** Writes the status file; defaults to {@linkcode writeStatusFile}. */
  writeStatusFile?: (file: string, status: StatusFile) => Promise<void>;
  /** How long a pod whose action failed waits before the next try (default 10 s doubling to 300 s). */
  failureBackoff?: BackoffPolicy;
  /** Where passes, pods and watch events are counted. */
  metrics?: AgentMetrics;
}

/** What one pass did. */
export interface PassResult {
  /** False when the runtime could not be listed; nothing was changed then. */
  runtimeReachable: boolean;
  actions: Action[];
  results: ActionResult[];
  problems: Problem[];
  /** The pods' status after the pass. */
  pods: PodView[];
  /** When the pass wants to run again at the latest (a backoff ending, an init to watch). */
  wakeAt: number | undefined;
}

/**
 * A file being written (created or modified, not yet closed) is read this many milliseconds
 * after the first such event, so a pass does not read it half written; events within it are
 * one pass. A finished write (the writer closed the file), a rename into place and a delete
 * are acted on at once.
 */
export const DEBOUNCE_MS = 50;
/**
 * While pods wait for a free flight slot, a finishing flight starts the next one itself, and
 * asks for a pass (to publish the new state) at most this often.
 */
const QUEUED_PASS_DELAY_MS = 1_000;
const RUNTIME_BACKOFF_MIN_MS = 250;
const RUNTIME_BACKOFF_MAX_MS = 5_000;
const EVENTS_KEPT = 20;
/** How often container logs are checked for rotation, unless told otherwise: kubelet's default. */
const LOG_CHECK_INTERVAL_MS = 10_000;
/**
 * When the loop stops, how long cancelled work (flights, probes) gets to unwind before the
 * status file says the agent stopped: everything is cancelled through the signal, so this
 * only bounds what cannot be (a hung file system).
 */
export const STOP_GRACE_MS = 1_500;

/** An event with its time, as `describe` lists them. */
export interface TimedEvent extends PodEvent {
  time: string;
}

/** The agent's loop. */
export class Reconciler {
  readonly #o: ReconcilerOptions;
  readonly #now: () => number;
  readonly #observer: Observer;
  readonly #translations = new TranslationCache();
  #cgroupV2: Promise<boolean> | undefined;
  /** Pods whose last try failed on a refused host resolv.conf: they retry once it is fixed. */
  readonly #waitingForHostDns = new Set<string>();
  readonly #crash = new Backoff();
  /** Pods whose last action failed wait before the next try, so a broken pod never loops hot. */
  readonly #failing: Backoff;
  readonly #images: ImagePuller;
  readonly #events = new Map<string, TimedEvent[]>();
  #reported = new Map<string, string>();
  #podErrors = new Map<string, { message: string; reason?: string; text: string; at: number }>();
  #runtimeDown: string | undefined;
  #dirMissingLogged = false;
  #dirRefused: string | undefined;
  #lastPods: PodView[] = [];
  readonly #flights = new Map<string, Promise<ActionResult[]>>();
  readonly #probes: ProbeManager;
  readonly #sources = new Map<string, string>();
  /** Called when a flight ends; `queued` when flights are still waiting for a slot. */
  #onFlightDone: ((queued: boolean) => void) | undefined;
  /** Planned flights waiting for a slot, in plan order; replaced by every pass. */
  readonly #queue = new Map<string, Action[]>();
  /** How many flights have ended; a pass notes it before it lists the runtime. */
  #flightsEnded = 0;
  /** Per pod, the value of `#flightsEnded` its last flight ended with, until a pass has seen it. */
  readonly #endedAt = new Map<string, number>();
  #lastPublishedAt = 0;
  #lastGoodPassAt = 0;
  /** Containers to kill (failed probes and postStart hooks), planned by the next pass. */
  readonly #kills = new KillRequests();
  /** Wakes the loop for a pass; set while `run` runs. */
  #poke: (() => void) | undefined;

  constructor(options: ReconcilerOptions) {
    this.#o = options;
    this.#observer = new Observer({ podLogRoot: options.podLogRoot, log: options.log });
    this.#now = options.clock ?? Date.now;
    this.#failing = new Backoff(options.failureBackoff ?? KUBELET_BACKOFF);
    this.#probes = new ProbeManager({
      now: this.#now,
      run: (spec, target, timeout, signal) =>
        runHandler(spec, target, timeout, { cri: options.cri, signal }),
      kill: (c, kind, grace, reason) => this.#killForProbe(c, kind, grace, reason),
      onResult: (c, kind, outcome) => {
        const [namespace = "", pod = ""] = c.pod.split("/");
        options.metrics?.probeResults.inc({
          namespace,
          pod,
          container: c.container,
          probe: kind,
          result: outcome.ok ? "success" : "failure",
        });
        if (!outcome.ok) {
          options.log.debug(`Probe failed: ${kind} of container ${c.container} of pod ${c.pod}`, {
            output: outcome.output,
          });
        }
      },
    });
    this.#images = new ImagePuller({
      cri: options.cri,
      now: this.#now,
      ...(options.registryAuth ? { auth: options.registryAuth } : {}),
      onPull: (image, outcome, detail) => {
        if (outcome === "started") options.log.info(`Pulling image ${image}`);
        else if (outcome === "pulled") options.log.info(`Pulled image ${image}`);
        else options.log.warn(`Failed to pull image ${image}: ${detail}`);
      },
    });
  }

  /** Stops the probes (when passes were run without `run`); resolves when they have unwound. */
  stop(): Promise<void> {
    return this.#probes.stop();
  }

  /** The pods' status after the last pass. */
  get pods(): PodView[] {
    return this.#lastPods;
  }

  /**
   * A liveness or startup probe failed: records the container to be killed (its preStop hook,
   * then a stop) and wakes the loop, whose next pass plans the kill.
   */
  #killForProbe(
    c: ProbedContainer,
    kind: "liveness" | "startup",
    grace: number,
    message: string,
  ): void {
    this.#kills.record({
      key: c.pod,
      containerId: c.containerId,
      container: c.container,
      reason: kind === "liveness" ? "LivenessProbe" : "StartupProbe",
      message,
      gracePeriodSeconds: grace,
      target: c.target,
      ...(c.preStop ? { preStop: c.preStop } : {}),
    });
    this.#poke?.();
  }

  /** Gives the probe manager the running containers of the desired pods that have probes. */
  #syncProbes(desired: DesiredState, observed: ObservedState) {
    const probed: ProbedContainer[] = [];
    for (const pod of desired.pods.values()) {
      const sandbox = (observed.pods.get(pod.key) ?? []).find((o) =>
        o.sandbox.state === "SANDBOX_READY" && o.sandbox.metadata.uid === pod.uid
      );
      if (!sandbox) continue;
      for (const c of pod.containers) {
        const spec = c.spec;
        if (!spec.livenessProbe && !spec.readinessProbe && !spec.startupProbe) continue;
        const running = sandbox.containers.filter((x) =>
          x.metadata.name === c.name && x.state === "CONTAINER_RUNNING"
        ).at(-1);
        const status = running ? observed.statuses.get(running.id) : undefined;
        if (!running || !status) continue;
        const namedPorts: Record<string, number> = {};
        for (const p of spec.ports ?? []) if (p.name) namedPorts[p.name] = p.containerPort;
        probed.push({
          pod: pod.key,
          container: c.name,
          containerId: running.id,
          startedAt: status.startedAt > 0 ? status.startedAt / 1e6 : this.#now(),
          target: {
            containerId: running.id,
            host: pod.hostNetwork ? "127.0.0.1" : observed.ips.get(sandbox.sandbox.id) ?? "",
            namedPorts,
          },
          gracePeriodSeconds: pod.gracePeriodSeconds,
          ...(spec.livenessProbe ? { liveness: spec.livenessProbe } : {}),
          ...(spec.readinessProbe ? { readiness: spec.readinessProbe } : {}),
          ...(spec.startupProbe ? { startup: spec.startupProbe } : {}),
          ...(spec.lifecycle?.preStop ? { preStop: spec.lifecycle.preStop } : {}),
        });
      }
    }
    this.#probes.sync(probed);
  }

  /** Recent events of a pod (`namespace/name`), oldest first. */
  events(key: string): TimedEvent[] {
    return this.#events.get(key) ?? [];
  }

  #event(e: PodEvent) {
    const list = this.#events.get(e.pod) ?? [];
    list.push({ ...e, time: new Date(this.#now()).toISOString() });
    if (list.length > EVENTS_KEPT) list.splice(0, list.length - EVENTS_KEPT);
    this.#events.set(e.pod, list);
  }

  /** Starts a pod's flight. */
  #launch(key: string, group: Action[], signal?: AbortSignal): Promise<ActionResult[]> {
    const flight = this.#fly(key, group, signal);
    this.#flights.set(key, flight);
    return flight;
  }

  /**
   * Starts queued flights while slots are free: the actions the last pass planned but could
   * not start. A failed flight starts none (the runtime may be in trouble: the next pass
   * looks first), nor does a stopping agent.
   */
  #startQueued(ok: boolean, signal?: AbortSignal) {
    if (!ok || signal?.aborted) {
      this.#queue.clear();
      return;
    }
    for (const [key, group] of this.#queue) {
      if (this.#flights.size >= this.#o.parallel) break;
      this.#queue.delete(key);
      if (this.#flights.has(key)) continue;
      void this.#launch(key, group, signal);
    }
  }

  /**
   * Runs one pod's actions in order; reports them, frees the slot, starts queued flights and
   * asks for a new pass.
   */
  async #fly(key: string, group: Action[], signal?: AbortSignal): Promise<ActionResult[]> {
    const o = this.#o;
    let ok = false;
    try {
      const results = await execute(group, {
        cri: o.cri,
        log: o.log,
        images: this.#images,
        root: o.root,
        podLogRoot: o.podLogRoot,
        parallel: 1,
        onEvent: (e) => this.#event(e),
        onSandboxIp: (id, ip) => this.#observer.rememberIp(id, ip),
        kills: this.#kills,
        now: this.#now,
        ...(o.logRotation ? { logRotation: o.logRotation } : {}),
        ...(signal ? { signal } : {}),
      });
      // Results cut short by a stopping agent are cancellations, not failures.
      if (!signal?.aborted) this.#reportResults(results, this.#now());
      ok = results.every((r) => !r.error);
      return results;
    } finally {
      this.#flights.delete(key);
      this.#endedAt.set(key, ++this.#flightsEnded);
      this.#startQueued(ok, signal);
      this.#onFlightDone?.(this.#queue.size > 0);
    }
  }

  /**
   * One pass: read, list, plan, start the actions, report. Never throws for
   * runtime or manifest trouble. Each pod's actions run as one flight; with
   * `detach`, the pass does not wait for the flights (the loop does this, so
   * a slow pod never delays the others); without, it returns their results.
   */
  async pass(
    signal?: AbortSignal,
    { detach = false }: { detach?: boolean } = {},
  ): Promise<PassResult> {
    const t0 = performance.now();
    const r = await this.#pass(signal, detach);
    const m = this.#o.metrics;
    if (m) {
      m.passes.inc();
      m.passDuration.observe((performance.now() - t0) / 1000);
      m.runtimeUp.set({}, r.runtimeReachable ? 1 : 0);
      m.manifestErrors.set(
        {},
        new Set(r.problems.filter((p) => p.severity === "error").map((p) => p.file)).size,
      );
      m.pods.reset();
      m.restarts.reset();
      for (const p of r.pods) {
        m.pods.inc({ phase: p.phase });
        for (const c of p.containers) {
          m.restarts.set(
            { namespace: p.namespace, pod: p.name, container: c.name },
            c.restartCount,
          );
        }
      }
    }
    if (r.runtimeReachable) this.#lastGoodPassAt = this.#now();
    return r;
  }

  /**
   * Whether the agent is healthy: the runtime answered, the manifest directory could be read
   * (it exists and its permissions are accepted), and a pass completed recently.
   */
  health(): { ok: boolean; reason: string } {
    const limit = Math.max(3 * this.#o.intervalMs, 10_000);
    if (this.#runtimeDown !== undefined) return { ok: false, reason: this.#runtimeDown };
    if (this.#dirRefused !== undefined) return { ok: false, reason: this.#dirRefused };
    if (this.#dirMissingLogged) {
      return {
        ok: false,
        reason: `Cannot read the manifest directory ${this.#o.source.dir}: it does not exist`,
      };
    }
    if (this.#lastGoodPassAt === 0) return { ok: false, reason: "No pass has completed yet" };
    const age = this.#now() - this.#lastGoodPassAt;
    if (age > limit) {
      return { ok: false, reason: `The last pass completed ${Math.round(age / 1000)} s ago` };
    }
    return { ok: true, reason: "" };
  }

  async #pass(signal: AbortSignal | undefined, detach: boolean): Promise<PassResult> {
    const o = this.#o;
    const scan = await o.source.scan();
    this.#reportDirectory(scan.present, scan.refused);
    const hostDns = await (o.readHostDns ?? readHostResolvConf)();
    if (!hostDns.errors) {
      for (const key of this.#waitingForHostDns) this.#failing.reset(key);
      this.#waitingForHostDns.clear();
    }
    const desired = await desiredState(scan, {
      instance: o.instance,
      podLogRoot: o.podLogRoot,
      root: o.root,
      nodeName: o.nodeName,
      hostDns,
      cgroupV2: await (this.#cgroupV2 ??= (o.detectCgroupV2 ?? detectCgroupV2)()),
    }, this.#translations);
    const problems = [...scan.manifests.flatMap((m) => m.problems), ...desired.problems];
    this.#reportProblems(problems);
    const opts = signal ? { signal } : {};
    // A flight that ends after this point changed what the listing shows of its pod: the pass
    // plans that pod no further (the flight's end asks for a new pass, which sees the change).
    const listedAfter = this.#flightsEnded;
    let observed: ObservedState;
    try {
      observed = await this.#observer.observe(o.cri, o.instance, opts);
    } catch (err) {
      const down = {
        runtimeReachable: false,
        actions: [],
        results: [],
        problems,
        wakeAt: undefined,
      };
      if (signal?.aborted) return { ...down, pods: this.#lastPods };
      this.#reportRuntime(await describeEndpoint(o.socket, err));
      await this.#publish(this.#lastPods);
      return { ...down, pods: this.#lastPods };
    }
    this.#reportRuntime(undefined);
    await this.#applyRecordedSources(desired, observed);
    const now = this.#now();
    this.#recordFailures(desired, observed);
    const ctx = {
      now,
      restartAllowedAt: (key: string) => this.#crash.until(key),
      kills: this.#kills.pending(observed),
      logCheckDue: this.#logCheckDue(now),
    };
    if (signal?.aborted) {
      // A stopping agent starts nothing more.
      return {
        runtimeReachable: true,
        actions: [],
        results: [],
        problems,
        pods: this.#lastPods,
        wakeAt: undefined,
      };
    }
    const planned = plan(desired, observed, ctx);
    // Log rotations change no pod: they run within the pass, not as pod flights.
    const rotations = planned.actions.filter((a) => a.type === "rotateLogs");
    const podActions = planned.actions.filter((a) => a.type !== "rotateLogs");
    const held = podActions.filter((a) => (this.#failing.until(a.key) ?? 0) > now);
    const ready = podActions.filter((a) =>
      !held.includes(a) && !this.#flights.has(a.key) &&
      (this.#endedAt.get(a.key) ?? 0) <= listedAfter
    );
    for (const [key, ended] of this.#endedAt) if (ended <= listedAfter) this.#endedAt.delete(key);
    const actions: Action[] = [];
    const started: Promise<ActionResult[]>[] = [];
    this.#queue.clear();
    for (const [key, group] of groupByPod(ready)) {
      // One flight per pod; at most --parallel at once. In the loop (detached), the rest wait
      // in a queue that finishing flights take from, until the next pass plans again from the
      // newest state; otherwise the next pass plans them again.
      if (this.#flights.size >= o.parallel) {
        if (detach) this.#queue.set(key, group);
        else break;
        continue;
      }
      actions.push(...group);
      started.push(this.#launch(key, group, signal));
    }
    const results = detach ? [] : (await Promise.all(started)).flat();
    this.#failing.prune((key) => desired.pods.has(key) || observed.pods.has(key));
    await this.#rotateLogs(rotations, signal);
    const errors = new Map<string, { message: string; reason?: string }>();
    for (const [key, e] of this.#podErrors) {
      // While a failed pull waits for its next try (after the pass that failed), kubelet
      // shows ImagePullBackOff.
      const waiting = e.at < now && (this.#failing.until(key) ?? 0) > now &&
        e.reason === "ErrImagePull";
      errors.set(key, waiting ? { ...e, reason: "ImagePullBackOff" } : e);
    }
    if (!signal?.aborted) this.#syncProbes(desired, observed);
    const pods = podViews(desired, observed, {
      now,
      restartAllowedAt: ctx.restartAllowedAt,
      errors,
      ips: observed.ips,
      ready: (id) => this.#probes.ready(id),
      probes: (id) => this.#probes.statuses(id),
    });
    this.#lastPods = pods;
    await this.#publish(pods);
    // After a change, look again at once: the status then shows what the change did.
    // (Detached flights ask for that themselves when they finish.)
    const changed = results.some((r) => !r.error);
    const next = [
      planned.wakeAt,
      this.#images.nextRetryAt(now),
      ...held.map((a) => this.#failing.until(a.key)),
      ...results.filter((r) => r.error).map((r) => this.#failing.until(r.action.key)),
      changed ? now : undefined,
    ].filter((x) => x !== undefined);
    o.log.debug("Pass done", { actions: actions.length, pods: desired.pods.size });
    return {
      runtimeReachable: true,
      actions,
      results,
      problems,
      pods,
      wakeAt: next.length > 0 ? Math.min(...next) : undefined,
    };
  }

  /**
   * A pod whose file was renamed (same content, so the same sandbox) belongs to the new file:
   * recorded in `<podDir>/source`, since the runtime's annotations cannot change. Read once
   * per pod; written when it changes.
   */
  async #applyRecordedSources(desired: DesiredState, observed: ObservedState) {
    const uids = new Set<string>();
    for (const list of observed.pods.values()) {
      for (const o of list) {
        if (o.unsafeIdentity !== undefined) continue; // no host path from its UID
        const uid = o.sandbox.metadata.uid;
        uids.add(uid);
        let recorded = this.#sources.get(uid);
        if (recorded === undefined) {
          recorded = await Deno.readTextFile(`${podStateDir(this.#o.root, uid)}/source`)
            .catch(() => "");
          this.#sources.set(uid, recorded);
        }
        if (recorded) o.source = recorded;
        const d = desired.pods.get(o.key);
        if (d && d.uid === uid && d.source !== o.source) {
          try {
            await Deno.writeTextFile(`${podStateDir(this.#o.root, uid)}/source`, d.source);
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

  /** Counts each exited container that will restart as one failure, for the crash-loop backoff. */
  #recordFailures(desired: DesiredState, observed: ObservedState) {
    const live = new Set<string>();
    for (const pod of desired.pods.values()) {
      const sandboxes = observed.pods.get(pod.key) ?? [];
      for (const c of pod.containers) {
        const key = restartKey(pod.uid, c.name);
        live.add(key);
        const instances = sandboxes.flatMap((o) =>
          o.containers.filter((x) => x.metadata.name === c.name)
        );
        const latest = instances.at(-1);
        const status = latest ? observed.exited.get(latest.id) : undefined;
        if (!latest || !status) continue;
        if (!shouldRestart(c, pod.restartPolicy, status.exitCode)) continue;
        const at = status.finishedAt > 0 ? status.finishedAt / 1e6 : this.#now();
        const before = this.#crash.until(key);
        const until = this.#crash.fail(key, at, latest.id);
        if (until !== before) {
          this.#event({
            pod: pod.key,
            type: "Warning",
            reason: "BackOff",
            message: `Container ${c.name} exited with code ${status.exitCode}; back-off ${
              Math.round(this.#crash.delay(key) / 1000)
            } s before restart ${latest.metadata.attempt + 1}`,
          });
        }
      }
    }
    this.#crash.prune((key) => live.has(key));
  }

  /**
   * Whether this pass checks the logs for rotation: at most once per `logCheckIntervalMs`
   * (the next pass after that much time), since a stat of every running container's log
   * each pass would be most of an idle pass's cost.
   */
  #logCheckDue(now: number): boolean {
    if (now - this.#logsCheckedAt < (this.#o.logCheckIntervalMs ?? LOG_CHECK_INTERVAL_MS)) {
      return false;
    }
    this.#logsCheckedAt = now;
    return true;
  }

  /** Runs the planned log rotations; a log that cannot be rotated is logged by the executor. */
  async #rotateLogs(rotations: Action[], signal: AbortSignal | undefined) {
    if (rotations.length === 0) return;
    const o = this.#o;
    await execute(rotations, {
      cri: o.cri,
      log: o.log,
      images: this.#images,
      root: o.root,
      podLogRoot: o.podLogRoot,
      parallel: 1,
      now: this.#now,
      ...(o.logRotation ? { logRotation: o.logRotation } : {}),
      ...(signal ? { signal } : {}),
    });
  }

  /**
   * Writes the status file, with `stoppedAt`: the agent stopped. `run` does it when it ends;
   * a caller that cannot wait for that (it holds the process to a deadline) does it itself.
   * It lands after every write started before it, and no later write takes `stoppedAt` out.
   */
  publishStopped(): Promise<void> {
    return this.#publish(this.#lastPods, true);
  }

  /**
   * Writes the status file when the pods changed, and at least every 10 s as a heartbeat. The
   * content is taken at the call; writes take turns on one chain, so the last one started is
   * the last to land. Never rejects: a failed write is logged.
   */
  #publish(pods: PodView[], stopped = false): Promise<void> {
    const file = this.#o.statusFile;
    if (!file) return Promise.resolve();
    if (this.#stoppedAt !== undefined && !stopped) return Promise.resolve();
    const now = this.#now();
    if (stopped) this.#stoppedAt ??= now;
    const body = JSON.stringify(pods);
    if (!stopped && body === this.#lastPublished && now - this.#lastPublishedAt < 10_000) {
      return Promise.resolve();
    }
    this.#lastPublished = body;
    this.#lastPublishedAt = now;
    const status: StatusFile = {
      version: 1,
      agent: {
        pid: Deno.pid,
        instance: this.#o.instance,
        socket: this.#o.socket,
        manifests: this.#o.source.dir,
        updatedAt: new Date(now).toISOString(),
        stoppedAt: this.#stoppedAt !== undefined ? new Date(this.#stoppedAt).toISOString() : null,
        runtime: this.#runtimeDown === undefined ? "reachable" : "unreachable",
        runtimeError: this.#runtimeDown ?? null,
      },
      pods,
      events: Object.fromEntries([...this.#events].map(([pod, list]) => [pod, [...list]])),
    };
    const write = this.#writes.then(async () => {
      // Its turn came after the stop: the stopped write, queued behind it, replaces it anyway.
      if (!stopped && this.#stoppedAt !== undefined) return;
      try {
        await (this.#o.writeStatusFile ?? writeStatusFile)(file, status);
      } catch (err) {
        this.#o.log.warn(`Cannot write the status file ${file}: ${(err as Error).message}`);
      }
    });
    this.#writes = write;
    return write;
  }
  /** The last status write started: the next one waits for it. */
  #writes: Promise<void> = Promise.resolve();
  #lastPublished = "";
  #logsCheckedAt = -Infinity;
  /** When the agent stopped, once `publishStopped` or the end of `run` said so. */
  #stoppedAt: number | undefined;

  /** Runs passes until `signal` aborts: one at start, then on file events and every interval. */
  async run(signal: AbortSignal): Promise<void> {
    this.#stoppedAt = undefined;
    const wake = new Wake();
    const tick = setInterval(() => wake.poke(), this.#o.intervalMs);
    const watcher = new DirectoryWatcher(this.#o.source.dir, (event) => {
      this.#o.metrics?.watchEvents.inc();
      // The queue was planned from the files as they were: the next pass plans it again.
      this.#queue.clear();
      wake.poke(event && isFinished(event) ? 0 : DEBOUNCE_MS);
    });
    // Probes stop with the loop at once: they hold no pass, but their runs are in flight.
    let probesStopped: Promise<void> | undefined;
    const onAbort = () => {
      probesStopped ??= this.#probes.stop();
      wake.poke();
    };
    signal.addEventListener("abort", onAbort);
    this.#onFlightDone = (queued) => wake.poke(queued ? QUEUED_PASS_DELAY_MS : 0);
    this.#poke = () => wake.poke();
    let backoff = RUNTIME_BACKOFF_MIN_MS;
    try {
      while (!signal.aborted) {
        await watcher.ensure();
        const r = await this.pass(signal, { detach: true });
        if (signal.aborted) break;
        if (r.runtimeReachable) {
          backoff = RUNTIME_BACKOFF_MIN_MS;
          if (r.wakeAt === undefined) await wake.wait();
          else await wake.sleep(Math.max(0, r.wakeAt - this.#now()));
        } else {
          this.#o.log.debug("Runtime unreachable, retrying", { inMs: backoff });
          await wake.sleep(backoff);
          backoff = Math.min(backoff * 2, RUNTIME_BACKOFF_MAX_MS);
        }
      }
    } finally {
      clearInterval(tick);
      signal.removeEventListener("abort", onAbort);
      wake.close();
      await watcher.close();
      this.#queue.clear();
      // Stopped again, whatever the signal's stop missed included.
      const probesDone = Promise.all([probesStopped, this.#probes.stop()]);
      // In-flight work was cancelled through the signal; let it unwind, within a bound.
      await within(Promise.allSettled([...this.#flights.values(), probesDone]), STOP_GRACE_MS);
      this.#onFlightDone = undefined;
      this.#poke = undefined;
      await this.#publish(this.#lastPods, true);
    }
  }

  #reportDirectory(present: boolean, refused: string | undefined) {
    if (refused !== this.#dirRefused) {
      if (refused) this.#o.log.error(refused);
      else if (this.#dirRefused) {
        this.#o.log.info(`Manifest directory ${this.#o.source.dir} is accepted again`);
      }
      this.#dirRefused = refused;
    }
    if (!present && !this.#dirMissingLogged) {
      this.#o.log.warn(
        `Waiting for the manifest directory ${this.#o.source.dir}: it does not exist (running pods are kept)`,
      );
      this.#dirMissingLogged = true;
    } else if (present && this.#dirMissingLogged) {
      this.#o.log.info(`Manifest directory ${this.#o.source.dir} is back`);
      this.#dirMissingLogged = false;
    }
  }

  /** Logs each file's problems once per change. */
  #reportProblems(problems: Problem[]) {
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
        this.#o.log.error(
          `${formatProblem(errors[0]!)}${
            more > 0 ? ` (and ${more} more; see tinylet check)` : ""
          }; ignoring the file until it is fixed, its pods keep running`,
          { file },
        );
      } else {
        for (const p of list) this.#o.log.warn(formatProblem(p), { file });
      }
    }
    for (const file of [...this.#reported.keys()]) {
      if (!byFile.has(file)) this.#reported.delete(file);
    }
  }

  #reportRuntime(reason: string | undefined) {
    const o = this.#o;
    if (reason === undefined) {
      if (this.#runtimeDown !== undefined) {
        o.log.info(`Container runtime at "${o.socket}" answers again`);
        this.#runtimeDown = undefined;
      }
      return;
    }
    const message =
      `Cannot reach the container runtime at "${o.socket}": ${reason} (is containerd running? see --socket)`;
    // One line per outage; a changing reason while it lasts is only debug detail.
    if (this.#runtimeDown === undefined) o.log.error(message);
    else if (this.#runtimeDown !== message) o.log.debug(message);
    this.#runtimeDown = message;
  }

  /** Logs a pod's failure once per distinct error; successes are logged by the executor. */
  #reportResults(results: ActionResult[], now: number) {
    const failed = new Set(results.filter((r) => r.error).map((r) => r.action.key));
    for (const r of results) {
      const key = r.action.key;
      if (!r.error) {
        if (!failed.has(key)) {
          this.#podErrors.delete(key);
          this.#failing.reset(key);
        }
        continue;
      }
      this.#failing.fail(key, now, `${now}`);
      if (r.error instanceof SandboxConfigError) this.#waitingForHostDns.add(key);
      const e = r.error;
      const reason = e instanceof ImagePullError ? e.reason : undefined;
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
      });
      if (known?.text === text) continue;
      this.#o.log.error(`Failed to ${describe(r.action)}: ${e.message}`, {
        pod: key,
        reason: r.action.reason,
      });
    }
  }
}

function groupByPod(actions: Action[]): Map<string, Action[]> {
  const groups = new Map<string, Action[]>();
  for (const a of actions) groups.set(a.key, [...(groups.get(a.key) ?? []), a]);
  return groups;
}

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

/** A wake-up flag: pokes while a pass runs are remembered, so no change is missed. */
class Wake {
  #pending = false;
  #resolve: (() => void) | undefined;
  #debounce: ReturnType<typeof setTimeout> | undefined;
  #debounceAt = 0;
  #sleep: ReturnType<typeof setTimeout> | undefined;

  /**
   * Wakes the loop, now or after `delayMs`; pokes within a delay coalesce, and the earliest
   * time asked for wins.
   */
  poke(delayMs = 0): void {
    if (delayMs > 0) {
      const at = performance.now() + delayMs;
      if (this.#debounce !== undefined && this.#debounceAt <= at) return;
      clearTimeout(this.#debounce);
      this.#debounceAt = at;
      this.#debounce = setTimeout(() => {
        this.#debounce = undefined;
        this.poke();
      }, delayMs);
      return;
    }
    // A pass now reads everything a pass asked for later would: that one is not needed.
    clearTimeout(this.#debounce);
    this.#debounce = undefined;
    this.#pending = true;
    this.#resolve?.();
  }

  /** Resolves at the next poke (at once when one came since the last wait). */
  wait(): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#resolve = () => {
        this.#resolve = undefined;
        this.#pending = false;
        resolve();
      };
    });
  }

  /** Resolves after `ms`, or at the next poke. */
  sleep(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#sleep = setTimeout(() => {
        this.#sleep = undefined;
        this.#resolve = undefined;
        resolve();
      }, ms);
      this.#resolve = () => {
        clearTimeout(this.#sleep);
        this.#sleep = undefined;
        this.#resolve = undefined;
        this.#pending = false;
        resolve();
      };
    });
  }

  close(): void {
    clearTimeout(this.#debounce);
    clearTimeout(this.#sleep);
    this.#resolve?.();
  }
}

/**
 * True for an event after which the file is complete: the writer closed it (`access`: the
 * agent's own reads cause none), it was renamed into place, or it was deleted.
 */
export function isFinished(event: Deno.FsEvent): boolean {
  return event.kind === "access" || event.kind === "rename" || event.kind === "remove";
}

/**
 * Watches the manifest directory (not recursively). Re-arms itself when the
 * directory appears, or is replaced (a new inode: deleted and made again,
 * or a symlinked directory switched).
 */
class DirectoryWatcher {
  #watcher: Deno.FsWatcher | undefined;
  #loop: Promise<void> | undefined;
  #ino: number | null | undefined;

  constructor(readonly dir: string, readonly onEvent: (event?: Deno.FsEvent) => void) {}

  /** Starts watching if not watching the current directory yet (it may not exist). */
  async ensure(): Promise<void> {
    let ino: number | null;
    try {
      ino = (await Deno.stat(this.dir)).ino;
    } catch {
      await this.close(); // Missing for now; the tick keeps looking.
      return;
    }
    if (this.#watcher && ino === this.#ino) return;
    await this.close();
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(this.dir, { recursive: false });
    } catch {
      return;
    }
    this.#watcher = watcher;
    this.#ino = ino;
    this.#loop = (async () => {
      try {
        for await (const event of watcher) this.onEvent(event);
      } catch {
        // The directory went away; fall back to ticks until it is back.
      } finally {
        if (this.#watcher === watcher) this.#watcher = undefined;
      }
    })();
    // A change between the last pass and this watch would be missed: look once more.
    this.onEvent();
  }

  async close(): Promise<void> {
    const w = this.#watcher;
    this.#watcher = undefined;
    this.#ino = undefined;
    try {
      w?.close();
    } catch {
      // Already closed.
    }
    await this.#loop;
    this.#loop = undefined;
  }
}
