/**
 * `tinylet down` against the fake runtime: a removal that fails for a while (the runtime still
 * starting a container) is tried again until it succeeds or the window ends; the window and the
 * waits between tries run on a clock the test moves by hand.
 */
import assert from "node:assert/strict";
import { parseCommandLine } from "../lib/cmd/cli.ts";
import { downCommand } from "../lib/cmd/down.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { HandClock } from "../testing/hand_clock.ts";
import type { Clock } from "../lib/base/clock.ts";

const UID = "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0";
const STARTING = "failed to set removing state for container: container is in starting state";

async function world() {
  const dir = await Deno.makeTempDir({ prefix: "tinylet_down_test_" });
  const cri = new FakeCri();
  await cri.runPodSandbox({
    metadata: { name: "web", namespace: "default", uid: UID, attempt: 0 },
    labels: {
      "tinylet": "true",
      "tinylet/instance": "default",
      [KEYS.podName]: "web",
      [KEYS.podNamespace]: "default",
      [KEYS.podUid]: UID,
    },
  });
  const command = parseCommandLine(
    ["down", "--all", "--root", `${dir}/root`, "--pod-log-root", `${dir}/logs`],
    { cwd: dir, hostname: "node1" },
  );
  assert.ok(command.command === "down");
  const down = async (retryForMs?: number, clock?: Clock) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await downCommand(command.config, cri, {
      pods: [],
      all: true,
      ...(retryForMs === undefined ? {} : { retryForMs }),
      ...(clock === undefined ? {} : { clock }),
    }, { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out, err };
  };
  return {
    cri,
    down,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

Deno.test("down tries a pod whose removal failed again, and reports it removed once it goes", async () => {
  await using w = await world();
  w.cri.inject("RemovePodSandbox", { error: new Error(STARTING), times: 3 });
  const r = await w.down();
  assert.deepEqual(r, { code: 0, out: ["pod default/web removed"], err: [] });
  assert.deepEqual(await w.cri.listPodSandbox(), []);
  assert.equal(w.cri.methods().filter((m) => m === "RemovePodSandbox").length, 4);
});

Deno.test("down reports the last error once its window ends, and leaves the pod listed", async () => {
  await using w = await world();
  w.cri.inject("RemovePodSandbox", { error: new Error(STARTING), times: Infinity });
  const clock = new HandClock();
  const triedAt: number[] = [];
  const remove = w.cri.removePodSandbox.bind(w.cri);
  w.cri.removePodSandbox = (id, opts) => {
    triedAt.push(clock.now());
    return remove(id, opts);
  };
  let endedAt: number | undefined;
  const running = w.down(600, clock).finally(() => endedAt = clock.now());
  // Each wait of down's fires once the test moves the clock to it; the I/O between waits
  // finishes on its own turns of the event loop.
  for (let turn = 0; endedAt === undefined; turn++) {
    assert.ok(turn < 10_000, `down still running at ${clock.now()} ms on the hand clock`);
    if (!(await clock.fireNext())) await clock.settle();
  }
  const r = await running;
  // A try every 250 ms from 0; the one at 750 ms is the first at or past the 600 ms window's
  // end, and down gives up right after it, having waited the whole window.
  assert.deepEqual(triedAt, [0, 250, 500, 750]);
  assert.equal(endedAt, 750);
  assert.equal(r.code, 1);
  assert.deepEqual(r.out, []);
  assert.equal(r.err.length, 1, r.err.join("\n"));
  assert.match(r.err[0]!, new RegExp(`^Cannot remove pod default/web: .*${STARTING}`));
  assert.equal(w.cri.methods().filter((m) => m === "RemovePodSandbox").length, 4);
  assert.equal((await w.cri.listPodSandbox()).length, 1);
});
