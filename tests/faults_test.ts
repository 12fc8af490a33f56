/**
 * The running loop (`Reconciler.run`, as main.ts runs it) against the fake
 * runtime served over gRPC, with faults injected: errors per method, calls
 * that hang past their deadline, storms of Unavailable. It must survive,
 * never wedge, and converge.
 */
import assert from "node:assert/strict";
import type { Clock } from "../lib/base/clock.ts";
import { connectCri } from "../lib/runtime/grpc.ts";
import { CriError } from "../lib/runtime/errors.ts";
import { createLogger } from "../lib/base/log.ts";
import { Reconciler } from "../lib/reconcile/reconciler.ts";
import { ManifestSource } from "../lib/manifest/source.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { serveCri } from "../testing/fake_cri_server.ts";
import { HandClock } from "../testing/hand_clock.ts";
import { waitFor } from "../testing/wait.ts";

const IMAGE = "docker.io/library/busybox:1.35";

/** How a test's loop differs from the usual. */
interface LoopOptions {
  /** The runtime served (default: a fake with {@linkcode IMAGE}). */
  fake?: FakeCri;
  /** The loop's clock (default: the system's). */
  clock?: Clock;
  /** Manifest files (name to text) written before the loop starts, so no file event follows. */
  files?: Record<string, string>;
}

async function withLoop(
  fn: (s: { fake: FakeCri; manifests: string; lines: string[] }) => Promise<void>,
  options: LoopOptions = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-faults-" });
  const manifests = `${dir}/manifests`;
  await Deno.mkdir(manifests);
  for (const [name, text] of Object.entries(options.files ?? {})) {
    await Deno.writeTextFile(`${manifests}/${name}`, text);
  }
  const fake = options.fake ?? new FakeCri({ images: [IMAGE] });
  const lines: string[] = [];
  const controller = new AbortController();
  let loop: Promise<void> | undefined;
  try {
    await using _server = await serveCri(fake, `${dir}/cri.sock`);
    // Short deadlines, so a hung call is cut off quickly.
    using cri = connectCri(`${dir}/cri.sock`, { timeoutMs: 300 });
    const reconciler = new Reconciler({
      cri,
      source: new ManifestSource(manifests),
      log: createLogger({ write: (l) => lines.push(l) }),
      socket: `${dir}/cri.sock`,
      nodeName: "node1",
      readHostDns: () => Promise.resolve({ servers: [], searches: [], options: [] }),
      instance: "default",
      root: `${dir}/root`,
      podLogRoot: `${dir}/logs`,
      parallel: 4,
      intervalMs: 200,
      failureBackoff: { initialMs: 50, maxMs: 400, resetAfterMs: 5_000 },
      ...(options.clock ? { clock: options.clock } : {}),
    });
    loop = reconciler.run(controller.signal);
    await fn({ fake, manifests, lines });
  } finally {
    controller.abort();
    const t0 = performance.now();
    await loop;
    assert.ok(performance.now() - t0 < 5_000, "the loop stops within 5 s");
    await Deno.remove(dir, { recursive: true });
  }
}

async function runningPods(fake: FakeCri): Promise<string[]> {
  const sbs = await fake.listPodSandbox({ state: "SANDBOX_READY" });
  const running = new Set(
    (await fake.listContainers({ state: "CONTAINER_RUNNING" })).map((c) => c.podSandboxId),
  );
  return sbs.filter((s) => running.has(s.id)).map((s) => s.metadata.name).sort();
}

function manifest(name: string): string {
  return `name: ${name}\ncontainers: [{name: c, image: "${IMAGE}", command: [sleep, "3600"]}]\n`;
}

Deno.test("errors on every kind of call: the loop survives and converges", async () => {
  await withLoop(async ({ fake, manifests }) => {
    for (const method of ["RunPodSandbox", "CreateContainer", "StartContainer", "ImageStatus"]) {
      fake.inject(method, { error: new Error(`injected ${method} failure`), times: 2 });
    }
    const names = ["a", "b", "c", "d", "e", "f"];
    for (const n of names) await Deno.writeTextFile(`${manifests}/${n}.yaml`, manifest(n));
    await waitFor(
      "all pods running",
      async () => (await runningPods(fake)).length === names.length,
      {
        timeoutMs: 20_000,
      },
    );
    assert.deepEqual(await runningPods(fake), names);
    assert.equal(fake.sandboxCount, names.length, "no sandbox leaked by a failed creation");
  });
});

Deno.test("a pod whose runtime call hangs does not hold up the others", async () => {
  await withLoop(async ({ fake, manifests }) => {
    fake.inject("RunPodSandbox", { delayMs: 3_000, times: 1 });
    await Deno.writeTextFile(`${manifests}/slow.yaml`, manifest("slow"));
    await waitFor("the slow pod's sandbox call", () => fake.methods().includes("RunPodSandbox"));
    await Deno.writeTextFile(`${manifests}/other.yaml`, manifest("other"));
    await waitFor(
      "the other pod running",
      async () => (await runningPods(fake)).includes("other"),
      {
        timeoutMs: 2_500,
      },
    );
    assert.deepEqual(await runningPods(fake), ["other"], "the slow pod is still waiting");
    await waitFor("both pods running", async () => (await runningPods(fake)).length === 2, {
      timeoutMs: 20_000,
    });
  });
});

