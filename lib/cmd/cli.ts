/**
 * Command-line parsing. `node:util` `parseArgs` in strict mode, behind this
 * one module; the original agent's single-dash spelling (`-socket=/path`)
 * is accepted too.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { durationFlag } from "../base/duration.ts";
import { parseLogSize } from "../node/log_rotation.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "../base/log.ts";

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
  /** `host:port` for /healthz, /metrics and /pods; undefined: off. */
  listen: { hostname: string; port: number } | undefined;
  containerLogMaxSize: number;
  containerLogMaxFiles: number;
  /** How often container logs are checked for rotation. */
  containerLogMonitorIntervalMs: number;
}

/** A pod named on the command line. */
export interface PodRef {
  namespace: string;
  name: string;
}

/** A parsed command line. */
export type Command =
  | { command: "run"; config: AgentConfig }
  | { command: "help"; text: string }
  | { command: "version"; text: string }
  | { command: "check"; config: AgentConfig; paths: string[]; strict: boolean }
  | { command: "plan"; config: AgentConfig }
  | {
    command: "pods";
    config: AgentConfig;
    output: "table" | "wide" | "json";
    namespace: string | undefined;
  }
  | { command: "describe"; config: AgentConfig; pod: PodRef }
  | {
    command: "logs";
    config: AgentConfig;
    pod: PodRef;
    container: string | undefined;
    follow: boolean;
    tail: number | undefined;
    previous: boolean;
    timestamps: boolean;
  }
  | {
    command: "exec";
    config: AgentConfig;
    pod: PodRef;
    container: string | undefined;
    cmd: string[];
  }
  | { command: "down"; config: AgentConfig; pods: PodRef[]; all: boolean }
  | { command: "convert"; files: string[] };

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
  "container-log-monitor-interval": { type: "string", default: "10s" },
  help: { type: "boolean", short: "h", default: false },
  version: { type: "boolean", default: false },
  // Options of the operator commands.
  namespace: { type: "string", short: "n" },
  output: { type: "string", short: "o" },
  follow: { type: "boolean", short: "f", default: false },
  tail: { type: "string" },
  previous: { type: "boolean", short: "p", default: false },
  timestamps: { type: "boolean", default: false },
  strict: { type: "boolean", default: false },
  all: { type: "boolean", default: false },
} as const;

type OptionName = keyof typeof OPTIONS;

const AGENT_OPTIONS: OptionName[] = [
  "socket",
  "manifests",
  "interval",
  "instance",
  "pod-log-root",
  "root",
  "node-name",
  "parallel",
  "listen",
  "log-format",
  "log-level",
  "insecure-manifest-permissions",
  "registry-config",
  "container-log-max-size",
  "container-log-max-files",
  "container-log-monitor-interval",
];
/**
 * The agent's flags are common: every command takes them, with the same defaults and the same
 * checks, so one set of flags (an alias, a wrapper, a unit file's) works for every command. A
 * command uses those it needs: `check` the manifest rules and the paths it checks names against,
 * the runtime commands the socket, instance and directories; the rest are checked and ignored.
 */
export const COMMON_OPTIONS: readonly OptionName[] = AGENT_OPTIONS;

/** Which options each command takes: the common ones and its own. */
export const COMMAND_OPTIONS: Readonly<Record<string, readonly OptionName[]>> = {
  run: COMMON_OPTIONS,
  check: [...COMMON_OPTIONS, "strict"],
  plan: COMMON_OPTIONS,
  pods: [...COMMON_OPTIONS, "namespace", "output"],
  describe: [...COMMON_OPTIONS, "namespace"],
  logs: [...COMMON_OPTIONS, "namespace", "follow", "tail", "previous", "timestamps"],
  exec: [...COMMON_OPTIONS, "namespace"],
  down: [...COMMON_OPTIONS, "namespace", "all"],
  convert: COMMON_OPTIONS,
  version: COMMON_OPTIONS,
  help: COMMON_OPTIONS,
};

export const USAGE =
  "Usage: tinylet [run|check|plan|pods|describe|logs|exec|down|convert|version] [flags] (see tinylet --help)";

