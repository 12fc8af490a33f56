/**
 * How the reporting treats the upkeep actions (a kill, a left-over container's removal): a
 * failure is logged once per distinct error of what it works on and leaves the pod's error
 * as it is; it is forgotten once the action succeeds or is no longer planned.
 */
import assert from "node:assert/strict";
import { createLogger } from "../lib/base/log.ts";
import type { KillContainer, RemoveOrphan } from "../lib/reconcile/actions.ts";
import { Reporting } from "../lib/reconcile/reporting.ts";

const REMOVAL: RemoveOrphan = {
  type: "removeOrphan",
  key: "orphan/c1",
  reason: "its sandbox s1 of pod default/web is not listed",
  containerId: "c1",
  sandboxId: "s1",
};

const KILL: KillContainer = {
  type: "killContainer",
  key: "default/web",
  containerId: "c2",
  container: "app",
  reason: "LivenessProbe",
  message: "Container app failed its liveness probe",
  gracePeriodSeconds: 30,
};

function reporting(): { report: Reporting; lines: string[] } {
  const lines: string[] = [];
  const log = createLogger({ write: (l) => lines.push(l) });
  return { report: new Reporting({ log, dir: "/etc/pods", socket: "/run/x.sock" }), lines };
}

Deno.test("a left-over container's failed removal is logged once and forgotten once it succeeds", () => {
  const { report, lines } = reporting();
  const error = new Error("runtime busy");
  report.results([{ action: REMOVAL, error, ms: 1 }], 1);
  report.results([{ action: REMOVAL, error, ms: 1 }], 2);
  assert.equal(
    lines.filter((l) => l.includes("Failed to remove left-over container c1")).length,
    1,
  );
  assert.equal(report.upkeepFailures, 1);
  report.results([{ action: REMOVAL, ms: 1 }], 3);
  assert.equal(report.upkeepFailures, 0, "nothing is kept under orphan/c1 once it is removed");
  assert.deepEqual([...report.statusErrors(3, () => undefined).keys()], []);
});

Deno.test("an upkeep failure is forgotten once nothing plans its target", () => {
  const { report } = reporting();
  report.results([{ action: REMOVAL, error: new Error("busy"), ms: 1 }], 1);
  report.forgetUpkeep([REMOVAL], []);
  assert.equal(report.upkeepFailures, 1, "kept while planned");
  report.forgetUpkeep([], []);
  assert.equal(report.upkeepFailures, 0);
});

Deno.test("a failed kill is logged without becoming its pod's error; a kill's success clears no pod error", () => {
  const { report, lines } = reporting();
  report.results([{ action: KILL, error: new Error("runtime busy"), ms: 1 }], 1);
  assert.equal(lines.filter((l) => l.includes("Failed to kill container app")).length, 1);
  assert.deepEqual([...report.statusErrors(1, () => undefined).keys()], []);
  report.forgetUpkeep([], [KILL]);
  assert.equal(report.upkeepFailures, 1, "kept while its request is pending");
  // A pod's own failure stays through a kill's success.
  const create = { ...KILL, type: "startCreated" as const, reason: "created, not started" };
  report.results([{ action: create, error: new Error("no such image"), ms: 1 }], 2);
  report.results([{ action: KILL, ms: 1 }], 3);
  assert.deepEqual(
    [...report.statusErrors(3, () => undefined).values()].map((e) => e.message),
    ["no such image"],
  );
  assert.equal(report.upkeepFailures, 0);
});
