/**
 * `tinylet top` on the fake runtime, its time on the fixture's hand clock: the table as
 * printed, per pod and per container, sorted, filtered by namespace, as JSON, with limits
 * summed or `-`, a counter reset and a container stopped between the two samples, no pods, a
 * runtime without stats, and the usage errors. Then `top` as a process, over gRPC.
 */
import assert from "node:assert/strict";
import { parseCommandLine, UsageError } from "../lib/cmd/cli.ts";
import { topCommand } from "../lib/cmd/top.ts";
import { CriError } from "../lib/runtime/errors.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { serveCri } from "../testing/fake_cri_server.ts";
import { FIXTURE_IMAGE, reconcilerFixture } from "../testing/reconciler_fixture.ts";
import { tinylet } from "../testing/in_container.ts";
import {
  acrossSamples,
  type Run,
  running,
  type UsageWorld,
  usageWorld,
  WEB,
} from "../testing/usage_fixtures.ts";

const ENV = { cwd: "/", hostname: "node1" };

/** Runs `tinylet top ARGS` in-process across its two samples (see `acrossSamples`). */
function top(w: UsageWorld, args: string[], between?: () => void): Promise<Run> {
  const parsed = parseCommandLine([
    "top",
    ...args,
    `--manifests=${w.f.manifests}`,
    `--root=${w.f.root}`,
    `--pod-log-root=${w.f.logs}`,
  ], ENV);
  assert.ok(parsed.command === "top");
  return acrossSamples(
    w,
    (io) => topCommand(parsed.config, w.f.cri, { ...parsed, clock: w.f.clock }, io),
    between,
  );
}

const HEAD = "NAMESPACE   NAME   CPU(cores)   MEMORY(bytes)   CPU LIMIT   MEMORY LIMIT   RESTARTS";
const IDLE_ROW = "default     idle   0m           1Mi             -           -              0";
const DB_ROW = "shop        db     13m          100Mi           1000m       -              0";
const WEB_ROW = "shop        web    500m         39Mi            600m        96Mi           1";

Deno.test("tinylet top prints each pod's CPU over the second, working set, limits and restarts", async () => {
  const w = await usageWorld();
  await using _ = w.f;
  const r = await top(w, []);
  assert.deepEqual(r, { code: 0, out: [HEAD, IDLE_ROW, DB_ROW, WEB_ROW], err: [] });
  // The samples are a second apart on the clock, one listing each, of this instance only.
  const calls = w.f.cri.calls.filter((c) => c.method === "ListContainerStats");
  assert.deepEqual(calls.map((c) => c.arg), [
    { labelSelector: { tinylet: "true", "tinylet/instance": "default" } },
    { labelSelector: { tinylet: "true", "tinylet/instance": "default" } },
  ]);
});

Deno.test("tinylet top --containers prints one row per running container", async () => {
  const w = await usageWorld();
  await using _ = w.f;
  const r = await top(w, ["--containers"]);
  assert.deepEqual(r.out, [
    "NAMESPACE   POD    NAME   CPU(cores)   MEMORY(bytes)   CPU LIMIT   MEMORY LIMIT   RESTARTS",
    "default     idle   c      0m           1Mi             -           -              0",
    "shop        db     app    13m          100Mi           1000m       -              0",
    "shop        web    app    500m         34Mi            500m        64Mi           0",
    "shop        web    side   0m           5Mi             100m        32Mi           1",
  ]);
  assert.equal(r.code, 0);
});

Deno.test("tinylet top --sort-by cpu and memory put the heaviest first", async () => {
  const w = await usageWorld();
  await using _ = w.f;
  assert.deepEqual((await top(w, ["--sort-by", "cpu"])).out, [HEAD, WEB_ROW, DB_ROW, IDLE_ROW]);
  assert.deepEqual((await top(w, ["--sort-by=memory"])).out, [HEAD, DB_ROW, WEB_ROW, IDLE_ROW]);
  const byMemory = await top(w, ["--containers", "--sort-by", "memory"]);
  assert.deepEqual(byMemory.out.map((l) => l.split(/\s+/).slice(0, 3).join(" ")), [
    "NAMESPACE POD NAME",
    "shop db app",
    "shop web app",
    "shop web side",
    "default idle c",
  ]);
});

Deno.test("tinylet top -n shows one namespace, and says when it has no pods", async () => {
  const w = await usageWorld();
  await using _ = w.f;
  assert.deepEqual(await top(w, ["-n", "shop"]), {
    code: 0,
    out: [HEAD, DB_ROW, WEB_ROW],
    err: [],
  });
  assert.deepEqual(await top(w, ["-n", "nope"]), {
    code: 0,
    out: [],
    err: ["No pods of instance default run in namespace nope"],
  });
});

