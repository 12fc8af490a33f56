/**
 * Runs host programs (containerd, ctr, runc, tar, ip, mount) for the private
 * containerd, and names their failures.
 *
 * @module
 */

/** How a host program ended and what it printed. */
export interface RunResult {
  success: boolean;
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cmd` with `args` (no stdin) and returns its exit and output. */
export async function run(cmd: string, args: string[]): Promise<RunResult> {
  const out = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    success: out.success,
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}

/** Runs `cmd` and returns its stdout; throws with its stderr when it fails. */
export async function runOk(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (!r.success) {
    throw new Error(
      `Run "${cmd} ${args.join(" ")}": exit code ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`,
    );
  }
  return r.stdout;
}

/** The message of `err`, or `err` as text. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
