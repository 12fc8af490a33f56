/**
 * What the passes work with: the runtime, the manifest source, the directories, the clock, and
 * the settings of each part (pulls, log rotation, backoff, auto-update).
 *
 * @module
 */
import type { BackoffPolicy } from "../base/backoff.ts";
import type { Clock } from "../base/clock.ts";
import type { Logger } from "../base/log.ts";
import type { AgentMetrics } from "../base/metrics.ts";
import type { RotationPolicy } from "../node/log_rotation.ts";
import type { PassSource } from "../node/manifest_sources.ts";
import type { AuthConfig, Cri } from "../runtime/cri.ts";
import type { ResolvConf } from "../translate/dns.ts";
import type { StatusSink } from "./agent_state.ts";
import type { Problem } from "../manifest/parse.ts";
import type { ActionResult } from "./executor.ts";
import type { Action } from "./plan.ts";
import type { PodView } from "./status.ts";

/** Everything the passes work with. */
export interface PassOptions {
  cri: Cri;
  /** The node name, for `spec.nodeName` and its field references. */
  nodeName: string;
  /** `--rollback-window` in ms (0 or absent: off, unless a pod's annotation sets one). */
  rollbackWindowMs?: number;
  /** Registry credentials for an image, to try in order, asked for when a pull is needed. */
  registryAuth?: (image: string) => Promise<AuthConfig[]>;
  /** Reads the host's DNS settings; defaults to /etc/resolv.conf. */
  readHostDns?: () => Promise<ResolvConf>;
  /** Whether the host runs cgroup v2; asked once. Defaults to reading /proc/self/mountinfo. */
  detectCgroupV2?: () => Promise<boolean>;
  /** The time and the timers; defaults to {@linkcode SYSTEM_CLOCK}. */
  clock?: Clock;
  /** The manifest directory (a `ManifestSource`), with `--manifest-url` beside it or not. */
  source: PassSource;
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
  /** Where the agent's state goes after each pass and when the loop ends; nowhere when absent. */
  status?: StatusSink;
  /** How long a pod whose action failed waits before the next try (default 10 s doubling to 300 s). */
  failureBackoff?: BackoffPolicy;
  /** Where passes, pods and watch events are counted. */
  metrics?: AgentMetrics;
  /**
   * Milliseconds between auto-update checks of the pods annotated `tinylet.dev/auto-update`
   * (default one hour).
   */
  autoUpdateIntervalMs?: number;
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
