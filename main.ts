/**
 * tinylet: runs pods from YAML files on this host, through the container
 * runtime's CRI socket. This file only wires commands, adapters and signals.
 *
 * @module
 */
import { type AgentConfig, type Command, parseCommandLine, UsageError } from "./lib/cmd/cli.ts";
import { USAGE } from "./lib/cmd/help.ts";
import { checkCommand, convertCommand } from "./lib/cmd/check.ts";
import { describeCommand, podsCommand } from "./lib/cmd/pods.ts";
import { topCommand } from "./lib/cmd/top.ts";
import { downCommand } from "./lib/cmd/down.ts";
import { execCommand } from "./lib/cmd/exec.ts";
import { logsCommand } from "./lib/cmd/logs.ts";
import { planCommand } from "./lib/cmd/plan.ts";
import { autoUpdateCommand } from "./lib/cmd/auto_update.ts";
import { ImagePuller } from "./lib/node/images.ts";
import { connectCri } from "./lib/runtime/grpc.ts";
import { meteredCri } from "./lib/agent/metered_cri.ts";
import { warmUp } from "./lib/agent/warm_up.ts";
import { formatDuration } from "./lib/base/duration.ts";
import { checkRuntime, RuntimeUnreachableError } from "./lib/runtime/endpoint.ts";
import { printable } from "./lib/base/escape.ts";
import { serveHttp } from "./lib/agent/routes.ts";
import { createLogger } from "./lib/base/log.ts";
import { AgentMetrics } from "./lib/base/metrics.ts";
import { Reconciler } from "./lib/reconcile/reconciler.ts";
import { STOP_GRACE_MS } from "./lib/reconcile/loop.ts";
import { StatusHeartbeat } from "./lib/agent/heartbeat.ts";
import { SYSTEM_CLOCK } from "./lib/base/clock.ts";
import { defaultDockerConfigPaths, RegistryCredentials } from "./lib/node/registry_auth.ts";
import { ManifestSource } from "./lib/manifest/source.ts";
import { ManifestSources } from "./lib/node/manifest_sources.ts";
import { type OpenedUrl, openUrlSource } from "./lib/cmd/manifest_url.ts";
import { statusFilePath } from "./lib/agent/status_file.ts";
import { within } from "./lib/base/timer.ts";
import { ResourceMetrics, startTimesOf } from "./lib/agent/resource_metrics.ts";
import { processFigures, processMetricsText } from "./lib/agent/process_figures.ts";
import { readNodeUsage } from "./lib/node/node_usage.ts";
import { detectCgroupV2 } from "./lib/node/cgroups.ts";

const encoder = new TextEncoder();

function writeAll(file: { writeSync(p: Uint8Array): number }, bytes: Uint8Array) {
  let off = 0;
  while (off < bytes.length) off += file.writeSync(bytes.subarray(off));
}

const io = {
  out: (line: string) => writeAll(Deno.stdout, encoder.encode(line + "\n")),
  err: (line: string) => writeAll(Deno.stderr, encoder.encode(line + "\n")),
  outBytes: (b: Uint8Array) => writeAll(Deno.stdout, b),
  errBytes: (b: Uint8Array) => writeAll(Deno.stderr, b),
};

/**
 * From SIGINT or SIGTERM, how long the agent waits for its loop and HTTP server to finish: the
 * loop's own grace for cancelled work ({@linkcode STOP_GRACE_MS}), then a second for its last
 * status write. Everything they await is cancelled by the signal, so this bounds only what a
 * cancellation cannot reach (a hung file system, a path that forgot the signal).
 */
export const STOP_DEADLINE_MS = STOP_GRACE_MS + 1_000;
/** Then, how long the last status write (`stoppedAt`) may take before the agent exits anyway. */
export const LAST_WRITE_MS = 1_000;

/** A stop signal, and which of SIGINT and SIGTERM aborted it first. */
type Stop = AbortController & Disposable & { received: "SIGINT" | "SIGTERM" | undefined };

/** One AbortSignal for SIGINT and SIGTERM, released by `using`. */
function stopSignal(): Stop {
  const controller = new AbortController();
  const stop: Stop = Object.assign(controller, {
    received: undefined,
    [Symbol.dispose]() {
      Deno.removeSignalListener("SIGINT", onInt);
      Deno.removeSignalListener("SIGTERM", onTerm);
    },
  });
  const onInt = () => {
    stop.received ??= "SIGINT";
    controller.abort();
  };
  const onTerm = () => {
    stop.received ??= "SIGTERM";
    controller.abort();
  };
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  return stop;
}

/** The exit code of a command cut short by `stop`: 128 + the signal's number. */
function interrupted(stop: Stop): number {
  return stop.received === "SIGTERM" ? 143 : 130;
}

/**
 * The registry credentials to try for an image, from `--registry-config` or the usual places.
 * The file is read at each pull, so edited credentials apply without a restart; each warning
 * about it is said once.
 */
