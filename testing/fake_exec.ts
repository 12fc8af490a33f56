/**
 * The fake runtime's stand-in for a shell: what a container's command does when it starts
 * (`exit N`, `true`, `false` end it at once; anything else keeps it running) and what an
 * `ExecSync` prints and exits with (`echo`, `true`, `false`, `exit N`, alone or in
 * `sh -c "a; b"` lists), and how long an `ExecSync` takes (the `sleep N` in its command).
 *
 * @module
 */
import type { ContainerConfig, ExecResult } from "../lib/runtime/cri.ts";
import { CriError } from "../lib/runtime/errors.ts";
import { abortableDelay, cancelled } from "./fake_injections.ts";

const encoder = new TextEncoder();

/** Splits `sh -c "a; b"` into statements; other commands are one statement. */
export function statements(cmd: string[]): string[][] {
  if ((cmd[0] === "sh" || cmd[0] === "/bin/sh") && cmd[1] === "-c") {
    return (cmd[2] ?? "").split(/;|&&/).map((s) => s.trim().split(/\s+/).filter(Boolean))
      .filter((s) => s.length > 0);
  }
  return [cmd];
}

/** The exit code a container's command reaches at once, or undefined while it keeps running. */
export function scriptExitCode(cmd: string[]): number | undefined {
  const list = statements(cmd);
  for (const st of list) {
    switch (st[0]) {
      case "exit":
        return Number(st[1] ?? 0);
      case "true":
        return 0;
      case "false":
        return 1;
      case "echo":
        continue;
      default:
        return undefined;
    }
  }
  return list.length > 0 ? 0 : undefined;
}

/** The default `ExecSync` of the fake: runs `cmd` as the module doc says. */
export function defaultExec(_container: ContainerConfig, cmd: string[]): ExecResult {
  let stdout = "";
  let stderr = "";
  for (const st of statements(cmd)) {
    const [head, ...rest] = st;
    if (head === "exit") {
      return {
        stdout: encoder.encode(stdout),
        stderr: encoder.encode(stderr),
        exitCode: Number(rest[0] ?? 0),
      };
    }
    if (head === "false") {
      return {
        stdout: encoder.encode(stdout),
        stderr: encoder.encode(stderr),
        exitCode: 1,
      };
    }
    if (head === "echo") {
      const toErr = rest.at(-1) === ">&2";
      const words = (toErr ? rest.slice(0, -1) : rest).map((w) => w.replace(/^['"]|['"]$/g, ""));
      if (toErr) stderr += words.join(" ") + "\n";
      else stdout += words.join(" ") + "\n";
    }
  }
  return {
    stdout: encoder.encode(stdout),
    stderr: encoder.encode(stderr),
    exitCode: 0,
  };
}

/**
 * Waits as long as the `sleep N` statements of an `ExecSync` command add up to, as a real
 * container would. Past `timeoutSeconds` (0: none) it stops at the timeout and throws
 * DeadlineExceeded; when `signal` aborts, it throws Cancelled.
 */
export async function sleepsOf(
  cmd: string[],
  timeoutSeconds: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const seconds = statements(cmd).filter((st) => st[0] === "sleep")
    .reduce((sum, st) => sum + (Number(st[1]) || 0), 0);
  if (seconds <= 0) return;
  const late = timeoutSeconds > 0 && seconds > timeoutSeconds;
  try {
    await abortableDelay((late ? timeoutSeconds : seconds) * 1000, signal);
  } catch {
    throw cancelled("ExecSync", signal);
  }
  if (late) {
    throw new CriError(
      "DeadlineExceeded",
      "ExecSync",
      `ExecSync: failed to exec in container: timeout ${timeoutSeconds}s exceeded: context deadline exceeded`,
    );
  }
}
