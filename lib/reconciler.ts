/**
 * The reconcile loop. A start, a file event or a tick only says "look
 * again": every pass re-reads the directory, lists the runtime, plans and
 * executes. Passes never overlap; bursts of events are coalesced.
 *
 * @module
 */
import type { AuthConfig, Cri } from "./cri.ts";
import { desiredState } from "./desired.ts";
import { type ActionResult, execute } from "./executor.ts";
import type { Logger } from "./log.ts";
import { formatProblem, type Problem } from "./manifest.ts";
import { observe } from "./observe.ts";
import { describeEndpoint } from "./endpoint.ts";
import { type Action, plan } from "./plan.ts";
import type { ManifestSource } from "./source.ts";
import { parseResolvConf, type ResolvConf } from "./dns.ts";

/** The host's /etc/resolv.conf; empty when it cannot be read. */
export async function readHostResolvConf(): Promise<ResolvConf> {
  try {
    return parseResolvConf(await Deno.readTextFile("/etc/resolv.conf"));
  } catch {
    return { servers: [], searches: [], options: [] };
  }
}

/** Everything the reconciler works with. */
export interface ReconcilerOptions {
  cri: Cri;
  /** The node name, for `spec.nodeName` and its field references. */
  nodeName: string;
  /** Registry credentials for an image, asked for when a pull is needed. */
  registryAuth?: (image: string) => Promise<AuthConfig | undefined>;
  /** Reads the host's DNS settings; defaults to /etc/resolv.conf. */
  readHostDns?: () => Promise<ResolvConf>;
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
}

/** What one pass did. */
export interface PassResult {
  /** False when the runtime could not be listed; nothing was changed then. */
  runtimeReachable: boolean;
  actions: Action[];
  results: ActionResult[];
  problems: Problem[];
}

/** Coalesces events within this many milliseconds into one pass. */
export const DEBOUNCE_MS = 50;
const RUNTIME_BACKOFF_MIN_MS = 250;
const RUNTIME_BACKOFF_MAX_MS = 5_000;

/** The agent's loop. */
export class Reconciler {
  readonly #o: ReconcilerOptions;
  #reported = new Map<string, string>();
  #podErrors = new Map<string, string>();
  #runtimeDown: string | undefined;
  #dirMissingLogged = false;

  constructor(options: ReconcilerOptions) {
    this.#o = options;
  }

  /** One pass: read, list, plan, execute, report. Never throws for runtime or manifest trouble. */
  async pass(signal?: AbortSignal): Promise<PassResult> {
    const o = this.#o;
    const scan = await o.source.scan();
    this.#reportDirectory(scan.present);
    const desired = await desiredState(scan, {
      instance: o.instance,
      podLogRoot: o.podLogRoot,
      root: o.root,
      nodeName: o.nodeName,
      hostDns: await (o.readHostDns ?? readHostResolvConf)(),
    });
    const problems = [
      ...scan.manifests.flatMap((m) => m.problems),
      ...desired.problems,
    ];
    this.#reportProblems(problems);
    let observed;
    try {
      observed = await observe(o.cri, o.instance, signal ? { signal } : {});
    } catch (err) {
      if (signal?.aborted) {
        return { runtimeReachable: false, actions: [], results: [], problems };
      }
      this.#reportRuntime(await describeEndpoint(o.socket, err));
      return { runtimeReachable: false, actions: [], results: [], problems };
    }
    this.#reportRuntime(undefined);
    const actions = plan(desired, observed);
    const results = await execute(actions, {
      cri: o.cri,
      log: o.log,
      root: o.root,
      podLogRoot: o.podLogRoot,
      parallel: o.parallel,
      ...(o.registryAuth ? { registryAuth: o.registryAuth } : {}),
      ...(signal ? { signal } : {}),
    });
    this.#reportResults(results);
    o.log.debug("Pass done", { actions: actions.length, pods: desired.pods.size });
    return { runtimeReachable: true, actions, results, problems };
  }

