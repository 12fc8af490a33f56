/**
 * The pass: reads the manifest directory (desired), lists the runtime (observed), plans,
 * starts each pod's actions as a flight, and computes the pods' status. It keeps what passes
 * share: backoffs, kill requests, events, probes and the last status. Never throws for runtime
 * or manifest trouble.
 *
 * @module
 */
import { Backoff, KUBELET_BACKOFF } from "../base/backoff.ts";
import { type Clock, SYSTEM_CLOCK } from "../base/clock.ts";
import type { Problem } from "../manifest/parse.ts";
import { detectCgroupV2 } from "../node/cgroups.ts";
import type { ImagePuller } from "../node/images.ts";
import { imagePullerOf, imageUpdatesOf, rollbacksOf } from "./pass_parts.ts";
import type { Rollbacks } from "./rollbacks.ts";
import type { ProbeManager } from "../probe/probes.ts";
import { describeEndpoint } from "../runtime/endpoint.ts";
import { readHostResolvConf } from "../translate/dns.ts";
import { SandboxConfigError } from "../translate/desired_pod.ts";
import { CrashLoop } from "./crash_loop.ts";
import { desiredState, TranslationCache } from "./desired.ts";
import { EventStore, type TimedEvent } from "./events.ts";
import type { AgentState } from "./agent_state.ts";
import { countPass, OomEvents } from "./pass_metrics.ts";
import { type ActionResult, execute } from "./executor.ts";
import { Flights, groupByPod } from "./flights.ts";
import { type KillRequest, KillRequests } from "./kills.ts";
import { KillFlights } from "./kill_flights.ts";
import { type KillContainer, movesPod, type RotateLogs } from "./actions.ts";
import type { ExecutorOptions } from "./executor_options.ts";
import { LogChecks, runRotations } from "./log_checks.ts";
import { Observer } from "./observe.ts";
import { type Action, plan } from "./plan.ts";
import { probedContainers, probeManager } from "./probing.ts";
import { RecordedSources } from "./recorded_sources.ts";
import { type Health, Reporting } from "./reporting.ts";
import type { ImageUpdates } from "./image_updates.ts";
import type { PassOptions, PassResult } from "./pass_options.ts";
import { type PodView, podViews } from "./status.ts";
import { VolumeUpdates } from "./volume_updates.ts";

export type { PassOptions, PassResult };

/** The passes and the state they share. */
export class ReconcilePass {
  readonly #o: PassOptions;
  /** Wall-clock milliseconds. */
  readonly #now: () => number;
  readonly #clock: Clock;
  readonly #observer: Observer;
  readonly #translations = new TranslationCache();
  #cgroupV2: Promise<boolean> | undefined;
  /** Pods whose last try failed on a refused host resolv.conf: they retry once it is fixed. */
  readonly #waitingForHostDns = new Set<string>();
  /** Each desired pod's hash in the last pass. */
  #hashes = new Map<string, string>();
  readonly #crash = new CrashLoop();
  /** Pods whose last action failed wait before the next try, so a broken pod never loops hot. */
  readonly #failing: Backoff;
  readonly #images: ImagePuller;
  readonly #events: EventStore;
  readonly #report: Reporting;
  readonly #probes: ProbeManager;
  readonly #sources: RecordedSources;
  /** The pods' flights, started by the passes. */
  readonly flights: Flights;
  /** Containers to kill (failed probes and postStart hooks), planned by the next pass. */
  readonly #kills: KillRequests;
  /** The planned kills' flights and backoff. */
  readonly #killFlights: KillFlights;
  /** Wakes the loop for a pass; set while a loop runs. */
  poke: (() => void) | undefined;
  /** Records a kill (a failed probe, or postStart hook during a flight) and wakes the loop. */
  readonly #requestKill = (request: KillRequest) => (this.#kills.record(request), this.poke?.());
  #lastPods: PodView[] = [];
  #lastGoodPassAt = 0;
  readonly #ooms: OomEvents;
  readonly #logChecks: LogChecks;
  /** The auto-update checks and the replacements they ask for. */
  readonly imageUpdates: ImageUpdates;
  readonly #volumes: VolumeUpdates;
  readonly #rollbacks: Rollbacks;

