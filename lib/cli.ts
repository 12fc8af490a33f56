/**
 * Command-line parsing. `node:util` `parseArgs` in strict mode, behind this
 * one module; the original agent's single-dash spelling (`-socket=/path`)
 * is accepted too.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { parseDuration } from "./duration.ts";
import { parseLogSize } from "./log_rotation.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "./log.ts";

export const VERSION = "0.1.0";

/** A command line that cannot be run: print the message and usage, exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The agent's settings. */
export interface AgentConfig {
  socket: string;
  /** Absolute path of the manifest directory. */
  manifests: string;
  intervalMs: number;
  instance: string;
  podLogRoot: string;
  root: string;
  nodeName: string;
  parallel: number;
  logFormat: LogFormat;
  logLevel: LogLevel;
  insecureManifestPermissions: boolean;
  /** A Docker-style config.json with registry credentials; undefined: the usual places. */
  registryConfig: string | undefined;
  containerLogMaxSize: number;
  containerLogMaxFiles: number;
}

/** A parsed command line. */
export type Command =
  | { command: "run"; config: AgentConfig }
  | { command: "help"; text: string }
  | { command: "version"; text: string };

const OPTIONS = {
  socket: { type: "string", default: "/run/containerd/containerd.sock" },
  manifests: { type: "string", default: "/etc/tinylet/manifests" },
  interval: { type: "string", default: "2s" },
  instance: { type: "string", default: "default" },
  "pod-log-root": { type: "string", default: "/var/log/pods" },
  root: { type: "string", default: "/var/lib/tinylet" },
  "node-name": { type: "string" },
  parallel: { type: "string", default: "4" },
  listen: { type: "string" },
  "log-format": { type: "string", default: "text" },
  "log-level": { type: "string", default: "info" },
  "insecure-manifest-permissions": { type: "boolean", default: false },
  "registry-config": { type: "string" },
  "container-log-max-size": { type: "string", default: "10Mi" },
  "container-log-max-files": { type: "string", default: "5" },
  help: { type: "boolean", short: "h", default: false },
  version: { type: "boolean", default: false },
} as const;

export const USAGE =
  "Usage: tinylet [run] [--socket PATH] [--manifests DIR] [--interval 2s] [--instance NAME] " +
  "[--pod-log-root DIR] [--root DIR] [--node-name NAME] [--parallel N] [--log-format text|json] " +
  "[--log-level debug|info|warn|error] [--insecure-manifest-permissions] [--registry-config PATH] " +
  "(see tinylet --help)";

export const HELP =
  `tinylet ${VERSION}: runs pods from YAML files on this host, through the container runtime (CRI).

Usage:
  tinylet [run] [flags]     run the agent (the default command)
  tinylet version           print the version

Flags:
  --socket PATH             the runtime's CRI socket (default /run/containerd/containerd.sock)
  --manifests DIR           the directory of pod manifests (default /etc/tinylet/manifests)
  --interval DURATION       time between safety-net passes, Go syntax: 500ms, 2s, 1m30s (default 2s)
  --instance NAME           this agent's name on the runtime; agents with other names are left alone (default "default")
  --pod-log-root DIR        where container logs are written (default /var/log/pods)
  --root DIR                the agent's state directory (default /var/lib/tinylet)
  --node-name NAME          the node name for spec.nodeName (default: the host name)
  --parallel N              pods changed at once (default 4)
  --log-format text|json    log lines for a terminal or for log shippers (default text)
  --log-level LEVEL         debug, info, warn or error (default info)
  --insecure-manifest-permissions
                            accept a manifest directory others can write to
  --container-log-max-size SIZE
                            rotate a container's log past this size (default 10Mi)
  --container-log-max-files N
                            log files kept per container, the current one included (default 5)
  --registry-config PATH    registry credentials, a Docker-style config.json (default: the first of
                            $DOCKER_CONFIG/config.json, ~/.docker/config.json, /root/.docker/config.json,
                            /var/lib/kubelet/config.json, /etc/tinylet/config.json)
  -h, --help                print this help
  --version                 print the version

Single-dash spellings such as -socket=/path are accepted too.`;

