/**
 * The fake runtime's stand-in for a shell: what a container's command does when it starts
 * (`exit N`, `true`, `false` end it at once; anything else keeps it running) and what an
 * `ExecSync` prints and exits with (`echo`, `true`, `false`, `exit N`, alone or in
 * `sh -c "a; b"` lists).
 *
 * @module
 */
import type { ContainerConfig, ExecResult } from "../lib/runtime/cri.ts";

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
