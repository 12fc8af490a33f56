/**
 * tinylet: runs pods from YAML files on this host, through the container
 * runtime's CRI socket. This file only wires flags, adapters and signals.
 *
 * @module
 */
import { type AgentConfig, parseCommandLine, USAGE, UsageError } from "./lib/cli.ts";
import { connectCri } from "./lib/cri_grpc.ts";
import { checkRuntime } from "./lib/endpoint.ts";
import { formatDuration } from "./lib/duration.ts";
import { createLogger } from "./lib/log.ts";
import { Reconciler } from "./lib/reconciler.ts";
import { ManifestSource } from "./lib/source.ts";
import { defaultDockerConfigPaths, RegistryCredentials } from "./lib/registry_auth.ts";

/** Runs the agent until SIGINT or SIGTERM; pods keep running after it exits. */
async function runAgent(config: AgentConfig): Promise<number> {
  const log = createLogger({
    format: config.logFormat,
    level: config.logLevel,
  });
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  using cri = connectCri(config.socket);
  try {
    log.info("tinylet starting", {
      manifests: config.manifests,
      socket: config.socket,
      interval: formatDuration(config.intervalMs),
      instance: config.instance,
    });
    try {
      const v = await checkRuntime(cri, config.socket, { timeoutMs: 5_000 });
      log.info(`Connected to ${v.runtimeName} ${v.runtimeVersion}`, {
        socket: config.socket,
      });
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
      statusFile: `${config.root}/status.json`,
    });
    await reconciler.run(controller.signal);
    log.info("tinylet stopped; pods keep running");
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
}

/** Entry point: returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let command;
  try {
    command = parseCommandLine(args, {
      cwd: Deno.cwd(),
      hostname: Deno.hostname(),
    });
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`tinylet: ${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  switch (command.command) {
    case "help":
    case "version":
      console.log(command.text);
      return 0;
    case "run":
      return await runAgent(command.config);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
