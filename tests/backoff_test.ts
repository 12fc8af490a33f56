import assert from "node:assert/strict";
import { Backoff } from "../lib/base/backoff.ts";

const S = 1000;

Deno.test("backoff starts at 10 s and doubles to a cap of 300 s", () => {
  const b = new Backoff();
  const delays: number[] = [];
  let t = 0;
  for (let i = 0; i < 8; i++) {
    const until = b.fail("k", t, `failure-${i}`);
    delays.push((until - t) / S);
    t = until + 1 * S; // fails again one second after each restart
  }
  assert.deepEqual(delays, [10, 20, 40, 80, 160, 300, 300, 300]);
});

Deno.test("the same failure reported twice counts once", () => {
  const b = new Backoff();
  assert.equal(b.fail("k", 0, "c1"), 10 * S);
  assert.equal(b.fail("k", 5 * S, "c1"), 10 * S);
  assert.equal(b.delay("k"), 10 * S);
});

Deno.test("a failure more than 10 minutes after the last one starts over at 10 s", () => {
  const b = new Backoff();
  b.fail("k", 0, "c1");
  b.fail("k", 20 * S, "c2");
  assert.equal(b.delay("k"), 20 * S);
  assert.equal(b.fail("k", 20 * S + 601 * S, "c3"), 20 * S + 601 * S + 10 * S);
});

Deno.test("keys back off independently and can be pruned, reset or expired", () => {
  const b = new Backoff();
  b.fail("a", 0, "x");
  b.fail("b", 0, "x");
  b.fail("b", 11 * S, "y");
  assert.equal(b.until("a"), 10 * S);
  assert.equal(b.until("b"), 31 * S);
  b.prune((k) => k === "b");
  assert.equal(b.until("a"), undefined);
  b.reset("b");
  assert.equal(b.until("b"), undefined);
  b.fail("c", 0, "x");
  b.expire(601 * S);
  assert.equal(b.until("c"), undefined);
});
