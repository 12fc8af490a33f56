/**
 * Command-line parsing: the command, its arguments and the agent's settings, from
 * `node:util` `parseArgs` in strict mode over the flags of `flags.ts`; the original agent's
 * single-dash spelling (`-socket=/path`) is accepted too.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { durationFlag, parseDurationNs } from "../base/duration.ts";
import { parseLogSize } from "../node/log_rotation.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "../base/log.ts";
import { HELP, VERSION } from "./help.ts";
import {
  COMMAND_OPTIONS,
  normalizeArgs,
  type OptionName,
  OPTIONS,
  parseArgsMessage,
} from "./flags.ts";
import { type ManifestUrlConfig, manifestUrlConfig } from "./url_flags.ts";

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
  /** How often the images of pods annotated `tinylet.dev/auto-update` are checked. */
  autoUpdateIntervalMs: number;
  /** How long a replacement is watched before it becomes the pod's last good spec; 0: off. */
  rollbackWindowMs: number;
  /** `--manifest-url` and the flags that qualify it; undefined: the directory alone. */
  manifestUrl: ManifestUrlConfig | undefined;
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
    command: "top";
    config: AgentConfig;
    output: "table" | "json";
    namespace: string | undefined;
    containers: boolean;
    sortBy: "cpu" | "memory" | undefined;
  }
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
  | { command: "auto-update"; config: AgentConfig; dryRun: boolean; timeoutMs: number }
  /** `showSecrets`: print Secrets' values (`--show-secrets`); they are redacted otherwise. */
  | { command: "convert"; files: string[]; showSecrets: boolean };

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
    return {
      command: "convert",
      files: rest.map((f) => resolve(env.cwd, f)),
      showSecrets: values["show-secrets"],
    };
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
        // With --manifest-url alone, the URL alone: the directory may be unused.
        paths: rest.length > 0
          ? rest.map((p) => resolve(env.cwd, p))
          : config.manifestUrl
          ? []
          : [config.manifests],
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
    case "top": {
      if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
      const o = values.output ?? "table";
      if (o !== "json" && o !== "table") throw new UsageError(`-o: "${o}" is not json`);
      const by = values["sort-by"];
      if (by !== undefined && by !== "cpu" && by !== "memory") {
        throw new UsageError(`--sort-by: "${by}" is not cpu or memory`);
      }
      return {
        command: "top",
        config,
        output: o,
        namespace: ns,
        containers: values.containers,
        sortBy: by,
      };
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
    case "auto-update":
      if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
      return {
        command: "auto-update",
        config,
        dryRun: values["dry-run"],
        timeoutMs: duration("timeout", values.timeout, { minMs: 0 }),
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
  const autoUpdateIntervalMs = duration(
    "auto-update-interval",
    values["auto-update-interval"],
    { minMs: 1_000 },
  );
  const rollbackWindowMs = rollbackWindow(values["rollback-window"]);
  let manifestUrl: ManifestUrlConfig | undefined;
  try {
    manifestUrl = manifestUrlConfig(values, env.cwd);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
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
    autoUpdateIntervalMs,
    rollbackWindowMs,
    manifestUrl,
  };
}

/** `--rollback-window`: `0` (off, the default) or a duration from 1s. */
function rollbackWindow(text: string): number {
  try {
    if (parseDurationNs(text) === 0n) return 0;
  } catch {
    // Said below, with the flag's name.
  }
  return duration("rollback-window", text, { minMs: 1_000 });
}