function registryAuthOf(config: AgentConfig, warn: (line: string) => void) {
  const paths = config.registryConfig
    ? [config.registryConfig]
    : defaultDockerConfigPaths(Deno.env);
  const said = new Set<string>();
  return async (image: string) => {
    const { credentials } = await RegistryCredentials.loadFirst(paths);
    for (const w of credentials.warnings) {
      if (!said.has(w)) warn(w);
      said.add(w);
    }
    return credentials.forImage(image);
  };
}

/** Runs the agent until SIGINT or SIGTERM; pods keep running after it exits. */
async function runAgent(config: AgentConfig): Promise<number> {
  const log = createLogger({ format: config.logFormat, level: config.logLevel });
  using stop = stopSignal();
  const metrics = new AgentMetrics();
  // The stop signal cancels every runtime call, whichever path made it.
  using grpc = connectCri(config.socket, { signal: stop.signal });
  const cri = meteredCri(grpc, metrics);
  log.info("tinylet starting", {
    manifests: config.manifests,
    socket: config.socket,
    interval: formatDuration(config.intervalMs),
    instance: config.instance,
    ...(config.manifestUrl ? { manifestUrl: config.manifestUrl.url } : {}),
  });
  if (config.manifestUrl?.insecure) {
    log.warn("Plain http:// is accepted for --manifest-url to any host (--insecure-manifest-url)");
  }
  if (config.insecureManifestPermissions) {
    log.warn("Manifest permissions are not checked (--insecure-manifest-permissions)");
  }
  try {
    const v = await checkRuntime(cri, config.socket, { timeoutMs: 5_000, signal: stop.signal });
    log.info(`Connected to ${v.runtimeName} ${v.runtimeVersion}`, { socket: config.socket });
  } catch {
    // A daemon keeps going: the loop reports the problem once, retries, and says when it is back.
  }
  const registryAuth = registryAuthOf(config, (w) => log.warn(w));
  let url: OpenedUrl | undefined;
  try {
    url = config.manifestUrl && await openUrlSource(config.manifestUrl, {
      root: config.root,
      log,
      metrics,
      clock: SYSTEM_CLOCK,
    });
  } catch (err) {
    log.error((err as Error).message);
    return 2;
  }
  using _url = url;
  const directory = new ManifestSource(config.manifests, {
    insecurePermissions: config.insecureManifestPermissions,
  });
  const source = url ? new ManifestSources(directory, url.source) : directory;
  const reconciler = new Reconciler({
    registryAuth,
    cri,
    clock: SYSTEM_CLOCK,
    source,
    log,
    socket: config.socket,
    instance: config.instance,
    nodeName: config.nodeName,
    root: config.root,
    podLogRoot: config.podLogRoot,
    parallel: config.parallel,
    intervalMs: config.intervalMs,
    logRotation: {
      maxSizeBytes: config.containerLogMaxSize,
      maxFiles: config.containerLogMaxFiles,
    },
    logCheckIntervalMs: config.containerLogMonitorIntervalMs,
    autoUpdateIntervalMs: config.autoUpdateIntervalMs,
    rollbackWindowMs: config.rollbackWindowMs,
    // Once the agent is first idle, the code of a pod's parse, translation and runtime
    // messages is run on a sample, so the next pod's file does not wait for its compilation.
    // Not before the first pass: pods already declared would wait for it.
    onFirstIdle: async () => {
      try {
        await warmUp({
          instance: config.instance,
          podLogRoot: config.podLogRoot,
          root: config.root,
          nodeName: config.nodeName,
          hostDns: { servers: [], searches: [], options: [] },
        });
      } catch (err) {
        log.debug(`Warm-up failed: ${(err as Error).message}`);
      }
    },
    status: new StatusHeartbeat({
      file: statusFilePath(config.root),
      instance: config.instance,
      socket: config.socket,
      manifests: source.dir,
      log,
      clock: SYSTEM_CLOCK,
    }),
    metrics,
  });
  // SIGUSR1 has the agent check the annotated pods' images now (`tinylet auto-update` asks
  // through a file under --root, which needs no permission to signal).
  const checkImages = () => {
    log.info("Checking the images of auto-update pods now (SIGUSR1)");
    reconciler.checkImagesNow();
  };
  Deno.addSignalListener("SIGUSR1", checkImages);
  using _checkImages = {
    [Symbol.dispose]: () => Deno.removeSignalListener("SIGUSR1", checkImages),
  };
  // Read when scraped: kubelet's resource metrics from the runtime and the root cgroup.
  const cgroupV2 = detectCgroupV2();
  const resources = new ResourceMetrics({
    runtime: cri,
    instance: config.instance,
    startTimes: () => startTimesOf(reconciler.pods),
    node: async () => readNodeUsage(await cgroupV2),
    now: () => SYSTEM_CLOCK.epochMs(),
    log,
  });
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  if (config.listen) {
    try {
      server = serveHttp(
        config.listen,
        {
          health: () => reconciler.health(),
          metrics: async () =>
            metrics.render() +
            [
              // A slow runtime costs the resource families (resource_scrape_error 1), not the scrape.
              ...await resources.render({ timeoutMs: 3_000 }),
              ...processMetricsText(await processFigures()),
            ]
              .join("\n") +
            "\n",
          pods: () => reconciler.pods,
        },
        stop.signal,
        (addr) => log.info(`Serving /healthz, /metrics and /pods on ${addr.hostname}:${addr.port}`),
      );
    } catch (err) {
      log.error(
        `Cannot listen on ${config.listen.hostname}:${config.listen.port}: ${
          (err as Error).message
        }`,
      );
      return 1;
    }
  }
  // After the signal, the loop and the server get STOP_DEADLINE_MS to finish (the loop writes
  // `stoppedAt`); past it, the agent writes `stoppedAt` itself and exits: a stop is bounded
  // whatever the runtime, the probes or the hooks do.
  const finished = await within(
    Promise.all([reconciler.run(stop.signal), server?.finished]),
    STOP_DEADLINE_MS,
    stop.signal,
  );
  if (!finished) {
    log.warn(
      `Stopping took longer than ${
        formatDuration(STOP_DEADLINE_MS)
      }: exiting without waiting for the rest`,
    );
    await within(reconciler.publishStopped(), LAST_WRITE_MS);
  }
  log.info("tinylet stopped; pods keep running");
  return 0;
}

