/**
 * The flags of the command line: each with its type and default, which commands take which,
 * the original agent's single-dash spelling rewritten, and `node:util` `parseArgs` errors
 * said in tinylet's words.
 *
 * @module
 */

/** Every flag of every command, for `node:util` `parseArgs`. */
export const OPTIONS = {
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
  "auto-update-interval": { type: "string", default: "1h" },
  "rollback-window": { type: "string", default: "0" },
  "manifest-url": { type: "string" },
  "manifest-url-header": { type: "string", multiple: true },
  // No default: given without --manifest-url, it is refused (its default is 20s).
  "manifest-url-interval": { type: "string" },
  "manifest-url-ca": { type: "string" },
  "insecure-manifest-url": { type: "boolean", default: false },
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
  "dry-run": { type: "boolean", default: false },
  timeout: { type: "string", default: "2m" },
  "show-secrets": { type: "boolean", default: false },
  containers: { type: "boolean", default: false },
  "sort-by": { type: "string" },
} as const;

/** The long name of a flag. */
export type OptionName = keyof typeof OPTIONS;

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
  "auto-update-interval",
  "rollback-window",
  "manifest-url",
  "manifest-url-header",
  "manifest-url-interval",
  "manifest-url-ca",
  "insecure-manifest-url",
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
  top: [...COMMON_OPTIONS, "namespace", "output", "containers", "sort-by"],
  logs: [...COMMON_OPTIONS, "namespace", "follow", "tail", "previous", "timestamps"],
  exec: [...COMMON_OPTIONS, "namespace"],
  down: [...COMMON_OPTIONS, "namespace", "all"],
  "auto-update": [...COMMON_OPTIONS, "dry-run", "timeout"],
  convert: [...COMMON_OPTIONS, "show-secrets"],
  version: COMMON_OPTIONS,
  help: COMMON_OPTIONS,
};

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

/** node:util's parseArgs messages, said the way tinylet says the others. */
export function parseArgsMessage(message: string, args: string[]): string {
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
