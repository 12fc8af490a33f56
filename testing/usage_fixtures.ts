/**
 * What the tests of `tinylet top` and of `describe`'s usage lines share: pods on the fake with
 * limits, usage set by hand, and a command run across its two samples on the hand clock.
 *
 * @module
 */
import { KEYS } from "../lib/runtime/labels.ts";
import type { FakeCri } from "./fake_cri.ts";
import { FIXTURE_IMAGE, type ReconcilerFixture, reconcilerFixture } from "./reconciler_fixture.ts";
import { waitFor } from "./wait.ts";

/** One mebibyte. */
export const Mi = 1024 * 1024;
const SPIN = `["sh", "-c", "while :; do :; done"]`;

/**
 * shop/web: app spins under a 500m limit (request 250m, limit 64Mi); side sleeps under 100m
 * and 32Mi (request 16Mi).
 */
export const WEB = `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  containers:
    - name: app
      image: ${FIXTURE_IMAGE}
      command: ${SPIN}
      resources:
        requests: {cpu: 250m}
        limits: {cpu: 500m, memory: 64Mi}
    - name: side
      image: ${FIXTURE_IMAGE}
      command: [sleep, "3600"]
      resources:
        requests: {memory: 16Mi}
        limits: {cpu: 100m, memory: 32Mi}
`;
/** shop/db: a CPU limit of one core, no memory limit. */
export const DB = `apiVersion: v1
kind: Pod
metadata: {name: db, namespace: shop}
spec:
  containers:
    - name: app
      image: ${FIXTURE_IMAGE}
      command: [sleep, "3600"]
      resources: {limits: {cpu: "1"}}
`;
/** default/idle: no requests, no limits. */
export const IDLE = `name: idle
containers: [{name: c, image: "${FIXTURE_IMAGE}", command: [sleep, "3600"]}]
`;

/** The fixture (its hand clock is the commands') and its running containers. */
export interface UsageWorld {
  f: ReconcilerFixture;
  /** Container ids by `namespace/pod/container` (the running instance). */
  ids: Map<string, string>;
}

/** The running containers' ids by `namespace/pod/container`. */
export async function running(f: ReconcilerFixture): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const c of await f.cri.listContainers({ state: "CONTAINER_RUNNING" })) {
    const l = c.labels;
    ids.set(`${l[KEYS.podNamespace]}/${l[KEYS.podName]}/${l[KEYS.containerName]}`, c.id);
  }
  return ids;
}

/**
 * The pods of `files` (by default web, db and idle) on the fake: side of web restarted once,
 * working sets set by hand (web's app 34Mi + 12345 bytes, side 5Mi, db's app 100Mi, idle's c
 * 1.5Mi) and db's app at 12.345678 millicores.
 */
export async function usageWorld(
  files: Record<string, string> = { "web.yaml": WEB, "db.yaml": DB, "idle.yaml": IDLE },
): Promise<UsageWorld> {
  const f = await reconcilerFixture({ prefix: "tinylet-usage-" });
  for (const [name, text] of Object.entries(files)) await f.write(name, text);
  await f.reconciler.pass();
  let ids = await running(f);
  if (ids.has("shop/web/side")) {
    f.cri.exitContainer(ids.get("shop/web/side")!, 1);
    await f.reconciler.pass();
    await f.clock.advance(10_000);
    await f.reconciler.pass();
    ids = await running(f);
  }
  const set = (key: string, usage: Parameters<FakeCri["usage"]["set"]>[1]) => {
    const id = ids.get(key);
    if (id) f.cri.usage.set(id, usage);
  };
  set("shop/web/app", { workingSetBytes: 34 * Mi + 12345 });
  set("shop/web/side", { workingSetBytes: 5 * Mi });
  set("shop/db/app", { workingSetBytes: 100 * Mi, cpuNanoCores: 12_345_678 });
  set("default/idle/c", { workingSetBytes: 1.5 * Mi });
  return { f, ids };
}

/** What a command printed, and its exit code. */
export interface Run {
  code: number;
  out: string[];
  err: string[];
}

/**
 * Runs `command` (a command given the Io to write to) across its two samples: once it waits on
 * the hand clock after the first, `between` runs and the clock moves a second on. A command
 * that takes no sample ends without the clock.
 */
export async function acrossSamples(
  w: UsageWorld,
  command: (io: { out(line: string): void; err(line: string): void }) => Promise<number>,
  between?: () => void,
): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const pending = w.f.clock.pending;
  let done = false;
  const code = command({ out: (l) => out.push(l), err: (l) => err.push(l) })
    .finally(() => done = true);
  await waitFor("the first sample", () => done || w.f.clock.pending > pending);
  if (!done) {
    between?.();
    await w.f.clock.advance(1_000);
  }
  return { code: await code, out, err };
}
