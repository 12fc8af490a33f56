/**
 * The CRI contract's cases on ExecSync: its output and exit code, and how it ends past its
 * exec timeout (DeadlineExceeded at the timeout), when cancelled (Cancelled, by the client) and
 * past the call's own deadline; the container and the runtime go on after each.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Cri } from "../lib/runtime/cri.ts";
import { CriError } from "../lib/runtime/errors.ts";
import {
  type ContractEnv,
  type ContractPod,
  createSleeper,
  decoder,
} from "./cri_contract_fixtures.ts";

/** Runs the ExecSync cases in the shared sandbox `pod` as steps of `t`. */
export async function execCases(
  t: Deno.TestContext,
  cri: Cri,
  env: ContractEnv,
  pod: ContractPod,
): Promise<void> {
  await t.step(
    "ExecSync returns stdout, stderr and the exit code",
    async () => {
      const id = await createSleeper(cri, env, pod, "exec");
      await cri.startContainer(id);
      const r = await cri.execSync(id, [
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
      ], 10);
      assert.equal(decoder.decode(r.stdout), "out\n");
      assert.equal(decoder.decode(r.stderr), "err\n");
      assert.equal(r.exitCode, 3);
      const ok = await cri.execSync(id, ["echo", "hello"], 10);
      assert.equal(decoder.decode(ok.stdout), "hello\n");
      assert.equal(ok.exitCode, 0);
      await cri.stopContainer(id, 0);
      await cri.removeContainer(id);
    },
  );

  await t.step(
    "an ExecSync past its timeout fails as DeadlineExceeded at the timeout",
    async () => {
      const id = await createSleeper(cri, env, pod, "late");
      await cri.startContainer(id);
      const t0 = performance.now();
      await assert.rejects(cri.execSync(id, ["sleep", "30"], 1), (err) => {
        assert.ok(err instanceof CriError, `not a CriError: ${err}`);
        assert.equal(err.kind, "DeadlineExceeded", err.message);
        return true;
      });
      const ms = performance.now() - t0;
      assert.ok(ms >= 900 && ms < 5_000, `failed after ${Math.round(ms)} ms`);
      await cri.stopContainer(id, 0);
      await cri.removeContainer(id);
    },
  );

  await t.step(
    "an ExecSync cancelled while it runs ends as Cancelled at once; the container and the runtime go on",
    async () => {
      const id = await createSleeper(cri, env, pod, "cancel");
      await cri.startContainer(id);
      const controller = new AbortController();
      const exec = cri.execSync(id, ["sleep", "30"], 60, { signal: controller.signal });
      // It is running: a 30 s command has not answered after half a second.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const early = await Promise.race([
        exec.then(() => "answered", (err) => `failed: ${err}`),
        new Promise<string>((resolve) => timer = setTimeout(() => resolve("running"), 500)),
      ]);
      clearTimeout(timer);
      assert.equal(early, "running");
      controller.abort();
      // Ended by the client's cancel, before any answer from the runtime: the 30 s command
      // and its 60 s timeout are far off, and the call's deadline would be DeadlineExceeded.
      await assert.rejects(exec, (err) => {
        assert.ok(err instanceof CriError, `not a CriError: ${err}`);
        assert.equal(err.kind, "Cancelled", err.message);
        assert.match(err.message, /Cancelled on client/);
        return true;
      });
      assert.equal((await cri.containerStatus(id)).state, "CONTAINER_RUNNING");
      const after = await cri.execSync(id, ["echo", "still"], 10);
      assert.equal(decoder.decode(after.stdout), "still\n");
      await cri.stopContainer(id, 0);
      await cri.removeContainer(id);
    },
  );

  await t.step(
    "a call past its own deadline (an ExecSync with no exec timeout) fails as DeadlineExceeded at that deadline; the container and the runtime go on",
    async () => {
      const id = await createSleeper(cri, env, pod, "deadline");
      await cri.startContainer(id);
      const t0 = performance.now();
      await assert.rejects(cri.execSync(id, ["sleep", "30"], 0, { timeoutMs: 1_000 }), (err) => {
        assert.ok(err instanceof CriError, `not a CriError: ${err}`);
        assert.equal(err.kind, "DeadlineExceeded", err.message);
        return true;
      });
      const ms = performance.now() - t0;
      assert.ok(ms >= 950 && ms < 5_000, `failed after ${Math.round(ms)} ms`);
      assert.equal((await cri.containerStatus(id)).state, "CONTAINER_RUNNING");
      const after = await cri.execSync(id, ["echo", "still"], 10);
      assert.equal(decoder.decode(after.stdout), "still\n");
      await cri.stopContainer(id, 0);
      await cri.removeContainer(id);
    },
  );
}
