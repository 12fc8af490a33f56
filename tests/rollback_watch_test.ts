/**
 * The verdict on a replacement under watch: each failure kind inside the window fails it, with
 * the cause; the same just after the window does not; readiness must hold at the window's end.
 * Every case starts from one base (a sandbox started at START, a 60 s window, containers "app"
 * and "web" running, "web" ready by its readiness probe) and changes one thing.
 */
import assert from "node:assert/strict";
import { type WatchInput, watchVerdict } from "../lib/reconcile/rollback_watch.ts";
import type { Container, ContainerState, ContainerStatus } from "../lib/runtime/cri.ts";
import type { ProbeStatus } from "../lib/probe/probes.ts";

/** When the new sandbox started, epoch ms. */
const START = 1_700_000_000_000;
/** START + 60 s: the window's end. */
const END = 1_700_000_060_000;

function container(
  id: string,
  name: string,
  attempt: number,
  state: ContainerState,
  createdAtNs: number,
): Container {
  return {
    id,
    podSandboxId: "sb-new",
    metadata: { name, attempt },
    image: { image: "busybox:1.36" },
    imageRef: "sha256:1111",
    state,
    createdAt: createdAtNs,
    labels: {},
    annotations: {},
  };
}

function status(
  c: Container,
  exit: { code: number; reason: string; finishedAtNs: number } | undefined,
): ContainerStatus {
  return {
    id: c.id,
    metadata: c.metadata,
    state: c.state,
    createdAt: c.createdAt,
    startedAt: c.createdAt,
    finishedAt: exit?.finishedAtNs ?? 0,
    exitCode: exit?.code ?? 0,
    image: c.image,
    imageRef: c.imageRef,
    reason: exit?.reason ?? "",
    message: "",
    labels: {},
    annotations: {},
    mounts: [],
    logPath: "",
  };
}

function probe(
  kind: ProbeStatus["kind"],
  result: ProbeStatus["result"],
  lastFailureAt: number | null = null,
  lastFailureOutput = "",
): ProbeStatus {
  return {
    kind,
    result,
    consecutiveFailures: result === "failure" ? 3 : 0,
    consecutiveSuccesses: result === "success" ? 1 : 0,
    lastOutput: lastFailureOutput,
    lastFailureAt,
    lastFailureOutput,
    lastRunAt: lastFailureAt,
  };
}

const APP = container("c-app-0", "app", 0, "CONTAINER_RUNNING", 1_700_000_000_500_000_000);
const WEB = container("c-web-0", "web", 0, "CONTAINER_RUNNING", 1_700_000_000_600_000_000);

/** The base: both running, "web" has a readiness probe that succeeds; now is mid-window. */
function base(): WatchInput & {
  containers: Container[];
  statuses: Map<string, ContainerStatus>;
  probes: Map<string, ProbeStatus[]>;
  readinessProbes: Set<string>;
} {
  return {
    windowMs: 60_000,
    startedAt: START,
    now: 1_700_000_030_000,
    containers: [APP, WEB],
    statuses: new Map([[APP.id, status(APP, undefined)], [WEB.id, status(WEB, undefined)]]),
    probes: new Map([[WEB.id, [probe("readiness", "success")]]]),
    readinessProbes: new Set(["web"]),
  };
}

/** "app" exited (its only instance) with `code` and `reason` at `finishedAtNs`. */
function appExited(input: ReturnType<typeof base>, code: number, reason: string, ns: number) {
  const exited = { ...APP, state: "CONTAINER_EXITED" as const };
  input.containers[0] = exited;
  input.statuses.set(exited.id, status(exited, { code, reason, finishedAtNs: ns }));
}

/** "app" exited 0 and was restarted: attempt 1, created at `createdAtNs`. */
function appRestarted(input: ReturnType<typeof base>, createdAtNs: number) {
  appExited(input, 0, "Completed", createdAtNs - 100_000_000);
  const again = container("c-app-1", "app", 1, "CONTAINER_RUNNING", createdAtNs);
  input.containers.splice(1, 0, again);
  input.statuses.set(again.id, status(again, undefined));
}

type Case = [string, (input: ReturnType<typeof base>) => void, ReturnType<typeof watchVerdict>];

const WATCHING = { verdict: "watching", until: END } as const;
const SUCCEEDED = { verdict: "succeeded" } as const;
const failed = (cause: string, ...containers: string[]) =>
  ({ verdict: "failed", cause, ...(containers.length > 0 ? { containers } : {}) }) as const;
