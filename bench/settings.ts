/**
 * The bench's fixed settings: the agents' width, how the bench polls, the pauses between
 * figures, the targets printed beside them, and the pod every figure runs.
 *
 * @module
 */

/** `--parallel` of every agent, as the brief and the default have it. */
export const PARALLEL = 4;

/** The bare client's width: as many pods at once as the agent's `--parallel`. */
export const BARE_WIDTH = 4;

/** How often the bench asks the runtime whether the pods are up or gone. */
export const POLL_MS = 20;

/**
 * Over long waits the poll slows to this share of the time elapsed (at most `POLL_MAX_MS`): a
 * ListContainers every 10 ms costs containerd most of a core with 50 pods, which would slow what
 * is measured. The figure is then late by at most 1 % (or 10 ms).
 */
export const POLL_FRACTION = 0.01;

/** The longest pause between two polls. */
export const POLL_MAX_MS = 250;

/**
 * How often the bench reads an agent's `/metrics` while it waits for passes. Every read is a
 * scrape: the agent asks the runtime for its containers' stats and runs `cat` and `ls`. Read
 * every 20 ms, the agent was scraped 50 times a second for seconds before each idle window, no
 * Prometheus's load, and its RSS grew by several MB from it. A wait now ends at most 250 ms late;
 * no figure is timed by it.
 */
export const METRICS_POLL_MS = 250;

/**
 * How often the bench looks in its own copy of an agent's log for the pods it started: in the
 * bench's memory, so it loads neither the runtime nor the agent.
 */
export const LOG_CHECK_MS = 10;

/**
 * How long the bench waits for an agent's log to say its pods started (plus a second per pod)
 * before it polls the runtime instead: a pod finished by a later flight, or an agent that words
 * its lines otherwise, still gets its figure.
 */
export const LOG_WAIT_MS = 20_000;

/** Wall-clock milliseconds (with fractions): comparable with the runtime's timestamps. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** The pause before the next poll, `elapsedMs` after the clock started. */
export function pollDelay(elapsedMs: number): number {
  return Math.min(POLL_MAX_MS, Math.max(POLL_MS, elapsedMs * POLL_FRACTION));
}

/** Pause after each cleanup, so containerd's and runc's asynchronous work does not leak into the next figure. */
export const SETTLE_MS = 1_000;

/** The pods' `terminationGracePeriodSeconds`. */
export const GRACE_SECONDS = 1;

/** How long after a write a file's stat vouches for its content (see lib/manifest/source.ts), with margin. */
export const STAMP_QUIET_MS = 2_100;

/** Samples of each runtime-free pass figure. */
export const PASS_SAMPLES = 20;

/** Targets printed beside the figures. */
export const TARGET = {
  coldRatio: 1.1,
  reactionOverBareMs: 100,
  idleCpuPercent: 0.5,
  idleListCallsPerPass: 2,
  rssMB: 100,
  passMs: 20,
  passTargetPods: 500,
};

/** A `v1` Pod that sleeps, leaves at once on SIGTERM, and waits at most 1 s for it anyway. */
export function manifest(name: string, image: string): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  terminationGracePeriodSeconds: ${GRACE_SECONDS}
  containers:
    - name: main
      image: ${image}
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
`;
}

/** The name of pod `i` of a batch: `prefix-007`. */
export function podName(prefix: string, i: number): string {
  return `${prefix}-${String(i).padStart(3, "0")}`;
}