Deno.test("tinylet top -o json prints numbers: millicores, bytes, limits or null, restarts", async () => {
  const w = await usageWorld();
  await using _ = w.f;
  const r = await top(w, ["-o", "json", "-n", "shop"]);
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.out.join("\n")), [
    {
      namespace: "shop",
      name: "db",
      milliCores: 13,
      workingSetBytes: 104857600,
      limits: { milliCores: 1000, memoryBytes: null },
      restarts: 0,
      containers: [{
        namespace: "shop",
        pod: "db",
        name: "app",
        milliCores: 13,
        workingSetBytes: 104857600,
        limits: { milliCores: 1000, memoryBytes: null },
        restarts: 0,
      }],
    },
    {
      namespace: "shop",
      name: "web",
      milliCores: 500,
      workingSetBytes: 40906809,
      limits: { milliCores: 600, memoryBytes: 100663296 },
      restarts: 1,
      containers: [
        {
          namespace: "shop",
          pod: "web",
          name: "app",
          milliCores: 500,
          workingSetBytes: 35663929,
          limits: { milliCores: 500, memoryBytes: 67108864 },
          restarts: 0,
        },
        {
          namespace: "shop",
          pod: "web",
          name: "side",
          milliCores: 0,
          workingSetBytes: 5242880,
          limits: { milliCores: 100, memoryBytes: 33554432 },
          restarts: 1,
        },
      ],
    },
  ]);
  const containers = await top(w, ["-o", "json", "--containers", "--sort-by", "cpu"]);
  assert.deepEqual(
    JSON.parse(containers.out.join("\n")).map((c: { pod: string; name: string }) =>
      `${c.pod}/${c.name}`
    ),
    ["web/app", "db/app", "idle/c", "web/side"],
  );
});

Deno.test("tinylet top gives no rate to a container whose counter went down between the samples", async () => {
  const w = await usageWorld();
  await using _ = w.f;
  const app = w.ids.get("shop/web/app")!;
  // The counter starts again from 0, as for a container recreated under the same id.
  const reset = () => w.f.cri.usage.set(app, { cpuCoreNanoSeconds: 0 });
  w.f.cri.usage.set(app, { cpuCoreNanoSeconds: 7e9 });
  const r = await top(w, ["--containers", "-n", "shop"], reset);
  assert.deepEqual(r.out.slice(2), [
    "shop        web   app    -            34Mi            500m        64Mi           0",
    "shop        web   side   0m           5Mi             100m        32Mi           1",
  ]);
  w.f.cri.usage.set(app, { cpuCoreNanoSeconds: 7e9 });
  const pods = await top(w, ["-n", "shop"], reset);
  assert.equal(
    pods.out[2],
    "shop        web    -            39Mi            600m        96Mi           1",
  );
});

Deno.test("tinylet top shows a pod's running containers when one stopped between the samples", async () => {
  const w = await usageWorld();
  await using _ = w.f;
  const r = await top(w, ["--containers", "-n", "shop"], () => {
    w.f.cri.exitContainer(w.ids.get("shop/web/side")!, 0);
  });
  assert.deepEqual(r.out.slice(2), [
    "shop        web   app    500m         34Mi            500m        64Mi           0",
  ]);
  const pods = await top(w, ["-n", "shop"]);
  // side is not running now: the pod is app alone, its limits and restarts still the pod's.
  assert.equal(
    pods.out[2],
    "shop        web    500m         34Mi            600m        96Mi           1",
  );
});

Deno.test("tinylet top with a sidecar sums its limits with the regular containers', not the init container's", async () => {
  const w = await usageWorld({
    "side.yaml": `apiVersion: v1
kind: Pod
metadata: {name: s}
spec:
  initContainers:
    - {name: init, image: "${FIXTURE_IMAGE}", command: ["true"], resources: {limits: {cpu: "2"}}}
    - name: log
      image: ${FIXTURE_IMAGE}
      restartPolicy: Always
      command: [sleep, "3600"]
      resources: {limits: {cpu: 50m, memory: 8Mi}}
  containers:
    - name: main
      image: ${FIXTURE_IMAGE}
      command: [sleep, "3600"]
      resources: {limits: {cpu: 150m, memory: 24Mi}}
`,
    "half.yaml": `name: half
containers:
  - {name: a, image: "${FIXTURE_IMAGE}", command: [sleep, "3600"], resources: {limits: {memory: 8Mi}}}
  - {name: b, image: "${FIXTURE_IMAGE}", command: [sleep, "3600"], resources: {limits: {cpu: 10m, memory: 8Mi}}}
`,
  });
  await using _ = w.f;
  // The init container runs to completion first; then the pod's others start.
  // The init container (`true`) ends at once; then the sidecar starts, then main.
  for (let i = 0; i < 3; i++) await w.f.reconciler.pass();
  assert.deepEqual([...(await running(w.f)).keys()].sort(), [
    "default/half/a",
    "default/half/b",
    "default/s/log",
    "default/s/main",
  ]);
  const r = await top(w, []);
  assert.deepEqual(r.out, [
    HEAD,
    "default     half   0m           0Mi             -           16Mi           0",
    "default     s      0m           0Mi             200m        32Mi           0",
  ]);
});

Deno.test("tinylet top without pods says so and waits for nothing", async () => {
  const w = await usageWorld({});
  await using _ = w.f;
  const pending = w.f.clock.pending;
  assert.deepEqual(await top(w, []), {
    code: 0,
    out: [],
    err: ["No pods of instance default run"],
  });
  assert.equal(w.f.clock.pending, pending);
  assert.deepEqual(await top(w, ["-o", "json"]), { code: 0, out: ["[]"], err: [] });
});