  constructor(options: PassOptions) {
    this.#o = options;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#now = () => this.#clock.epochMs();
    const monotonic = () => this.#clock.now();
    this.#kills = new KillRequests(monotonic);
    const { podLogRoot, log, socket } = options;
    this.#observer = new Observer({ podLogRoot, log, now: monotonic });
    this.#logChecks = new LogChecks(options.logCheckIntervalMs);
    this.#failing = new Backoff(options.failureBackoff ?? KUBELET_BACKOFF);
    this.#events = new EventStore(this.#now);
    this.#report = new Reporting({ log, dir: options.source.dir, socket, source: options.source });
    this.#sources = new RecordedSources(options.root);
    this.flights = new Flights(options.parallel, (_key, group, signal) => this.#fly(group, signal));
    this.#killFlights = new KillFlights(this.flights, options.failureBackoff ?? KUBELET_BACKOFF);
    this.#probes = probeManager({
      cri: options.cri,
      log: options.log,
      now: this.#now,
      schedule: (fn, ms) => this.#clock.schedule(fn, ms),
      ...(options.metrics ? { metrics: options.metrics } : {}),
      kill: this.#requestKill,
    });
    this.#images = imagePullerOf(options, this.#now);
    this.#rollbacks = rollbacksOf(options, this.#now, (e) => this.#events.add(e));
    this.#volumes = new VolumeUpdates({
      log,
      onEvent: (e) => this.#events.add(e),
      busy: (key) => this.flights.pending(key),
    });
    this.imageUpdates = imageUpdatesOf(options, {
      now: this.#now,
      images: this.#images,
      rollbacks: this.#rollbacks,
      onEvent: (e) => this.#events.add(e),
      poke: () => this.poke?.(),
    });
    this.#ooms = new OomEvents(this.#now());
  }

  /** Stops the probes; resolves when they have unwound. */
  stopProbes(): Promise<void> {
    return this.#probes.stop();
  }

  /** The pods' status after the last pass. */
  get pods(): PodView[] {
    return this.#lastPods;
  }

  /** Recent events of a pod (`namespace/name`), oldest first. */
  events(key: string): TimedEvent[] {
    return this.#events.of(key);
  }

  /** What the agent knows now, as published. */
  state(): AgentState {
    return {
      pods: this.#lastPods,
      runtimeError: this.#report.runtimeDown,
      events: this.#events.snapshot(),
    };
  }

  /**
   * Whether the agent is healthy (the runtime answered, the manifest directory could be read,
   * a pass completed recently) or degraded (see {@linkcode Reporting.health}).
   */
  health(): Health {
    return this.#report.health(this.#lastGoodPassAt, this.#now(), this.#o.intervalMs);
  }

  /** What the executor works with, one action at a time, cancelled by `signal`. */
  #executorOptions(signal: AbortSignal | undefined): ExecutorOptions {
    const o = this.#o;
    return {
      cri: o.cri,
      log: o.log,
      images: this.#images,
      root: o.root,
      podLogRoot: o.podLogRoot,
      parallel: 1,
      onEvent: (e) => this.#events.add(e),
      onSandboxIp: (id, ip) => this.#observer.rememberIp(id, ip),
      kills: { record: this.#requestKill },
      now: this.#now,
      ...(o.logRotation ? { logRotation: o.logRotation } : {}),
      ...(signal ? { signal } : {}),
    };
  }

  /** Runs one flight's actions in order and reports them. */
  async #fly(group: Action[], signal: AbortSignal | undefined): Promise<ActionResult[]> {
    const results = await execute(group, this.#executorOptions(signal));
    // Results cut short by a stopping agent are cancellations, not failures.
    if (!signal?.aborted) this.#recordResults(results, this.#now());
    return results;
  }

  /**
   * A failed pod backs off (and waits for the host's DNS when that was refused); a pod whose
   * actions moved it forward does not. A kill backs off on its own, apart from its pod; a
   * left-over container's removal, under its own key.
   */
  #recordResults(results: ActionResult[], now: number) {
    this.#killFlights.record(results, now);
    const backed = results.filter((r) => r.action.type !== "killContainer");
    const failed = new Set(backed.filter((r) => r.error).map((r) => r.action.key));
    for (const r of backed) {
      const key = r.action.key;
      if (!r.error) {
        const resets = movesPod(r.action.type) || r.action.type === "removeOrphan";
        if (resets && !failed.has(key)) this.#failing.reset(key);
        continue;
      }
      this.#failing.fail(key, now, `${now}`);
      if (r.error instanceof SandboxConfigError) this.#waitingForHostDns.add(key);
    }
    this.#report.results(results, now);
  }

  /**
   * One pass: read, list, plan, start the actions, report. Each pod's actions run as one
   * flight; with `detach`, the pass does not wait for the flights (the loop does this, so a
   * slow pod never delays the others); without, it returns their results.
   */
  async run(
    signal?: AbortSignal,
    { detach = false }: { detach?: boolean } = {},
  ): Promise<PassResult> {
    const t0 = this.#clock.now();
    const r = await this.#pass(signal, detach);
    if (this.#o.metrics) {
      countPass(this.#o.metrics, r, (this.#clock.now() - t0) / 1000, this.#ooms);
    }
    if (r.runtimeReachable) this.#lastGoodPassAt = this.#now();
    return r;
  }

  /** Publishes the agent's state, when it has somewhere to go. */
  async #publish(): Promise<void> {
    if (this.#o.status) await this.#o.status.publish(this.state());
  }

  async #pass(signal: AbortSignal | undefined, detach: boolean): Promise<PassResult> {
    const o = this.#o;
    const flights = this.flights;
    // A flight that ends after this point changed what the listing shows of its pod: the pass
    // plans that pod no further (the flight's end asks for a new pass, which sees the change).
    const listedAfter = flights.ended;
    // The runtime is listed while the files are read and translated: neither waits for the
    // other. Settled here, so a pass that throws before awaiting it leaves no rejection.
    const listing = this.#observer.observe(o.cri, o.instance, signal ? { signal } : {}).then(
      (state) => ({ state, error: undefined }),
      (error: unknown) => ({ state: undefined, error }),
    );
    const scan = await o.source.scan(signal);
    this.#report.directory(scan.present, scan.refused);
    const hostDns = await (o.readHostDns ?? readHostResolvConf)();
    if (!hostDns.errors) {
      for (const key of this.#waitingForHostDns) this.#failing.reset(key);
      this.#waitingForHostDns.clear();
    }
    const desired = await desiredState(
      scan,
      {
        instance: o.instance,
        podLogRoot: o.podLogRoot,
        root: o.root,
        nodeName: o.nodeName,
        hostDns,
        cgroupV2: await (this.#cgroupV2 ??= (o.detectCgroupV2 ?? detectCgroupV2)()),
      },
      this.#translations,
      this.#rollbacks.substitute,
    );
    // A pod whose spec changed is a new attempt: its failures' backoff starts over.
    for (const d of desired.pods.values()) {
      if (this.#hashes.get(d.key) !== d.hash) this.#failing.reset(d.key);
    }
    this.#hashes = new Map([...desired.pods.values()].map((d) => [d.key, d.hash]));
    const problems = [...scan.manifests.flatMap((m) => m.problems), ...desired.problems];
    this.#report.problems(
      problems,
      new Set(scan.manifests.filter((m) => !m.valid).map((m) => m.file)),
    );
    const listed = await listing;
    if (!listed.state) {
      if (signal?.aborted) return idle(false, problems, this.#lastPods);
      this.#report.runtime(await describeEndpoint(o.socket, listed.error));
      await this.#publish();
      return idle(false, problems, this.#lastPods);
    }
    const observed = listed.state;
    this.#report.runtime(undefined);
    await this.#sources.apply(desired, observed);
    const now = this.#now();
    await this.imageUpdates.takeRequest();
    const replacements = this.imageUpdates.afterObserve(desired, observed, signal);
    this.#crash.record(desired, observed, this.#now, (e) => this.#events.add(e), {
      skip: this.imageUpdates.replacing(),
    });
    const kills = this.#kills.pending(observed);
    if (signal?.aborted) {
      // A stopping agent starts nothing more.
      return idle(true, problems, this.#lastPods);
    }
    const ctx = {
      now,
      restartAllowedAt: (key: string) => this.#crash.until(key),
      kills,
      logCheckDue: this.#logChecks.due(now),
      replacements,
    };
    // Before any flight starts: a pod being torn down is never written into.
    await this.#volumes.sync(desired, observed);
    const rollbackAt = await this.#rollbacks.watch(desired, observed, {
      podError: (key) => this.#report.podError(key),
      probes: (id) => this.#probes.statuses(id),
    });
    const planned = plan(desired, observed, ctx);
    // Log rotations change no pod: they run within the pass, not as pod flights. A kill asked
    // for by a probe or a failed postStart hook runs on its own, apart from its pod's flight
    // and failure backoff: the container is unhealthy now.
    const rotations = planned.actions.filter((a): a is RotateLogs => a.type === "rotateLogs");
    const killed = planned.actions.filter((a): a is KillContainer => a.type === "killContainer");
    const podActions = planned.actions.filter((a) =>
      a.type !== "rotateLogs" && a.type !== "killContainer"
    );
    const held = podActions.filter((a) => (this.#failing.until(a.key) ?? 0) > now);
    const ready = podActions.filter((a) =>
      !held.includes(a) && !flights.has(a.key) && !flights.endedSince(a.key, listedAfter)
    );
    // A pod with work planned while its flight still runs asks for a pass at once when it ends.
    for (const a of podActions) if (flights.has(a.key)) flights.want(a.key);
    const kill = this.#killFlights.launch(killed, now, listedAfter, signal);
    flights.forgetEndedBy(listedAfter);
    const actions: Action[] = [...kill.launched];
    const started: Promise<ActionResult[]>[] = [...kill.flights];
    flights.clearQueue();
    for (const [key, group] of groupByPod(ready)) {
      // One flight per pod; at most --parallel at once. In the loop (detached), the rest wait
      // in a queue that finishing flights take from, until the next pass plans again from the
      // newest state; otherwise the next pass plans them again.
      if (flights.full) {
        if (detach) flights.enqueue(key, group);
        else break;
        continue;
      }
      actions.push(...group);
      started.push(flights.launch(key, group, signal));
    }
    const results = detach ? [] : (await Promise.all(started)).flat();
    // A failure is forgotten once nothing is left to do under its key (a left-over container's
    // removal has a key no pod is desired or observed under: it keeps its backoff while planned).
    const plannedKeys = new Set(planned.actions.map((a) => a.key));
    this.#failing.prune((key) =>
      desired.pods.has(key) || observed.pods.has(key) || plannedKeys.has(key)
    );
    this.#killFlights.prune(kills);
    this.#report.forgetUpkeep(planned.actions, kills);
    await runRotations(rotations, this.#executorOptions(signal));
    const errors = this.#report.statusErrors(now, (key) => this.#failing.until(key));
    if (!signal?.aborted) this.#probes.sync(probedContainers(desired, observed, this.#now));
    const pods = podViews(desired, observed, {
      now,
      restartAllowedAt: ctx.restartAllowedAt,
      errors,
      ips: observed.ips,
      ready: (id) => this.#probes.ready(id),
      probes: (id) => this.#probes.statuses(id),
    });
    this.#lastPods = pods;
    await this.#publish();
    // After a change, look again at once: the status then shows what the change did.
    // (Detached flights ask for that themselves when they finish.)
    const changed = results.some((r) => !r.error);
    const next = [
      planned.wakeAt,
      this.#images.nextRetryAt(now),
      ...held.map((a) => this.#failing.until(a.key)),
      ...kill.heldUntil,
      ...results.filter((r) => r.error).map((r) => this.#retryAt(r.action)),
      changed ? now : undefined,
      this.imageUpdates.wakeAt(desired, now),
      o.source.wakeAt?.(now),
      rollbackAt,
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

  /** When a failed action may be tried again: a kill's own backoff, else its key's. */
  #retryAt(a: Action): number | undefined {
    return a.type === "killContainer"
      ? this.#killFlights.retryAt(a.containerId)
      : this.#failing.until(a.key);
  }
}

/** The result of a pass that started nothing. */
function idle(runtimeReachable: boolean, problems: Problem[], pods: PodView[]): PassResult {
  return { runtimeReachable, actions: [], results: [], problems, pods, wakeAt: undefined };
}
