/**
 * `tinylet auto-update` on a pod rolled back from a new image (the fake runtime, a hand clock):
 * while the tag names the image that failed, its row says so and nothing is to do; once the
 * tag names another, its row says the pod runs it, `--dry-run` says it would replace the pod,
 * and without it the agent is asked and the pod runs the new image.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseCommandLine } from "../lib/cmd/cli.ts";
import { autoUpdateCommand } from "../lib/cmd/auto_update.ts";
import { ImagePuller } from "../lib/node/images.ts";
import { rollbackState } from "../testing/rollback_fixtures.ts";
import {
  APP,
  checkAndPass,
  crashed,
  goodV1,
  theApp,
  updated,
  type UpdateFixture,
  updateFixture,
} from "../testing/rollback_update_fixtures.ts";
import { waitFor } from "../testing/wait.ts";

const HEADER = ["POD", "CONTAINER", "IMAGE", "RUNNING", "LATEST", "RESULT"];
const HELD = "rolled back from the image its tag names (LATEST): tried again once it names another";
const MOVED = "rolled back from another image: its tag names a new one now, which the pod runs";

/** `sha256:` and the first 12 hex digits of `id`, as the table shows it. */
const short = (id: string) => id.slice(0, "sha256:".length + 12);

/** `tinylet auto-update` on the fixture's manifests, root and runtime, at its clock. */
async function autoUpdate(s: UpdateFixture, dryRun: boolean) {
  const parsed = parseCommandLine([
    "auto-update",
    `--manifests=${s.manifests}`,
    `--root=${s.root}`,
    `--pod-log-root=${s.logs}`,
  ], { cwd: "/", hostname: "node1" });
  assert.ok("config" in parsed);
  const images = new ImagePuller({ cri: s.cri, now: () => s.clock.epochMs() });
  const out: string[] = [];
  const err: string[] = [];
  const code = await autoUpdateCommand(parsed.config, s.cri, {
    dryRun,
    timeoutMs: 10_000,
    resolve: (image) => images.refresh(image),
    clock: s.clock,
  }, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err, rows: out.map((l) => l.split(/\s{2,}/)) };
}

/** Pod web, v1 good, rolled back from the image pushed after it; returns both ids. */
async function rolledBack(s: UpdateFixture): Promise<{ v1: string; v2: string }> {
  const v1 = await goodV1(s);
  const v2 = await updated(s);
  await crashed(s);
  await s.reconciler.pass();
  assert.equal((await theApp(s)).imageRef, v1);
  return { v1, v2 };
}

Deno.test("tinylet auto-update: a container rolled back from the image its tag still names has nothing to do", async () => {
  await using s = await updateFixture();
  const { v1, v2 } = await rolledBack(s);
  const pinned = await theApp(s);
  const r = await autoUpdate(s, false);
  assert.equal(r.code, 0, r.err.join("\n"));
  assert.deepEqual(r.rows, [
    HEADER,
    ["default/web", "app", APP, short(v1), short(v2), HELD],
    ["Every image is up to date"],
  ]);
  assert.deepEqual(r.err, []);
  assert.equal((await theApp(s)).id, pinned.id);
});

Deno.test("tinylet auto-update --dry-run: a container rolled back from another image than its tag names now would be replaced", async () => {
  await using s = await updateFixture();
  const { v1 } = await rolledBack(s);
  const pinned = await theApp(s);
  const v3 = s.cri.pushToRegistry(APP);
  const r = await autoUpdate(s, true);
  assert.equal(r.code, 0, r.err.join("\n"));
  assert.deepEqual(r.rows, [
    HEADER,
    ["default/web", "app", APP, short(v1), short(v3), MOVED],
    ["Would replace 1 pod: default/web"],
  ]);
  assert.equal((await theApp(s)).id, pinned.id, "nothing replaced");
  assert.ok((await rollbackState(s))?.rolledBack, "still rolled back");
});

Deno.test("tinylet auto-update: a container rolled back from another image than its tag names now is run by the agent, asked", async () => {
  await using s = await updateFixture({ statusFile: true });
  await rolledBack(s);
  const v3 = s.cri.pushToRegistry(APP);
  let done = false;
  const run = autoUpdate(s, false).finally(() => (done = true));
  const request = `${s.root}/auto-update-request`;
  await waitFor("the request", () => Deno.lstat(request).then(() => true, () => false));
  // The agent takes the request: its check finds the tag moved, and the pod runs it.
  await checkAndPass(s.reconciler);
  assert.equal((await theApp(s)).imageRef, v3);
  while (!done) await s.clock.advance(250);
  const r = await run;
  assert.equal(r.code, 0, [...r.out, ...r.err].join("\n"));
  assert.deepEqual(r.out.slice(-2), [
    `Asked the agent (PID ${Deno.pid}) to replace default/web`,
    `Updated default/web: app runs ${short(v3)}`,
  ]);
  assert.equal((await rollbackState(s))?.rolledBack, undefined);
});
