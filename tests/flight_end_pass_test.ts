/**
 * The pass a flight's end asks for, on the fake runtime in real time: a pod's next step that
 * only a pass can start (its next init container, once the previous one exited) does not
 * wait on other pods' flights still running.
 */
import assert from "node:assert/strict";
import { createLogger } from "../lib/base/log.ts";
import { ManifestSource } from "../lib/manifest/source.ts";
import { Reconciler } from "../lib/reconcile/reconciler.ts";
import type { ContainerConfig, Cri } from "../lib/runtime/cri.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { holdSandbox } from "../testing/held_sandbox.ts";
import { waitFor } from "../testing/wait.ts";

const IMAGE = "docker.io/library/busybox:1.35";

/** A pod in the full form, named `name`, with `spec` under its `spec:`. */
function pod(name: string, spec: string): string {
  return `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n${spec}`;
}

/** Pod `a-slow`, whose sandbox the test makes slow to start. */
const SLOW = pod(
  "a-slow",
  `  containers:
    - name: slow
      image: ${IMAGE}
      command: ["sh", "-c", "sleep 3600"]
`,
);

/** Pod `b-chain`: two init containers that exit at once, then its regular container. */
const CHAIN = pod(
  "b-chain",
  `  initContainers:
    - name: one
      image: ${IMAGE}
      command: ["sh", "-c", "exit 0"]
    - name: two
      image: ${IMAGE}
      command: ["sh", "-c", "exit 0"]
  containers:
    - name: after
      image: ${IMAGE}
      command: ["sh", "-c", "sleep 3600"]
`,
);

Deno.test("a pod's next init container starts soon after the previous one exits, while another pod's flight still runs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-chain-" });
  const manifests = `${dir}/manifests`;
  await Deno.mkdir(manifests);
  const fake = new FakeCri({ images: [IMAGE] });
  // a-slow's sandbox is not made until the test ends: its flight runs all along.
  const held = holdSandbox(fake, "a-slow");
  /** When each container was created, by name, in milliseconds of `performance.now`. */
  const createdAt = new Map<string, number>();
  const cri = new Proxy(held.cri, {
    get(target, prop, receiver) {
      if (prop === "createContainer") {
        return (id: string, config: ContainerConfig, ...rest: unknown[]) => {
          createdAt.set(config.metadata.name, performance.now());
          return (target.createContainer as (...a: unknown[]) => unknown)(id, config, ...rest);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as Cri;
  let passes = 0;
  const reconciler = new Reconciler({
    cri,
    source: new ManifestSource(manifests),
    log: createLogger({
      format: "json",
      level: "debug",
      write: (line) => {
        if (JSON.parse(line).msg === "Pass done") passes++;
      },
    }),
    socket: "/run/fake.sock",
    nodeName: "node1",
    readHostDns: () => Promise.resolve({ servers: [], searches: [], options: [] }),
    instance: "default",
    root: `${dir}/root`,
    podLogRoot: `${dir}/logs`,
    parallel: 4,
    intervalMs: 60_000,
  });
  const controller = new AbortController();
  const loop = reconciler.run(controller.signal);
  try {
    // The start pass and the one the armed watcher asks for; then both pods in one file moved
    // into place: one event, one pass, that starts both flights.
    await waitFor("the first two passes", () => passes >= 2, { timeoutMs: 5_000 });
    await Deno.writeTextFile(`${dir}/pods.yaml`, `${SLOW}---\n${CHAIN}`);
    await Deno.rename(`${dir}/pods.yaml`, `${manifests}/pods.yaml`);
    await waitFor("b-chain's regular container", () => createdAt.has("after"), {
      timeoutMs: 4_000,
    });
    const slow = reconciler.pods.find((p) => p.name === "a-slow");
    assert.notEqual(slow?.phase, "Running", "a-slow was no longer starting");
    const one = createdAt.get("one")!;
    const two = createdAt.get("two")!;
    // The pass that starts `two` comes when the flight that started `one` ends; a pass asked
    // for later (1 s) would leave this gap over 1 s.
    assert.ok(two - one < 900, `init container two created ${Math.round(two - one)} ms after one`);
  } finally {
    controller.abort();
    held.release();
    await loop;
    fake.close();
    await Deno.remove(dir, { recursive: true });
  }
});
