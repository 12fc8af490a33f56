import assert from "node:assert/strict";
import { HEARTBEAT_MS, StatusHeartbeat } from "../lib/agent/heartbeat.ts";
import type { StatusFile } from "../lib/agent/status_file.ts";
import { createLogger } from "../lib/base/log.ts";
import type { AgentState } from "../lib/reconcile/agent_state.ts";
import type { PodView } from "../lib/reconcile/status.ts";
import { HandClock } from "../testing/hand_clock.ts";

const IDLE: AgentState = { pods: [], runtimeError: undefined, events: {} };

/** A heartbeat on a hand clock whose writes are kept in memory, in order. */
function heartbeat() {
  const clock = new HandClock();
  const writes: StatusFile[] = [];
  const beat = new StatusHeartbeat({
    file: "/nonexistent/status.json",
    instance: "default",
    socket: "/run/fake.sock",
    manifests: "/etc/tinylet/manifests",
    log: createLogger({ write: () => {} }),
    clock,
    write: (_file, status) => {
      writes.push(status);
      return Promise.resolve();
    },
  });
  return { clock, writes, beat };
}

Deno.test("an idle agent's status is written again every 10 s though no pass publishes it", async () => {
  // With --interval 60s an idle agent passes once a minute: the commands, which take a status
  // older than 30 s for a stopped agent, must still see it alive.
  const { clock, writes, beat } = heartbeat();
  await beat.publish(IDLE);
  assert.equal(writes.length, 1);
  await clock.advance(HEARTBEAT_MS - 1);
  assert.equal(writes.length, 1, "nothing new to say, and the heartbeat is not due");
  await clock.advance(1);
  await clock.settle();
  assert.equal(writes.length, 2);
  await clock.advance(2 * HEARTBEAT_MS);
  await clock.settle();
  assert.equal(writes.length, 4);
  const stamps = writes.map((w) =>
    Date.parse(w.agent.updatedAt) - Date.parse(writes[0]!.agent.updatedAt)
  );
  assert.deepEqual(stamps, [0, HEARTBEAT_MS, 2 * HEARTBEAT_MS, 3 * HEARTBEAT_MS]);
  assert.ok(writes.every((w) => w.agent.stoppedAt === null));
  await beat.stopped(IDLE);
});

Deno.test("a pass's write puts the next heartbeat 10 s after it", async () => {
  const { clock, writes, beat } = heartbeat();
  await beat.publish(IDLE);
  await clock.advance(HEARTBEAT_MS / 2);
  // The pods' status changed: written at once.
  const changed: AgentState = { ...IDLE, pods: [{ name: "web" } as unknown as PodView] };
  await beat.publish(changed);
  assert.equal(writes.length, 2);
  await clock.advance(HEARTBEAT_MS - 1);
  await clock.settle();
  assert.equal(writes.length, 2, "the timer of the first write was replaced");
  await clock.advance(1);
  await clock.settle();
  assert.equal(writes.length, 3);
  assert.deepEqual(writes[2]!.pods, [{ name: "web" }], "the last state, again");
  await beat.stopped(IDLE);
});

Deno.test("after the stop, the heartbeat writes nothing more and leaves no timer", async () => {
  const { clock, writes, beat } = heartbeat();
  await beat.publish(IDLE);
  await beat.stopped(IDLE);
  assert.equal(writes.length, 2);
  assert.notEqual(writes[1]!.agent.stoppedAt, null);
  assert.equal(clock.pending, 0);
  await clock.advance(5 * HEARTBEAT_MS);
  await clock.settle();
  assert.equal(writes.length, 2);
});

Deno.test("a pass that writes nothing new does not put off the heartbeat", async () => {
  const { clock, writes, beat } = heartbeat();
  await beat.publish(IDLE);
  await clock.advance(HEARTBEAT_MS - 100);
  await beat.publish(IDLE);
  assert.equal(writes.length, 1, "unchanged, and the heartbeat is not due");
  await clock.advance(100);
  await clock.settle();
  assert.equal(writes.length, 2, "written 10 s after the last write, not after the last pass");
  await beat.stopped(IDLE);
});