const AFTER_END = (i: WatchInput) => i.now = END + 2_000;

const CASES: Case[] = [
  // The window itself.
  ["watches while nothing failed and the window runs", () => {}, WATCHING],
  ["watches a millisecond before the window ends", (i) => i.now = END - 1, WATCHING],
  ["succeeds when the window ends without a failure", (i) => i.now = END, SUCCEEDED],
  ["succeeds when first looked at after the window ended", AFTER_END, SUCCEEDED],

  // A container terminating with an error.
  [
    "fails at once when a container exits with an error inside the window",
    (i) => appExited(i, 1, "Error", 1_700_000_010_000_000_000),
    failed('container "app" exited with code 1 (Error)', "app"),
  ],
  [
    "names the runtime's reason of an exit (OOMKilled)",
    (i) => appExited(i, 137, "OOMKilled", 1_700_000_010_000_000_000),
    failed('container "app" exited with code 137 (OOMKilled)', "app"),
  ],
  [
    "leaves out a reason the runtime did not give",
    (i) => appExited(i, 2, "", 1_700_000_010_000_000_000),
    failed('container "app" exited with code 2', "app"),
  ],
  [
    "fails for an exit a millisecond before the window's end, seen after it",
    (i) => {
      appExited(i, 1, "Error", 1_700_000_059_999_000_000);
      AFTER_END(i);
    },
    failed('container "app" exited with code 1 (Error)', "app"),
  ],
  [
    "fails for an exit exactly at the window's end",
    (i) => {
      appExited(i, 1, "Error", 1_700_000_060_000_000_000);
      AFTER_END(i);
    },
    failed('container "app" exited with code 1 (Error)', "app"),
  ],
  [
    "does not fail for an exit a millisecond after the window",
    (i) => {
      appExited(i, 1, "Error", 1_700_000_060_001_000_000);
      AFTER_END(i);
    },
    SUCCEEDED,
  ],
  [
    "takes an exit without a time as seen now: inside the window it fails",
    (i) => appExited(i, 1, "Error", 0),
    failed('container "app" exited with code 1 (Error)', "app"),
  ],
  [
    "takes an exit without a time as seen now: after the window it does not count",
    (i) => {
      appExited(i, 1, "Error", 0);
      AFTER_END(i);
    },
    SUCCEEDED,
  ],
  [
    "does not fail for a container that exits 0 and is not restarted",
    (i) => appExited(i, 0, "Completed", 1_700_000_010_000_000_000),
    WATCHING,
  ],
  [
    "does not fail for an exited container whose status is not known yet",
    (i) => {
      i.containers[0] = { ...APP, state: "CONTAINER_EXITED" };
      i.statuses.delete(APP.id);
    },
    WATCHING,
  ],
  [
    "does not fail for an init container that exits 0",
    (i) => {
      const init = container("c-init-0", "init", 0, "CONTAINER_EXITED", 1_700_000_000_100_000_000);
      i.containers.unshift(init);
      i.statuses.set(
        init.id,
        status(init, { code: 0, reason: "Completed", finishedAtNs: 1_700_000_000_400_000_000 }),
      );
      i.now = END;
    },
    SUCCEEDED,
  ],
  [
    "fails for an init container that exits with an error",
    (i) => {
      const init = container("c-init-0", "init", 0, "CONTAINER_EXITED", 1_700_000_000_100_000_000);
      i.containers.splice(0, 2, init);
      i.statuses.set(
        init.id,
        status(init, { code: 3, reason: "Error", finishedAtNs: 1_700_000_000_400_000_000 }),
      );
    },
    failed('container "init" exited with code 3 (Error)', "init"),
  ],

  // A restart.
  [
    "fails when a container restarts inside the window, even after exiting 0",
    (i) => appRestarted(i, 1_700_000_020_000_000_000),
    failed('container "app" restarted', "app"),
  ],
  [
    "fails for a restart exactly at the window's end",
    (i) => {
      appRestarted(i, 1_700_000_060_000_000_000);
      AFTER_END(i);
    },
    failed('container "app" restarted', "app"),
  ],
  [
    "does not fail for a restart a millisecond after the window",
    (i) => {
      appRestarted(i, 1_700_000_060_001_000_000);
      AFTER_END(i);
    },
    SUCCEEDED,
  ],
  [
    "names the exit, not the restart that followed it",
    (i) => {
      appRestarted(i, 1_700_000_020_000_000_000);
      i.statuses.set(
        "c-app-0",
        status({ ...APP, state: "CONTAINER_EXITED" }, {
          code: 1,
          reason: "Error",
          finishedAtNs: 1_700_000_019_900_000_000,
        }),
      );
    },
    failed('container "app" exited with code 1 (Error)', "app"),
  ],

  // Images and container creation.
  [
    "fails when an image cannot be pulled",
    (i) =>
      i.lastError = {
        reason: "ErrImagePull",
        message: 'Cannot pull "registry.local/app:v2": manifest unknown',
        at: 1_700_000_001_000,
      },
    failed('image pull failed: Cannot pull "registry.local/app:v2": manifest unknown'),
  ],
  [
    "fails while the pull backs off",
    (i) =>
      i.lastError = {
        reason: "ImagePullBackOff",
        message: "Back-off pulling image",
        at: 1_700_000_001_000,
        container: "app",
      },
    failed("image pull failed: Back-off pulling image", "app"),
  ],
  [
    "fails when an image may not be pulled and is not there",
    (i) => i.lastError = { reason: "ErrImageNeverPull", message: "not present", at: START },
    failed("image pull failed: not present"),
  ],
  [
    "does not count a pull error from before the sandbox started",
    (i) => i.lastError = { reason: "ErrImagePull", message: "old", at: START - 1 },
    WATCHING,
  ],
  [
    "does not count a pull error a millisecond after the window",
    (i) => {
      i.lastError = { reason: "ErrImagePull", message: "late", at: END + 1 };
      AFTER_END(i);
    },
    SUCCEEDED,
  ],
  [
    "fails for a pull error exactly at the window's end",
    (i) => {
      i.lastError = { reason: "ErrImagePull", message: "at the end", at: END };
      AFTER_END(i);
    },
    failed("image pull failed: at the end"),
  ],
  [
    "fails when a container cannot be configured, naming it",
    (i) =>
      i.lastError = {
        reason: "CreateContainerConfigError",
        message: 'configmap "cfg" not found',
        at: 1_700_000_002_000,
        container: "app",
      },
    failed(
      'container "app" could not be configured (CreateContainerConfigError): configmap "cfg" not found',
      "app",
    ),
  ],
  [
    "fails when a container cannot be created",
    (i) =>
      i.lastError = {
        reason: "CreateContainerError",
        message: "no command specified",
        at: 1_700_000_002_000,
      },
    failed("a container could not be created (CreateContainerError): no command specified"),
  ],
  [
    "does not count an error of another kind",
    (i) => i.lastError = { reason: "FailedMount", message: "no such dir", at: 1_700_000_002_000 },
    WATCHING,
  ],

  // The startup probe.
  [
    "fails when the startup probe fails inside the window",
    (i) =>
      i.probes.set(APP.id, [
        probe("startup", "failure", 1_700_000_030_000, "HTTP probe failed with statuscode: 500"),
      ]),
    failed(
      'startup probe of container "app" failed: HTTP probe failed with statuscode: 500',
      "app",
    ),
  ],
  [
    "says when a failed startup probe gave no output",
    (i) => i.probes.set(APP.id, [probe("startup", "failure", 1_700_000_030_000, "")]),
    failed('startup probe of container "app" failed: no output', "app"),
  ],
  [
    "does not fail for startup probe runs that failed below the threshold",
    (i) => {
      const p = probe("startup", "unknown", 1_700_000_030_000, "connection refused");
      p.consecutiveFailures = 2;
      i.probes.set(APP.id, [p]);
    },
    WATCHING,
  ],
  [
    "fails for a startup probe failing exactly at the window's end",
    (i) => {
      i.probes.set(APP.id, [probe("startup", "failure", END, "timeout")]);
      AFTER_END(i);
    },
    failed('startup probe of container "app" failed: timeout', "app"),
  ],
  [
    "does not fail for a startup probe failing a millisecond after the window",
    (i) => {
      i.probes.set(APP.id, [probe("startup", "failure", END + 1, "timeout")]);
      AFTER_END(i);
    },
    SUCCEEDED,
  ],
  [
    "names the startup probe, not the exit its kill caused later",
    (i) => {
      i.probes.set(APP.id, [probe("startup", "failure", 1_700_000_030_000, "timeout")]);
      appExited(i, 137, "Error", 1_700_000_031_000_000_000);
    },
    failed('startup probe of container "app" failed: timeout', "app"),
  ],
  [
    "names the earliest failure whatever its kind",
    (i) => {
      i.probes.set(WEB.id, [probe("startup", "failure", 1_700_000_005_000, "timeout")]);
      appExited(i, 1, "Error", 1_700_000_020_000_000_000);
    },
    failed('startup probe of container "web" failed: timeout', "web"),
  ],
  [
    "names the exit before a pull error at the same time",
    (i) => {
      appExited(i, 1, "Error", 1_700_000_020_000_000_000);
      i.lastError = { reason: "ErrImagePull", message: "x", at: 1_700_000_020_000 };
    },
    failed('container "app" exited with code 1 (Error)', "app"),
  ],

  // Readiness at the end of the window.
  [
    "does not fail for a container not ready yet while the window runs",
    (i) => i.probes.set(WEB.id, [probe("readiness", "failure")]),
    WATCHING,
  ],
  [
    "fails when a container with a readiness probe is not ready at the window's end",
    (i) => {
      i.probes.set(WEB.id, [probe("readiness", "failure")]);
      i.now = END;
    },
    failed('container "web" not ready at the end of the window (readiness probe)', "web"),
  ],
  [
    "fails when a container with a readiness probe has no probe result at the end",
    (i) => {
      i.probes.delete(WEB.id);
      i.now = END;
    },
    failed('container "web" not ready at the end of the window (readiness probe)', "web"),
  ],
  [
    "fails when a container with a readiness probe was never created",
    (i) => {
      i.containers.pop();
      i.now = END;
    },
    failed('container "web" not ready at the end of the window (readiness probe)', "web"),
  ],
  [
    "fails when a ready container's startup probe has not succeeded at the end",
    (i) => {
      i.probes.set(WEB.id, [probe("startup", "unknown"), probe("readiness", "success")]);
      i.now = END;
    },
    failed('container "web" not ready at the end of the window (readiness probe)', "web"),
  ],
  [
    "fails when a container with a readiness probe exited with 0 by the end",
    (i) => {
      i.containers[1] = { ...WEB, state: "CONTAINER_EXITED" };
      i.statuses.set(
        WEB.id,
        status(i.containers[1], {
          code: 0,
          reason: "Completed",
          finishedAtNs: 1_700_000_050_000_000_000,
        }),
      );
      i.now = END;
    },
    failed('container "web" not ready at the end of the window (readiness probe)', "web"),
  ],
  [
    "names every container not ready at the end",
    (i) => {
      const api = container("c-api-0", "api", 0, "CONTAINER_RUNNING", 1_700_000_000_700_000_000);
      const db = container("c-db-0", "db", 0, "CONTAINER_RUNNING", 1_700_000_000_800_000_000);
      i.containers.push(api, db);
      i.readinessProbes = new Set(["api", "web", "db"]);
      i.probes.set(WEB.id, [probe("readiness", "failure")]);
      i.now = END;
    },
    failed(
      'containers "api", "web" and "db" not ready at the end of the window (readiness probe)',
      "api",
      "web",
      "db",
    ),
  ],
  [
    "judges readiness on the latest instance of a container restarted after the window",
    (i) => {
      const again = container("c-web-1", "web", 1, "CONTAINER_RUNNING", 1_700_000_061_000_000_000);
      i.containers.push(again);
      i.probes.set(WEB.id, [probe("readiness", "failure")]);
      i.probes.set(again.id, [probe("readiness", "success")]);
      AFTER_END(i);
    },
    SUCCEEDED,
  ],
  [
    "needs no readiness from a container without a readiness probe",
    (i) => {
      i.readinessProbes = new Set();
      i.probes.clear();
      i.now = END;
    },
    SUCCEEDED,
  ],
];

for (const [name, change, expected] of CASES) {
  Deno.test(name, () => {
    const input = base();
    change(input);
    assert.deepEqual(watchVerdict(input), expected);
  });
}

Deno.test("a window that is not a positive duration is refused", () => {
  for (const windowMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => watchVerdict({ ...base(), windowMs }), {
      name: "RangeError",
      message: `The rollback window must be a positive duration (it is ${windowMs} ms)`,
    });
  }
});

Deno.test("the window runs from the sandbox's start, not from now", () => {
  assert.deepEqual(
    watchVerdict({ ...base(), startedAt: 1_700_000_010_000, now: 1_700_000_069_999 }),
    { verdict: "watching", until: 1_700_000_070_000 },
  );
});
