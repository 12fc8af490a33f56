/**
 * Parts of the bench that decide what it measures: `--agent` (another tree's `main.ts`) and
 * reading an agent's log for the pods it started.
 */
import assert from "node:assert/strict";
import { startedPodsIn } from "../bench/agent.ts";
import { parseBenchArgs } from "../bench/flags.ts";
import { createLogger } from "../lib/base/log.ts";
import { UsageError } from "../lib/cmd/cli.ts";

Deno.test("--agent: a file's real path; anything else is a usage error naming the flag", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/old`);
    await Deno.writeTextFile(`${dir}/old/main.ts`, "");
    await Deno.symlink(`${dir}/old`, `${dir}/link`);
    const real = await Deno.realPath(`${dir}/old/main.ts`);
    assert.equal(parseBenchArgs(["--agent", `${dir}/link/main.ts`])?.agent, real);
    assert.equal(parseBenchArgs([])?.agent, undefined);
    for (const wrong of [`${dir}/missing.ts`, `${dir}/old`]) {
      assert.throws(
        () => parseBenchArgs(["--agent", wrong]),
        (err: unknown) =>
          err instanceof UsageError && err.message.includes("--agent") &&
          err.message.includes(`"${wrong}" is not a file`),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startedPodsIn: the pods of 'Started pod' and 'Started container … of pod' lines, text and JSON", () => {
  const lines: string[] = [];
  for (const format of ["text", "json"] as const) {
    const log = createLogger({ format, write: (l) => lines.push(l) });
    log.info(`Started pod default/web-${format}`, { pod: `default/web-${format}` });
    log.info(`Started container app, container sidecar of pod default/later-${format}`, {});
    log.warn("Started container app of pod default/warned, then it failed", {});
    log.info("Removed pod default/gone", {});
    log.warn("Pod default/bad: Started pod default/quoted failed", {});
  }
  lines.push("2026-01-01T00:00:00.000Z INFO  Started pod kube-system/etcd file=/m/etcd.yaml");
  assert.deepEqual(
    [...startedPodsIn(lines)].sort(),
    [
      "default/later-json",
      "default/later-text",
      "default/web-json",
      "default/web-text",
      "kube-system/etcd",
    ],
  );
});
