/**
 * What the rollback tests on the fake runtime share: pod "web" with a 10 s rollback window
 * (its `args` telling one spec from another), the args of the newest container created, the
 * running containers, a v1 made the last good spec, and a v2 that crashes and is rolled back.
 *
 * @module
 */
import assert from "node:assert/strict";
import { FIXTURE_IMAGE, type ReconcilerFixture } from "./reconciler_fixture.ts";
import { RollbackStore } from "../lib/node/rollback_state.ts";
import type { RollbackState } from "../lib/node/rollback_state.ts";

/**
 * Pod "web" as YAML, with a 10 s rollback window: `args` tells one spec from another; `image`
 * (the fixture's by default) and `extra` (YAML lines added to the container) vary it.
 */
export function web(args: string, { image = FIXTURE_IMAGE, extra = "" } = {}): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: web
  annotations: {tinylet.dev/rollback-window: "10s"}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: ${image}
      args: ["${args}"]${extra}
`;
}

/** The ids of the running containers. */
export async function running(s: ReconcilerFixture): Promise<string[]> {
  const list = await s.cri.listContainers({ state: "CONTAINER_RUNNING" });
  return list.map((c) => c.id);
}

/** The args of the newest container the runtime was asked to create. */
export function lastArgs(s: ReconcilerFixture): string | undefined {
  const created = s.cri.calls.filter((c) => c.method === "CreateContainer");
  const config = (created.at(-1)?.arg as { config?: { args?: string[] } } | undefined)?.config;
  return config?.args?.[0];
}

/** Pod web's rollback state as the agent keeps it. */
export function rollbackState(s: ReconcilerFixture): Promise<RollbackState | undefined> {
  return new RollbackStore(s.root).read("default/web");
}

/** v1 runs its whole window: it becomes the last good spec. */
export async function goodV1(s: ReconcilerFixture): Promise<void> {
  await s.write("web.yaml", web("v1"));
  await s.reconciler.pass();
  await s.clock.advance(11_000);
  await s.reconciler.pass();
  assert.ok((await rollbackState(s))?.lastGood, "v1 is the last good spec");
}

/** v2 replaces v1, crashes at once (exit 1), and is rolled back. */
export async function crashV2(s: ReconcilerFixture): Promise<void> {
  await s.write("web.yaml", web("v2"));
  await s.reconciler.pass();
  const [v2] = await running(s);
  assert.ok(v2, "v2 runs");
  s.cri.exitContainer(v2, 1, "Error");
  await s.reconciler.pass();
  await s.reconciler.pass();
  assert.ok((await rollbackState(s))?.rolledBack, "v2 is rolled back");
}