/**
 * Runs a command that talks to the runtime, with one clear line when it cannot. `stop` (of a
 * command that waits for Ctrl-C) cancels every runtime call, the version check included: the
 * command then ends at once, with 128 + the signal's number (130 for SIGINT).
 */
async function withRuntime(
  config: AgentConfig,
  fn: (cri: ReturnType<typeof connectCri>) => Promise<number>,
  stop?: Stop,
): Promise<number> {
  const signal = stop?.signal;
  using cri = connectCri(config.socket, signal ? { signal } : {});
  try {
    await checkRuntime(cri, config.socket, { timeoutMs: 5_000, ...(signal ? { signal } : {}) });
  } catch (err) {
    if (stop?.signal.aborted) return interrupted(stop);
    if (err instanceof RuntimeUnreachableError) {
      io.err(printable(err.message));
      return 1;
    }
    throw err;
  }
  try {
    return await fn(cri);
  } catch (err) {
    // A runtime call cancelled by the signal: the command was interrupted, it did not fail.
    if (stop?.signal.aborted) return interrupted(stop);
    throw err;
  }
}

async function dispatch(command: Command): Promise<number> {
  switch (command.command) {
    case "help":
    case "version":
      io.out(command.text);
      return 0;
    case "run":
      return await runAgent(command.config);
    case "check":
      return await checkCommand(command.paths, {
        strict: command.strict,
        insecure: command.config.insecureManifestPermissions,
        instance: command.config.instance,
        root: command.config.root,
        podLogRoot: command.config.podLogRoot,
        manifestUrl: command.config.manifestUrl,
      }, io);
    case "convert":
      return await convertCommand(command.files, io, { showSecrets: command.showSecrets });
    case "plan":
      return await withRuntime(command.config, (cri) => planCommand(command.config, cri, io));
    case "pods":
      return await withRuntime(
        command.config,
        (cri) => podsCommand(command.config, cri, command, io),
      );
    case "top":
      return await withRuntime(
        command.config,
        (cri) => topCommand(command.config, cri, command, io),
      );
    case "describe":
      return await withRuntime(
        command.config,
        (cri) => describeCommand(command.config, cri, command.pod, io),
      );
    case "logs": {
      using stop = stopSignal();
      return await withRuntime(
        command.config,
        (cri) => logsCommand(command.config, cri, { ...command, signal: stop.signal }, io),
        stop,
      );
    }
    case "exec":
      return await withRuntime(
        command.config,
        (cri) => execCommand(command.config, cri, command, io),
      );
    case "down":
      return await withRuntime(
        command.config,
        (cri) => downCommand(command.config, cri, command, io),
      );
    case "auto-update": {
      const auth = registryAuthOf(command.config, (w) => io.err(printable(w)));
      return await withRuntime(command.config, (cri) => {
        const images = new ImagePuller({ cri, now: () => Date.now(), auth });
        return autoUpdateCommand(command.config, cri, {
          dryRun: command.dryRun,
          timeoutMs: command.timeoutMs,
          resolve: (image) => images.refresh(image),
        }, io);
      });
    }
  }
}

/** Entry point: returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let command: Command;
  try {
    command = parseCommandLine(args, { cwd: Deno.cwd(), hostname: Deno.hostname() });
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`tinylet: ${printable(err.message)}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  return await dispatch(command);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
