/**
 * What the resource metrics tests share: a fake runtime on a hand clock holding pods labelled as
 * tinylet labels them, {@linkcode ResourceMetrics} over it (or over any runtime), a scrape read
 * back by the strict Prometheus parser, and two pods with figures set by hand.
 *
 * @module
 */
import { createLogger } from "../lib/base/log.ts";
import { ResourceMetrics, type StatsRuntime } from "../lib/agent/resource_metrics.ts";
import type { NodeUsage } from "../lib/node/node_usage.ts";
import type { PodSandboxConfig } from "../lib/runtime/cri.ts";
import { FakeCri } from "./fake_cri.ts";
import { FIXTURE_IMAGE } from "./reconciler_fixture.ts";
import type { PodStatsMode } from "./fake_stats.ts";
import { parsePrometheus, type PromFamily } from "./prometheus_text.ts";

const IMAGE = "docker.io/library/busybox:1.35";
/** The fake's clock at the start: 2027-01-15T08:00:00Z, in milliseconds. */
export const T0 = 1_800_000_000_000;
const IDLE = ["sleep", "3600"];

/** A fake runtime on a hand clock with tinylet's pods in it, and the metrics over it. */
export function world(
  options: { node?: NodeUsage; podStats?: PodStatsMode } = {},
) {
  let now = T0;
  const fake = new FakeCri({ images: [IMAGE], now: () => now });
  if (options.podStats) fake.usage.podStats = options.podStats;
  const lines: string[] = [];
  const starts = new Map<string, number>();
  const metrics = (runtime: StatsRuntime = fake) =>
    new ResourceMetrics({
      runtime,
      instance: "default",
      startTimes: () => starts,
      node: () => Promise.resolve(options.node ?? {}),
      now: () => now,
      log: createLogger({ level: "debug", write: (l) => lines.push(l) }),
    });
  /** A sandbox of pod `namespace/name`, as tinylet labels it (the contract's keys). */
  const pod = async (namespace: string, name: string, instance = "default", attempt = 0) => {
    const config: PodSandboxConfig = {
      metadata: { name, namespace, uid: `uid-${name}`, attempt },
      labels: {
        "tinylet": "true",
        "tinylet/instance": instance,
        "io.kubernetes.pod.name": name,
        "io.kubernetes.pod.namespace": namespace,
        "io.kubernetes.pod.uid": `uid-${name}`,
      },
      linux: { securityContext: { namespaceOptions: { network: "NODE" } } },
    };
    return { config, id: await fake.runPodSandbox(config) };
  };
  /** A container `name` of `p`, started unless `start` is false. */
  const container = async (
    p: { config: PodSandboxConfig; id: string },
    name: string,
    start = true,
    attempt = 0,
  ) => {
    const id = await fake.createContainer(p.id, {
      metadata: { name, attempt },
      image: { image: IMAGE },
      command: IDLE,
      labels: {
        ...p.config.labels,
        "io.kubernetes.container.name": name,
      },
    }, p.config);
    if (start) await fake.startContainer(id);
    return id;
  };
  return {
    fake,
    lines,
    starts,
    metrics,
    pod,
    container,
    advance: (ms: number) => void (now += ms),
    calls: (method: string) => fake.calls.filter((c) => c.method === method).length,
  };
}

/** The text `m` renders, parsed. */
export async function scrape(m: ResourceMetrics): Promise<Map<string, PromFamily>> {
  return parsePrometheus((await m.render()).join("\n") + "\n");
}

/** Pod shop/web as a manifest: one container, app, of the reconciler fixture's image, sleeping. */
export const WEB_MANIFEST = `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
spec:
  containers:
  - name: app
    image: ${FIXTURE_IMAGE}
    command: [sleep, "3600"]
`;

/** The labels of container app of pod shop/web. */
export const C = { container: "app", namespace: "shop", pod: "web" };
/** The labels of container side of pod shop/web. */
export const S = { container: "side", namespace: "shop", pod: "web" };
/** The labels of container main of pod default/db. */
export const D = { container: "main", namespace: "default", pod: "db" };

/** Two pods of this agent (shop/web: app and side; default/db: main) with set figures. */
export async function twoPods(w: World) {
  const web = await w.pod("shop", "web");
  const db = await w.pod("default", "db");
  const app = await w.container(web, "app");
  const side = await w.container(web, "side");
  const main = await w.container(db, "main");
  // Not listed: another agent's container, and one created but never started.
  await w.container(await w.pod("shop", "theirs", "other"), "app");
  await w.container(db, "later", false);
  w.fake.usage.set(app, { cpuCoreNanoSeconds: 2_500_000_000, workingSetBytes: 10_485_760 });
  w.fake.usage.set(side, { cpuCoreNanoSeconds: 1_000_000_000, workingSetBytes: 2_097_152 });
  w.fake.usage.set(main, { cpuCoreNanoSeconds: 123_456_789, workingSetBytes: 393_216 });
  w.fake.usage.set(web.id, { cpuCoreNanoSeconds: 500_000_000, workingSetBytes: 100_000 });
  w.advance(1_500);
  return { web, db, app, side, main };
}

/** What {@linkcode world} gives. */
export type World = ReturnType<typeof world>;