export const HELP =
  `tinylet ${VERSION}: runs pods from YAML files on this host, through the container runtime (CRI).

Usage:
  tinylet [run] [flags]              run the agent (the default command)
  tinylet check [PATH...] [--strict] validate manifests, no runtime needed (exit 1 on errors)
  tinylet plan                       what the next pass would do, and why; changes nothing
  tinylet pods [-o wide|json] [-n NAMESPACE]
                                     the pods, like kubectl get pods
  tinylet describe POD               containers, state, restarts, events, last error
  tinylet logs POD [CONTAINER] [-f] [--tail N] [--previous] [--timestamps]
                                     a container's output
  tinylet exec POD [CONTAINER] -- CMD...
                                     run a command in a container
  tinylet down [POD...|--all]        remove tinylet's pods (to uninstall)
  tinylet convert FILE...            print the v1 Pod YAML of any manifest tinylet accepts
  tinylet version                    print the version
  POD is NAMESPACE/NAME, or NAME with -n NAMESPACE (default "default").

Flags (every command takes them, with the same defaults):
  --socket PATH             the runtime's CRI socket (default /run/containerd/containerd.sock)
  --manifests DIR           the directory of pod manifests (default /etc/tinylet/manifests)
  --interval DURATION       time between safety-net passes, Go syntax: 500ms, 2s, 1m30s; from 10ms
                            to 596h31m23.647s, the longest a timer holds (default 2s)
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
  --container-log-monitor-interval DURATION
                            how often logs are checked for rotation, from 100ms to 596h31m23.647s
                            (default 10s)
  --listen HOST:PORT        serve /healthz, /metrics and /pods (default: off)
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

/** Parses `host:port` (`[::1]:10248`, `:10248` for all addresses). */
export function parseListen(text: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--listen: "${text}" is not HOST:PORT, e.g. 127.0.0.1:10248`);
  }
  return { hostname: m[1] ?? (m[2] || "0.0.0.0"), port };
}

function podRef(text: string | undefined, namespace: string | undefined, what: string): PodRef {
  if (!text) throw new UsageError(`name the pod: tinylet ${what}`);
  const slash = text.indexOf("/");
  if (slash >= 0) return { namespace: text.slice(0, slash), name: text.slice(slash + 1) };
  return { namespace: namespace ?? "default", name: text };
}

