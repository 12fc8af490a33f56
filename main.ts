/**
 * tinylet: runs pods from YAML files on this host, through the container
 * runtime's CRI socket. This file only wires commands, adapters and signals.
 *
 * @module
 */
import { type AgentConfig, type Command, parseCommandLine, USAGE, UsageError } from "./lib/cli.ts";
import { checkCommand, convertCommand } from "./lib/cmd_check.ts";
import { describeCommand, podsCommand } from "./lib/cmd_pods.ts";
import { downCommand, execCommand, logsCommand, planCommand } from "./lib/cmd_runtime.ts";
import { connectCri } from "./lib/cri_grpc.ts";
import { meteredCri } from "./lib/cri_metered.ts";
import { formatDuration } from "./lib/duration.ts";
import { checkRuntime, RuntimeUnreachableError } from "./lib/endpoint.ts";
import { printable } from "./lib/escape.ts";
import { serveHttp } from "./lib/http.ts";
import { createLogger } from "./lib/log.ts";
import { AgentMetrics } from "./lib/metrics.ts";
import { Reconciler } from "./lib/reconciler.ts";
import { defaultDockerConfigPaths, RegistryCredentials } from "./lib/registry_auth.ts";
import { ManifestSource } from "./lib/source.ts";
import { statusFilePath } from "./lib/status_file.ts";

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
 * From SIGINT or SIGTERM, how long the agent waits for its loop and HTTP server to finish.
 * Everything they await is cancelled by the signal, so this bounds only what a cancellation
 * cannot reach (a hung file system, a path that forgot the signal).
 */
const STOP_DEADLINE_MS = 2_500;
/** Then, how long the last status write (`stoppedAt`) may take before the agent exits anyway. */
const LAST_WRITE_MS = 1_000;

/**
 * Waits for `work`: true when it succeeded, false when `ms` passed since `signal` aborted
 * (the work goes on, unwaited for); rejects when it fails.
 */
function settledOrDeadline(
  work: Promise<unknown>,
  signal: AbortSignal,
  ms: number,
): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => timer = setTimeout(() => resolve(false), ms);
    if (signal.aborted) arm();
    else signal.addEventListener("abort", arm, { once: true });
    work.then(() => resolve(true), reject).finally(() => {
      signal.removeEventListener("abort", arm);
      clearTimeout(timer);
    });
  });
}

/** One AbortSignal for SIGINT and SIGTERM, released by `using`. */
function stopSignal(): AbortController & Disposable {
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  return Object.assign(controller, {
    [Symbol.dispose]() {
      Deno.removeSignalListener("SIGINT", stop);
      Deno.removeSignalListener("SIGTERM", stop);
    },
  });
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
  });
  if (config.insecureManifestPermissions) {
    log.warn("Manifest permissions are not checked (--insecure-manifest-permissions)");
  }
  try {
    const v = await checkRuntime(cri, config.socket, { timeoutMs: 5_000, signal: stop.signal });
    log.info(`Connected to ${v.runtimeName} ${v.runtimeVersion}`, { socket: config.socket });
  } catch {
    // A daemon keeps going: the loop reports the problem once, retries, and says when it is back.
  }
  const registryPaths = config.registryConfig
    ? [config.registryConfig]
    : defaultDockerConfigPaths(Deno.env);
  const reportedWarnings = new Set<string>();
  const registryAuth = async (image: string) => {
    // Read at each pull, so edited credentials apply without a restart.
    const { credentials } = await RegistryCredentials.loadFirst(registryPaths);
    for (const w of credentials.warnings) {
      if (!reportedWarnings.has(w)) log.warn(w);
      reportedWarnings.add(w);
    }
    return credentials.forImage(image);
  };
  const reconciler = new Reconciler({
    registryAuth,
    cri,
    source: new ManifestSource(config.manifests, {
      insecurePermissions: config.insecureManifestPermissions,
    }),
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
    statusFile: statusFilePath(config.root),
    metrics,
  });
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  if (config.listen) {
    try {
      server = serveHttp(
        config.listen,
        {
          health: () => reconciler.health(),
          metrics: () => metrics.render(),
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
  const finished = await settledOrDeadline(
    Promise.all([reconciler.run(stop.signal), server?.finished]),
    stop.signal,
    STOP_DEADLINE_MS,
  );
  if (!finished) {
    log.warn(
      `Stopping took longer than ${
        formatDuration(STOP_DEADLINE_MS)
      }: exiting without waiting for the rest`,
    );
    await settledOrDeadline(reconciler.publishStopped(), stop.signal, LAST_WRITE_MS);
  }
  log.info("tinylet stopped; pods keep running");
  return 0;
}

/** Runs a command that talks to the runtime, with one clear line when it cannot. */
async function withRuntime(
  config: AgentConfig,
  fn: (cri: ReturnType<typeof connectCri>) => Promise<number>,
): Promise<number> {
  using cri = connectCri(config.socket);
  try {
    await checkRuntime(cri, config.socket, { timeoutMs: 5_000 });
  } catch (err) {
    if (err instanceof RuntimeUnreachableError) {
      io.err(printable(err.message));
      return 1;
    }
    throw err;
  }
  return await fn(cri);
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
      }, io);
    case "convert":
      return await convertCommand(command.files, io);
    case "plan":
      return await withRuntime(command.config, (cri) => planCommand(command.config, cri, io));
    case "pods":
      return await withRuntime(
        command.config,
        (cri) => podsCommand(command.config, cri, command, io),
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