Deno.test("tinylet top says when the runtime gives no stats, and exits 1", async () => {
  const w = await usageWorld();
  await using _ = w.f;
  w.f.cri.inject("ListContainerStats", {
    error: new CriError(
      "Unimplemented",
      "ListContainerStats",
      "ListContainerStats: unknown method ListContainerStats for service runtime.v1.RuntimeService",
    ),
  });
  assert.deepEqual(await top(w, []), {
    code: 1,
    out: [],
    err: [
      "Cannot read the runtime's stats: ListContainerStats: unknown method ListContainerStats for service runtime.v1.RuntimeService",
    ],
  });
});

const USAGE_ERRORS: [string[], string][] = [
  [["top", "--sort-by", "name"], '--sort-by: "name" is not cpu or memory'],
  [["top", "--sort-by="], '--sort-by: "" is not cpu or memory'],
  [["top", "-o", "wide"], '-o: "wide" is not json'],
  [["top", "web"], 'unexpected argument "web"'],
  [["top", "--sort-by"], "--sort-by: the value is missing"],
  [["top", "--containers=yes"], "--containers takes no value"],
  [["pods", "--containers"], '--containers is not an option of "tinylet pods"'],
  [["describe", "web", "--sort-by", "cpu"], '--sort-by is not an option of "tinylet describe"'],
];

for (const [args, message] of USAGE_ERRORS) {
  Deno.test(`tinylet ${args.join(" ")} is a usage error: ${message}`, () => {
    assert.throws(
      () => parseCommandLine(args, ENV),
      (err: unknown) => err instanceof UsageError && err.message === message,
    );
  });
}

Deno.test("tinylet top parses its flags", () => {
  const parsed = parseCommandLine(
    ["top", "--containers", "--sort-by", "memory", "-n", "shop", "-o", "json"],
    ENV,
  );
  assert.ok(parsed.command === "top");
  const { config: _, ...rest } = parsed;
  assert.deepEqual(rest, {
    command: "top",
    output: "json",
    namespace: "shop",
    containers: true,
    sortBy: "memory",
  });
  const plain = parseCommandLine(["top"], ENV);
  assert.ok(plain.command === "top");
  assert.deepEqual([plain.output, plain.namespace, plain.containers, plain.sortBy], [
    "table",
    undefined,
    false,
    undefined,
  ]);
});

Deno.test("tinylet top as a process, over gRPC: the table, and the runtime unreachable as for pods", async () => {
  await using f = await reconcilerFixture({
    prefix: "tinylet-top-",
    time: "system",
    fake: () => new FakeCri({ images: [FIXTURE_IMAGE] }),
  });
  const socket = `${f.dir}/cri.sock`;
  const server = await serveCri(f.cri, socket);
  try {
    await f.write("web.yaml", WEB);
    await f.reconciler.pass();
    const flags = [`--socket=${socket}`, `--manifests=${f.manifests}`, `--root=${f.root}`];
    const r = await tinylet(["top", ...flags]);
    // app spins at its limit, side idles. The times are Unix nanoseconds, past 2^53: as
    // numbers they are exact to 256 ns only, so the rate can come out a hair above 500, which
    // rounds up to 501m.
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, "");
    const [head, row, end, ...rest] = r.out.split("\n");
    assert.deepEqual([head, end, rest], [
      "NAMESPACE   NAME   CPU(cores)   MEMORY(bytes)   CPU LIMIT   MEMORY LIMIT   RESTARTS",
      "",
      [],
    ]);
    assert.match(row!, /^shop {8}web {4}50[01]m {9}0Mi {13}600m {8}96Mi {11}0$/);
    const help = await tinylet(["--help"]);
    assert.match(
      help.out,
      /\n {2}tinylet top \[--containers\] \[--sort-by cpu\|memory\] \[-n NAMESPACE\] \[-o json\]\n/,
    );
  } finally {
    await server.close();
  }
  const gone = [`--socket=${f.dir}/nothing.sock`, `--manifests=${f.manifests}`];
  const [top, pods] = await Promise.all([
    tinylet(["top", ...gone]),
    tinylet(["pods", ...gone]),
  ]);
  assert.equal(top.code, 1);
  assert.equal(top.out, "");
  assert.equal(top.err, pods.err);
  assert.match(top.err, /nothing\.sock/);
});

Deno.test("tinylet top takes the common flags and checks them as every command does", () => {
  const parsed = parseCommandLine(
    ["top", "--socket=/x/cri.sock", "--instance=edge", "-root=/state", "--log-format=json"],
    ENV,
  );
  assert.ok(parsed.command === "top");
  assert.deepEqual(
    [parsed.config.socket, parsed.config.instance, parsed.config.root, parsed.config.logFormat],
    ["/x/cri.sock", "edge", "/state", "json"],
  );
  assert.throws(
    () => parseCommandLine(["top", "--interval=600h"], ENV),
    (err: unknown) => err instanceof UsageError && /^--interval: "600h"/.test(err.message),
  );
});
