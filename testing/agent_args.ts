/**
 * The command line of an agent under test: `deno run <permissions> main.ts`
 * and the flags that point it at a runtime, a manifest directory, a state
 * root and a log root.
 *
 * @module
 */

/** The permission flags of `deno task start`. */
export const RUN_PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-sys",
  "--allow-run",
];

/**
 * The permission flags of `deno task compile`: exactly what the shipped binary may do, for the
 * tests that run the agent or a command as it is shipped.
 */
export const COMPILE_PERMISSIONS: string[] = String(
  JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url))).tasks.compile,
).split(/\s+/).filter((a) => a.startsWith("--allow-"));

/** Absolute path of the agent's `main.ts`. */
export const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** The flags of one agent run; each given field becomes its flag, in this order. */
export interface AgentFlags {
  /** `--socket`: the CRI socket. */
  socket: string;
  /** `--manifests`: the manifest directory. */
  manifests: string;
  /** `--instance`: the name on everything this agent creates. */
  instance?: string;
  /** `--root`: where the agent keeps its state. */
  root?: string;
  /** `--pod-log-root`: where container logs go. */
  podLogRoot?: string;
  /** `--interval`, e.g. `"300ms"`. */
  interval?: string;
  /** `--listen`, e.g. `"127.0.0.1:0"`. */
  listen?: string;
  /** `--insecure-manifest-permissions` when true. */
  insecureManifestPermissions?: boolean;
  /** `--log-format`. */
  logFormat?: "text" | "json";
  /** `--log-level`. */
  logLevel?: "debug" | "info" | "warn" | "error";
  /** Further flags, appended as given. */
  extra?: string[];
}

/** The agent's flags for `flags`, as `main.ts` takes them. */
export function agentFlags(flags: AgentFlags): string[] {
  const args = ["--socket", flags.socket, "--manifests", flags.manifests];
  const valued: [string, string | undefined][] = [
    ["--instance", flags.instance],
    ["--root", flags.root],
    ["--pod-log-root", flags.podLogRoot],
    ["--interval", flags.interval],
    ["--listen", flags.listen],
  ];
  for (const [flag, value] of valued) {
    if (value !== undefined) args.push(flag, value);
  }
  if (flags.insecureManifestPermissions) args.push("--insecure-manifest-permissions");
  if (flags.logFormat !== undefined) args.push("--log-format", flags.logFormat);
  if (flags.logLevel !== undefined) args.push("--log-level", flags.logLevel);
  return [...args, ...flags.extra ?? []];
}

/**
 * Arguments of `deno` that run `main <args>` with `permissions` (`deno task start`'s by
 * default); `main` is this tree's `main.ts` unless another is given.
 */
export function denoRunArgs(
  args: string[],
  permissions: string[] = RUN_PERMISSIONS,
  main: string = MAIN,
): string[] {
  return ["run", ...permissions, main, ...args];
}