Deno.test("list calls that hang past their deadline do not wedge the loop", async () => {
  await withLoop(async ({ fake, manifests, lines }) => {
    fake.inject("ListPodSandbox", { delayMs: 2_000, times: 3 });
    await Deno.writeTextFile(`${manifests}/web.yaml`, manifest("web"));
    await waitFor("the pod running", async () => (await runningPods(fake)).length === 1, {
      timeoutMs: 20_000,
    });
    assert.equal(
      lines.filter((l) =>
        l.includes("Cannot reach the container runtime") && l.includes("did not answer in time")
      ).length,
      1,
      lines.join("\n"),
    );
  });
});

Deno.test("a storm of Unavailable is logged once and the loop converges when it passes", async () => {
  await withLoop(async ({ fake, manifests, lines }) => {
    fake.inject("ListPodSandbox", {
      error: new CriError("Unavailable", "ListPodSandbox", "connection refused"),
      times: 12,
    });
    await Deno.writeTextFile(`${manifests}/web.yaml`, manifest("web"));
    await waitFor("the pod running", async () => (await runningPods(fake)).length === 1, {
      timeoutMs: 20_000,
    });
    assert.equal(lines.filter((l) => l.includes("Cannot reach the container runtime")).length, 1);
    assert.equal(lines.filter((l) => l.includes("answers again")).length, 1);
  });
});

Deno.test("a pod that keeps failing does not delay the others, and backs off", async () => {
  const broken = "registry.invalid/none:1";
  const hand = new HandClock();
  /** The timers the loop asked for: when it asked, and when each is due (hand-clock ms). */
  const asked: { at: number; due: number }[] = [];
  const clock: Clock = {
    now: () => hand.now(),
    epochMs: () => hand.epochMs(),
    schedule: (fn, ms) => {
      asked.push({ at: hand.now(), due: hand.now() + ms });
      return hand.schedule(fn, ms);
    },
  };
  const fake = new FakeCri({ images: [IMAGE], now: () => hand.epochMs() });
  /** When the broken pod was tried (its image looked up), in hand-clock ms. */
  const tries: number[] = [];
  const lookUp = fake.imageStatus.bind(fake);
  fake.imageStatus = (image, opts) => {
    if (image.image === broken) tries.push(hand.now());
    return lookUp(image, opts);
  };
  /** Waits, the clock standing still, until the loop has asked for a timer at `at` due at `due`. */
  const asleepUntil = (at: number, due: number) =>
    waitFor(
      () =>
        `a timer asked for at ${at} ms, due at ${due} ms; the last ones asked for: ${
          JSON.stringify(asked.slice(-10))
        }`,
      async () => {
        await hand.advance(0);
        return asked.some((a) => a.at === at && a.due === due);
      },
      { timeoutMs: 10_000 },
    );
  await withLoop(async ({ fake }) => {
    await waitFor("the good pod running", async () => {
      await hand.advance(0);
      return (await runningPods(fake)).includes("fine");
    }, { timeoutMs: 10_000 });
    // The pod's backoff (50 ms doubling, at most 400 ms) sets each next try: failed at 0 ms,
    // tried again at 50, 150, 350 and 750 ms, while the loop also looks every 200 ms.
    let at = 0;
    for (const delay of [50, 100, 200, 400]) {
      await asleepUntil(at, at + delay);
      await hand.advance(at + delay - hand.now());
      at += delay;
      await waitFor(`the try at ${at} ms`, async () => {
        await hand.advance(0);
        return tries.includes(at);
      }, { timeoutMs: 10_000 });
    }
    await asleepUntil(750, 1_150);
    // The looks at 800 and 1000 ms hold it until 1150 ms.
    await hand.advance(1_000 - hand.now());
    await asleepUntil(1_000, 1_150);
    assert.deepEqual(tries, [0, 50, 150, 350, 750], "the tries in the first second");
    // The image's own backoff (kubelet's: 10 s) holds the pulls meanwhile.
    assert.equal(fake.methods().filter((m) => m === "PullImage").length, 1);
    assert.deepEqual(await runningPods(fake), ["fine"]);
  }, {
    fake,
    clock,
    files: {
      "broken.yaml": `name: broken\ncontainers: [{name: c, image: "${broken}"}]\n`,
      "fine.yaml": manifest("fine"),
    },
  });
});

Deno.test("a deadline error is a CriError of kind DeadlineExceeded", () => {
  const e = new CriError("DeadlineExceeded", "RunPodSandbox", "x");
  assert.equal(e.name, "DeadlineExceededError");
});