/** node:util's parseArgs messages, said the way tinylet says the others. */
function parseArgsMessage(message: string, args: string[]): string {
  const first = message.split("\n")[0] ?? message;
  const flag = /'(?:-\w, )?([^' ]+)(?: <value>)?'/.exec(first)?.[1];
  if (flag === undefined) return first.replace(/\.$/, "");
  if (first.startsWith("Unknown option")) {
    return `unknown flag "${flag}" (see tinylet --help)`;
  }
  if (first.includes("is ambiguous")) {
    const value = args[args.indexOf(flag) + 1] ?? "";
    return `${flag}: "${value}" starts with a dash: write ${flag}=${value}`;
  }
  if (first.includes("argument missing")) return `${flag}: the value is missing`;
  if (first.includes("does not take an argument")) return `${flag} takes no value`;
  return first.replace(/\.$/, "");
}

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
      tokens: true,
    });
  } catch (err) {
    throw new UsageError(parseArgsMessage((err as Error).message, normalizeArgs(args)));
  }
  const { values, positionals, tokens } = parsed;
  if (values.help) return { command: "help", text: HELP };
  if (values.version) return { command: "version", text: `tinylet ${VERSION}` };
  const terminator = tokens.findIndex((t) => t.kind === "option-terminator");
  const before = terminator < 0
    ? positionals
    : tokens.slice(0, terminator).filter((t) => t.kind === "positional").map((t) =>
      (t as { value: string }).value
    );
  const after = terminator < 0 ? [] : positionals.slice(before.length);
  const [command = "run", ...rest] = before;
  const allowed = COMMAND_OPTIONS[command];
  if (!allowed) throw new UsageError(`unknown command "${command}"`);
  for (const t of tokens) {
    if (t.kind === "option" && !(allowed as string[]).includes(t.name)) {
      throw new UsageError(`--${t.name} is not an option of "tinylet ${command}"`);
    }
  }
  if (after.length > 0 && command !== "exec") {
    throw new UsageError(`unexpected arguments after "--"`);
  }
  if (command === "version") return { command: "version", text: `tinylet ${VERSION}` };
  if (command === "help") return { command: "help", text: HELP };
  const config = agentConfig(values, env);
  if (command === "convert") {
    if (rest.length === 0) {
      throw new UsageError("name the files to convert: tinylet convert FILE...");
    }
    return { command: "convert", files: rest.map((f) => resolve(env.cwd, f)) };
  }
  const ns = values.namespace;
  switch (command) {
    case "run":
    case "plan":
      if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
      return { command, config };
    case "check":
      return {
        command: "check",
        config,
        paths: rest.length > 0 ? rest.map((p) => resolve(env.cwd, p)) : [config.manifests],
        strict: values.strict,
      };
    case "pods": {
      if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
      const o = values.output ?? "table";
      if (o !== "wide" && o !== "json" && o !== "table") {
        throw new UsageError(`-o: "${o}" is not wide or json`);
      }
      return { command: "pods", config, output: o, namespace: ns };
    }
    case "describe":
      if (rest.length > 1) throw new UsageError(`unexpected argument "${rest[1]}"`);
      return { command: "describe", config, pod: podRef(rest[0], ns, "describe POD") };
    case "logs": {
      if (rest.length > 2) throw new UsageError(`unexpected argument "${rest[2]}"`);
      let tail: number | undefined;
      if (values.tail !== undefined) {
        tail = Number(values.tail);
        if (!Number.isInteger(tail) || tail < 0) {
          throw new UsageError(`--tail: "${values.tail}" is not a whole number of lines`);
        }
      }
      return {
        command: "logs",
        config,
        pod: podRef(rest[0], ns, "logs POD [CONTAINER]"),
        container: rest[1],
        follow: values.follow,
        tail,
        previous: values.previous,
        timestamps: values.timestamps,
      };
    }
    case "exec":
      if (rest.length > 2) {
        throw new UsageError(`unexpected argument "${rest[2]}": put the command after "--"`);
      }
      if (after.length === 0) {
        throw new UsageError('give the command after "--": tinylet exec POD [CONTAINER] -- CMD...');
      }
      return {
        command: "exec",
        config,
        pod: podRef(rest[0], ns, "exec POD [CONTAINER] -- CMD..."),
        container: rest[1],
        cmd: after,
      };
    case "down":
      if (values.all && rest.length > 0) throw new UsageError("name pods or give --all, not both");
      if (!values.all && rest.length === 0) {
        throw new UsageError("name the pods to remove, or give --all");
      }
      return {
        command: "down",
        config,
        pods: rest.map((r) => podRef(r, ns, "down POD...")),
        all: values.all,
      };
  }
  throw new UsageError(`unknown command "${command}"`);
}

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>["values"];

function duration(flag: OptionName, text: string, bounds: { minMs: number }): number {
  try {
    return durationFlag(flag, text, bounds);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function agentConfig(values: Values, env: { cwd: string; hostname: string }): AgentConfig {
  const intervalMs = duration("interval", values.interval, { minMs: 10 });
  const parallel = Number(values.parallel);
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > 64) {
    throw new UsageError(`--parallel: "${values.parallel}" is not a whole number from 1 to 64`);
  }
  if (!LOG_FORMATS.includes(values["log-format"] as LogFormat)) {
    throw new UsageError(`--log-format: "${values["log-format"]}" is not text or json`);
  }
  if (!LOG_LEVELS.includes(values["log-level"] as LogLevel)) {
    throw new UsageError(`--log-level: "${values["log-level"]}" is not debug, info, warn or error`);
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
  const containerLogMonitorIntervalMs = duration(
    "container-log-monitor-interval",
    values["container-log-monitor-interval"],
    { minMs: 100 },
  );
  for (const flag of ["socket", "manifests", "pod-log-root", "root"] as const) {
    if (values[flag] === "") throw new UsageError(`--${flag}: the path is empty`);
  }
  return {
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
    listen: values.listen === undefined ? undefined : parseListen(values.listen),
    containerLogMaxSize,
    containerLogMaxFiles,
    containerLogMonitorIntervalMs,
  };
}
