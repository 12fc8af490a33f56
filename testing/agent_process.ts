/**
 * Runs `main.ts` as a child process, the way a user runs the agent, and
 * follows what it logs.
 *
 * @module
 */
import { denoRunArgs } from "./agent_args.ts";
import { waitFor } from "./wait.ts";

/** A running agent. */
export interface AgentProcess extends AsyncDisposable {
  /** The agent's pid: `deno run main.ts` is the agent. */
  pid: number;
  /** True once the process has exited. */
  readonly exited: boolean;
  /** Every line it wrote to stderr so far. */
  lines: string[];
  /** Waits for a line matching `re` that comes after the first `after` lines. */
  waitForLine(re: RegExp, options?: { after?: number; timeoutMs?: number }): Promise<string>;
  /** Sends `signal` and returns the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
  /** Kills it with SIGKILL and waits. */
  kill(): Promise<void>;
}

/**
 * Starts `deno run <permissions> main.ts <args>` in `cwd`; the permissions default to
 * `RUN_PERMISSIONS` (those of `deno task start`), `main.ts` to this tree's (`main` runs
 * another's, as the bench does to compare versions).
 */
export function startAgent(
  args: string[],
  options: { cwd?: string; permissions?: string[]; main?: string } = {},
): AgentProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: denoRunArgs(args, options.permissions, options.main),
    cwd: options.cwd ?? Deno.cwd(),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const lines: string[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop() ?? "";
      lines.push(...parts);
    }
    if (rest) lines.push(rest);
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited = false;
  child.status.then(() => exited = true);
  let exit: Promise<number> | undefined;
  const finish = async () => {
    exit ??= child.status.then(async (s) => {
      await pumps;
      return s.code;
    });
    return await exit;
  };
  return {
    pid: child.pid,
    get exited() {
      return exited;
    },
    lines,
    waitForLine(re, { after = 0, timeoutMs = 20_000 } = {}) {
      return waitFor(
        () => `a log line matching ${re}; the agent logged:\n${lines.join("\n")}`,
        () => lines.slice(after).find((l) => re.test(l)),
        { timeoutMs },
      );
    },
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch {
        // Already gone.
      }
      return await finish();
    },
    async kill() {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await finish();
    },
    async [Symbol.asyncDispose]() {
      await this.kill();
    },
  };
}
