/**
 * The pods' probes: the probe manager as the agent wires it (handlers on the runtime, results
 * counted and logged, failed liveness and startup probes turned into kill requests), and which
 * containers it watches: the running containers of the desired pods that have a liveness,
 * readiness or startup probe, with where their probes go.
 *
 * @module
 */
import type { Logger } from "../base/log.ts";
import type { AgentMetrics } from "../base/metrics.ts";
import { runHandler } from "../probe/handlers.ts";
import { type ProbedContainer, ProbeManager } from "../probe/probes.ts";
import type { Cri } from "../runtime/cri.ts";
import type { KillRequest } from "./kills.ts";
import type { DesiredState } from "./desired.ts";
import type { ObservedState } from "./observe.ts";

/**
 * The probed containers of `desired` that `observed` shows running in a ready sandbox of the
 * pod's UID; `now` (wall-clock milliseconds) stands for a start time the runtime did not give.
 */
export function probedContainers(
  desired: DesiredState,
  observed: ObservedState,
  now: () => number,
): ProbedContainer[] {
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
        startedAt: status.startedAt > 0 ? status.startedAt / 1e6 : now(),
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
  return probed;
}

/** What the probe manager works with. */
export interface ProbingOptions {
  cri: Cri;
  log: Logger;
  /** Wall-clock milliseconds. */
  now: () => number;
  /** Runs `fn` after `ms` on the agent's clock; returns a canceller. The probes' timers run on it. */
  schedule: (fn: () => void, ms: number) => () => void;
  /** Where probe results are counted. */
  metrics?: AgentMetrics;
  /** A liveness or startup probe failed: its container is to be killed. */
  kill: (request: KillRequest) => void;
}

/** A probe manager whose handlers run on the runtime and whose failures ask for kills. */
export function probeManager(o: ProbingOptions): ProbeManager {
  return new ProbeManager({
    now: o.now,
    schedule: o.schedule,
    run: (spec, target, timeout, signal) =>
      runHandler(spec, target, timeout, { cri: o.cri, signal }),
    kill: (c, kind, grace, message) =>
      o.kill({
        key: c.pod,
        containerId: c.containerId,
        container: c.container,
        reason: kind === "liveness" ? "LivenessProbe" : "StartupProbe",
        message,
        gracePeriodSeconds: grace,
        target: c.target,
        ...(c.preStop ? { preStop: c.preStop } : {}),
      }),
    onResult: (c, kind, outcome) => {
      const [namespace = "", pod = ""] = c.pod.split("/");
      o.metrics?.probeResults.inc({
        namespace,
        pod,
        container: c.container,
        probe: kind,
        result: outcome.ok ? "success" : "failure",
      });
      if (!outcome.ok) {
        o.log.debug(`Probe failed: ${kind} of container ${c.container} of pod ${c.pod}`, {
          output: outcome.output,
        });
      }
    },
  });
}
