/**
 * `tinylet describe`'s usage lines on the fake runtime, its time on the fixture's hand clock:
 * each container's CPU over the second between two samples of its pod and its working set,
 * next to its requests and limits; `<not running>` for a container that is not, `<unknown>`
 * when the runtime gives no stats (describe goes on), and no sample for a pod with nothing
 * running.
 */
import assert from "node:assert/strict";
import { parseCommandLine } from "../lib/cmd/cli.ts";
import { describeCommand } from "../lib/cmd/pods.ts";
import { CriError } from "../lib/runtime/errors.ts";
import {
  acrossSamples,
  type Run,
  type UsageWorld,
  usageWorld,
  WEB,
} from "../testing/usage_fixtures.ts";

const ENV = { cwd: "/", hostname: "node1" };

/** Runs `tinylet describe POD` in-process across its two samples. */
function describe(w: UsageWorld, pod: string, between?: () => void): Promise<Run> {
  const parsed = parseCommandLine([
    "describe",
    pod,
    `--manifests=${w.f.manifests}`,
    `--root=${w.f.root}`,
    `--pod-log-root=${w.f.logs}`,
  ], ENV);
  assert.ok(parsed.command === "describe");
  return acrossSamples(
    w,
    (io) => describeCommand(parsed.config, w.f.cri, parsed.pod, io, { clock: w.f.clock }),
    between,
  );
}

/** Each container's lines from its name to its restart count and the two after it. */
function usageOf(out: string[]): Record<string, string[]> {
  const found: Record<string, string[]> = {};
  out.forEach((line, i) => {
    const name = /^ {2}([a-z0-9-]+):/.exec(line)?.[1];
    if (!name) return;
    const restart = out.findIndex((l, j) => j > i && l.startsWith("    Restart Count:"));
    found[name] = out.slice(restart + 1, restart + 3);
  });
  return found;
}

Deno.test("tinylet describe shows each container's CPU and memory next to its requests and limits", async () => {
  const w = await usageWorld();
  await using _ = w.f;
  const r = await describe(w, "shop/web");
  assert.equal(r.code, 0);
  assert.deepEqual(usageOf(r.out), {
    app: [
      "    CPU:            500m (request 250m, limit 500m)",
      "    Memory:         34Mi (limit 64Mi)",
    ],
    side: [
      "    CPU:            0m (limit 100m)",
      "    Memory:         5Mi (request 16Mi, limit 32Mi)",
    ],
  });
  // Right after the restart count, inside the container's block.
  const at = r.out.indexOf("    CPU:            500m (request 250m, limit 500m)");
  assert.match(r.out[at - 1]!, /^ {4}Restart Count: {2}0$/);
  // Two samples of that pod's containers only.
  const web = (await w.f.cri.listPodSandbox()).find((s) => s.metadata.name === "web")!;
  const calls = w.f.cri.calls.filter((c) => c.method === "ListContainerStats");
  assert.deepEqual(calls.map((c) => c.arg), [
    {
      podSandboxId: web.id,
      labelSelector: { tinylet: "true", "tinylet/instance": "default" },
    },
    {
      podSandboxId: web.id,
      labelSelector: { tinylet: "true", "tinylet/instance": "default" },
    },
  ]);
  const db = await describe(w, "shop/db");
  assert.deepEqual(usageOf(db.out), {
    app: [
      "    CPU:            13m (limit 1000m)",
      "    Memory:         100Mi (no request or limit)",
    ],
  });
  const idle = await describe(w, "idle");
  assert.deepEqual(usageOf(idle.out), {
    c: [
      "    CPU:            0m (no request or limit)",
      "    Memory:         1Mi (no request or limit)",
    ],
  });
});

Deno.test("tinylet describe says <not running> for a container that stopped, and measures the others", async () => {
  const w = await usageWorld();
  await using _ = w.f;
  const r = await describe(w, "shop/web", () => {
    w.f.cri.exitContainer(w.ids.get("shop/web/side")!, 0);
  });
  assert.equal(r.code, 0);
  assert.deepEqual(usageOf(r.out), {
    app: [
      "    CPU:            500m (request 250m, limit 500m)",
      "    Memory:         34Mi (limit 64Mi)",
    ],
    side: [
      "    CPU:            <not running> (limit 100m)",
      "    Memory:         <not running> (request 16Mi, limit 32Mi)",
    ],
  });
});

Deno.test("tinylet describe gives no CPU rate to a container whose counter went down between the samples", async () => {
  const w = await usageWorld();
  await using _ = w.f;
  const app = w.ids.get("shop/web/app")!;
  const r = await describe(w, "shop/web", () => {
    w.f.cri.usage.set(app, { cpuCoreNanoSeconds: 0 });
  });
  assert.deepEqual(usageOf(r.out).app, [
    "    CPU:            - (request 250m, limit 500m)",
    "    Memory:         34Mi (limit 64Mi)",
  ]);
});

Deno.test("tinylet describe says <unknown> when the runtime gives no stats, and describes the rest", async () => {
  const w = await usageWorld();
  await using _ = w.f;
  const message =
    "ListContainerStats: unknown method ListContainerStats for service runtime.v1.RuntimeService";
  w.f.cri.inject("ListContainerStats", {
    error: new CriError("Unimplemented", "ListContainerStats", message),
  });
  const r = await describe(w, "shop/web");
  assert.equal(r.code, 0);
  assert.deepEqual(usageOf(r.out), {
    app: [
      "    CPU:            <unknown> (request 250m, limit 500m)",
      "    Memory:         <unknown> (limit 64Mi)",
    ],
    side: [
      "    CPU:            <unknown> (limit 100m)",
      "    Memory:         <unknown> (request 16Mi, limit 32Mi)",
    ],
  });
  assert.match(r.out[0]!, /^Name: {9}web$/);
  assert.ok(r.out.includes("Events:"));
  assert.ok(!r.err.some((l) => l.includes("ListContainerStats")), r.err.join("\n"));
});

Deno.test("tinylet describe of a pod with nothing running takes no sample", async () => {
  const w = await usageWorld({ "web.yaml": WEB });
  await using _ = w.f;
  for (const id of w.ids.values()) w.f.cri.exitContainer(id, 0);
  await w.f.reconciler.pass();
  const pending = w.f.clock.pending;
  const r = await describe(w, "shop/web");
  assert.equal(r.code, 0);
  assert.equal(w.f.clock.pending, pending);
  assert.deepEqual(w.f.cri.calls.filter((c) => c.method === "ListContainerStats"), []);
  assert.deepEqual(usageOf(r.out), {
    app: [
      "    CPU:            <not running> (request 250m, limit 500m)",
      "    Memory:         <not running> (limit 64Mi)",
    ],
    side: [
      "    CPU:            <not running> (limit 100m)",
      "    Memory:         <not running> (request 16Mi, limit 32Mi)",
    ],
  });
});

Deno.test("tinylet describe of a pod its manifests no longer declare shows usage without requests or limits", async () => {
  const w = await usageWorld({ "web.yaml": WEB });
  await using _ = w.f;
  await Deno.remove(`${w.f.manifests}/web.yaml`);
  const r = await describe(w, "shop/web");
  assert.equal(r.code, 0);
  assert.deepEqual(usageOf(r.out).app, [
    "    CPU:            500m (no request or limit)",
    "    Memory:         34Mi (no request or limit)",
  ]);
});