const KNOWN_LONG = new Set(Object.keys(OPTIONS));

/** Rewrites the original's `-flag` / `-flag=value` spelling to `--flag`. */
export function normalizeArgs(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") {
      out.push(...args.slice(i));
      break;
    }
    const m = /^-([a-z][a-z-]+)(=.*)?$/.exec(a);
    out.push(m && KNOWN_LONG.has(m[1]!) ? `-${a}` : a);
  }
  return out;
}

const INSTANCE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/;

/** Parses the command line; throws {@linkcode UsageError} for anything wrong. */
export function parseCommandLine(
  args: string[],
  env: { cwd: string; hostname: string },
): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: normalizeArgs(args),
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message.split("\n")[0] ?? String(err));
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: "help", text: HELP };
  if (values.version) return { command: "version", text: `tinylet ${VERSION}` };
  const [command = "run", ...rest] = positionals;
  if (command === "version") {
    return { command: "version", text: `tinylet ${VERSION}` };
  }
  if (command === "help") return { command: "help", text: HELP };
  if (command !== "run") throw new UsageError(`unknown command "${command}"`);
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  if (values.listen !== undefined) {
    throw new UsageError(
      "--listen is not available in this version of tinylet",
    );
  }
  let intervalMs: number;
  try {
    intervalMs = parseDuration(values.interval);
  } catch (err) {
    throw new UsageError(`--interval: ${(err as Error).message}`);
  }
  if (intervalMs < 10) {
    throw new UsageError(
      `--interval: "${values.interval}" is shorter than 10ms`,
    );
  }
  const parallel = Number(values.parallel);
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > 64) {
    throw new UsageError(
      `--parallel: "${values.parallel}" is not a whole number from 1 to 64`,
    );
  }
  if (!LOG_FORMATS.includes(values["log-format"] as LogFormat)) {
    throw new UsageError(
      `--log-format: "${values["log-format"]}" is not text or json`,
    );
  }
  if (!LOG_LEVELS.includes(values["log-level"] as LogLevel)) {
    throw new UsageError(
      `--log-level: "${values["log-level"]}" is not debug, info, warn or error`,
    );
  }
  if (values.instance.length > 63 || !INSTANCE.test(values.instance)) {
    throw new UsageError(
      `--instance: "${values.instance}" must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
    );
  }
  let containerLogMaxSize: number;
  try {
    containerLogMaxSize = parseLogSize(values["container-log-max-size"]);
  } catch (err) {
    throw new UsageError(`--container-log-max-size: ${(err as Error).message}`);
  }
  const containerLogMaxFiles = Number(values["container-log-max-files"]);
  if (!Number.isInteger(containerLogMaxFiles) || containerLogMaxFiles < 2) {
    throw new UsageError(
      `--container-log-max-files: "${
        values["container-log-max-files"]
      }" is not a whole number of 2 or more`,
    );
  }
  for (const flag of ["socket", "manifests", "pod-log-root", "root"] as const) {
    if (values[flag] === "") {
      throw new UsageError(`--${flag}: the path is empty`);
    }
  }
  return {
    command: "run",
    config: {
      socket: resolve(env.cwd, values.socket),
      manifests: resolve(env.cwd, values.manifests),
      intervalMs,
      instance: values.instance,
      podLogRoot: resolve(env.cwd, values["pod-log-root"]),
      root: resolve(env.cwd, values.root),
      nodeName: values["node-name"] ?? env.hostname,
      parallel,
      logFormat: values["log-format"] as LogFormat,
      logLevel: values["log-level"] as LogLevel,
      insecureManifestPermissions: values["insecure-manifest-permissions"],
      registryConfig: values["registry-config"] === undefined
        ? undefined
        : resolve(env.cwd, values["registry-config"]),
      containerLogMaxSize,
      containerLogMaxFiles,
    },
  };
}
