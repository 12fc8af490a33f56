/**
 * How a failed pull shows in the pods' status: ErrImagePull in the first status after the
 * failure (even when that status comes from a later pass than the one that started the pull,
 * as with the agent's detached flights), then ImagePullBackOff while the pod waits for its next
 * try; a new failure is ErrImagePull again.
 */
import assert from "node:assert/strict";
import { createLogger } from "../lib/base/log.ts";
import { ImagePullError } from "../lib/node/images.ts";
import type { Action } from "../lib/reconcile/plan.ts";
import { Reporting } from "../lib/reconcile/reporting.ts";

const KEY = "default/web";
const IMAGE = "registry.example.com/web:1";

/** A createPod action of pod `KEY`: all the reporting reads of it is its type and key. */
const CREATE = {
  type: "createPod",
  key: KEY,
  reason: "declared in /etc/pods/web.yaml",
  attempt: 0,
  start: [{ name: "app", restartCount: 0 }],
  pod: { key: KEY, containers: [{ name: "app", type: "regular" }] },
} as unknown as Action;

function reporting(): Reporting {
  const log = createLogger({ write: () => {} });
  return new Reporting({ log, dir: "/etc/pods", socket: "/run/x.sock" });
}

function pullFailed(message: string): ImagePullError {
  return new ImagePullError("ErrImagePull", IMAGE, message);
}

/** The reason the status of a pass at `now` gives pod `KEY`, its next try being at `retry`. */
function reasonAt(report: Reporting, now: number, retry: number): string | undefined {
  return report.statusErrors(now, (key) => key === KEY ? retry : undefined).get(KEY)?.reason;
}

Deno.test("a failed pull is ErrImagePull in the first status after it, then ImagePullBackOff while it waits", () => {
  const report = reporting();
  report.results([{ action: CREATE, error: pullFailed("401 Unauthorized"), ms: 5 }], 1_000);
  // The pass that publishes comes after the flight ended, a moment later.
  assert.equal(reasonAt(report, 1_003, 11_000), "ErrImagePull");
  assert.equal(reasonAt(report, 1_500, 11_000), "ImagePullBackOff");
  assert.equal(reasonAt(report, 9_000, 11_000), "ImagePullBackOff");
});

Deno.test("the first status shows ErrImagePull when the pass that failed publishes it", () => {
  const report = reporting();
  report.results([{ action: CREATE, error: pullFailed("401 Unauthorized"), ms: 5 }], 1_000);
  assert.equal(reasonAt(report, 1_000, 11_000), "ErrImagePull");
  assert.equal(reasonAt(report, 1_000, 11_000), "ImagePullBackOff");
});

Deno.test("a failed retry is ErrImagePull again, then ImagePullBackOff", () => {
  const report = reporting();
  report.results([{ action: CREATE, error: pullFailed("401 Unauthorized"), ms: 5 }], 1_000);
  reasonAt(report, 1_001, 11_000);
  assert.equal(reasonAt(report, 2_000, 11_000), "ImagePullBackOff");
  report.results([{ action: CREATE, error: pullFailed("401 Unauthorized"), ms: 5 }], 11_100);
  assert.equal(reasonAt(report, 11_200, 31_100), "ErrImagePull");
  assert.equal(reasonAt(report, 11_700, 31_100), "ImagePullBackOff");
});

Deno.test("the status keeps the pull's message and gives other failures no reason", () => {
  const report = reporting();
  const message = `Failed to pull image "${IMAGE}": 401 Unauthorized (next try in 10 s)`;
  report.results([{ action: CREATE, error: pullFailed(message), ms: 5 }], 1_000);
  reasonAt(report, 1_001, 11_000);
  assert.deepEqual(report.statusErrors(1_500, () => 11_000).get(KEY), {
    message,
    reason: "ImagePullBackOff",
  });
  const other = reporting();
  other.results([{ action: CREATE, error: new Error("sandbox refused"), ms: 5 }], 1_000);
  for (const now of [1_001, 1_500]) {
    assert.deepEqual(other.statusErrors(now, () => 11_000).get(KEY), {
      message: "sandbox refused",
    });
  }
});

Deno.test("a pod whose start succeeded has no error in its status", () => {
  const report = reporting();
  report.results([{ action: CREATE, error: pullFailed("401 Unauthorized"), ms: 5 }], 1_000);
  report.results([{ action: CREATE, ms: 5 }], 11_000);
  assert.equal(report.statusErrors(11_001, () => undefined).has(KEY), false);
});