  /** Runs passes until `signal` aborts: one at start, then on file events and every interval. */
  async run(signal: AbortSignal): Promise<void> {
    const wake = new Wake();
    const tick = setInterval(() => wake.poke(), this.#o.intervalMs);
    const watcher = new DirectoryWatcher(
      this.#o.source.dir,
      () => wake.poke(DEBOUNCE_MS),
    );
    const onAbort = () => wake.poke();
    signal.addEventListener("abort", onAbort);
    let backoff = RUNTIME_BACKOFF_MIN_MS;
    try {
      while (!signal.aborted) {
        watcher.ensure();
        const r = await this.pass(signal);
        if (signal.aborted) break;
        if (r.runtimeReachable) {
          backoff = RUNTIME_BACKOFF_MIN_MS;
          await wake.wait();
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
    }
  }

  #reportDirectory(present: boolean) {
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
      const errors = list.some((p) => p.severity === "error");
      for (const p of list) {
        const line = formatProblem(p);
        if (p.severity === "error") this.#o.log.error(line, { file });
        else this.#o.log.warn(line, { file });
      }
      if (errors) {
        this.#o.log.error(
          `Ignoring ${file} until it is fixed: pods it started keep running`,
          {
            file,
          },
        );
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
    if (this.#runtimeDown !== message) o.log.error(message);
    this.#runtimeDown = message;
  }

  /** Logs a pod's failure once per distinct error; successes are logged by the executor. */
  #reportResults(results: ActionResult[]) {
    for (const r of results) {
      const key = r.action.key;
      if (!r.error) {
        this.#podErrors.delete(key);
        continue;
      }
      const text = `${r.action.type}: ${r.error.message}`;
      if (this.#podErrors.get(key) === text) continue;
      this.#podErrors.set(key, text);
      this.#o.log.error(`Failed to ${describe(r.action)}: ${r.error.message}`, {
        pod: key,
        reason: r.action.reason,
      });
    }
  }
}

function describe(a: Action): string {
  switch (a.type) {
    case "createPod":
      return `start pod ${a.key}`;
    case "deletePod":
      return `remove pod ${a.key}`;
    case "createContainer":
    case "startContainer":
      return `start container ${a.container} of pod ${a.key}`;
  }
}

/** A wake-up flag: pokes while a pass runs are remembered, so no change is missed. */
class Wake {
  #pending = false;
  #resolve: (() => void) | undefined;
  #debounce: ReturnType<typeof setTimeout> | undefined;
  #sleep: ReturnType<typeof setTimeout> | undefined;

  /** Wakes the loop, now or after `delayMs` (coalescing pokes within it). */
  poke(delayMs = 0): void {
    if (delayMs > 0) {
      this.#debounce ??= setTimeout(() => {
        this.#debounce = undefined;
        this.poke();
      }, delayMs);
      return;
    }
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

/** Watches the manifest directory (not recursively); re-arms itself when the directory appears. */
class DirectoryWatcher {
  #watcher: Deno.FsWatcher | undefined;
  #loop: Promise<void> | undefined;

  constructor(readonly dir: string, readonly onEvent: () => void) {}

  /** Starts watching if not watching yet (the directory may not exist). */
  ensure(): void {
    if (this.#watcher) return;
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(this.dir, { recursive: false });
    } catch {
      return; // Missing for now; the tick keeps looking.
    }
    this.#watcher = watcher;
    this.#loop = (async () => {
      try {
        for await (const _event of watcher) this.onEvent();
      } catch {
        // The directory went away; fall back to ticks until it is back.
      } finally {
        if (this.#watcher === watcher) this.#watcher = undefined;
      }
    })();
  }

  async close(): Promise<void> {
    const w = this.#watcher;
    this.#watcher = undefined;
    try {
      w?.close();
    } catch {
      // Already closed.
    }
    await this.#loop;
  }
}
