/**
 * Rollback of an auto-update end to end, with the agent (`main.ts`, `--rollback-window 5s`,
 * `--auto-update-interval 3s`) on a real containerd pulling from a real registry (TLS, basic
 * auth): v1 of a tag runs its window and its image becomes the last good one; a bad image
 * pushed under the tag is taken by the auto-update, crashes, and the pod runs v1 again, pinned
 * by its repo digest; while the tag still names the bad image it is not tried again; a good v3
 * pushed under the tag releases the rollback and becomes the last good image. Prints the
 * timeline of the rollback, from the push.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import type { Container, Cri } from "../lib/runtime/cri.ts";
import { KEYS, LABEL_INSTANCE } from "../lib/runtime/labels.ts";
import { variantArchive } from "../testing/busybox_images.ts";
import { configDigest, realRegistryTest } from "../testing/registry_harness.ts";
import { startAgent } from "../testing/agent_process.ts";
import { agentFlags } from "../testing/agent_args.ts";
import { tinylet, writeAtomic } from "../testing/in_container.ts";
import { waitFor } from "../testing/wait.ts";

const INSTANCE = "rollback-update-e2e";
const WINDOW_MS = 5_000;
const INTERVAL_MS = 3_000;
const CRASH_CAUSE = 'container "app" exited with code 1 (Error)';
const ROLLED_BACK = /^(\S+) WARN +Pod default\/web: Rolled back to the last good images: /;
const CHECKED = /Checked images for updates images=\d+ updates=(\d+)/;

/** Pod web, auto-updated, of `image`: it runs unless its image's `/version` says `bad`. */
function web(image: string): string {
  const script = `test "$(cat /version)" != bad || exit 1; trap 'exit 0' TERM; sleep 3600 & wait`;
  return `apiVersion: v1
kind: Pod
metadata:
  name: web
  annotations:
    tinylet.dev/auto-update: registry
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: ${image}
      command: ["sh", "-c", ${JSON.stringify(script)}]
`;
}

/** The state file as read from disk (`<root>/rollback/default_web.json`). */
interface StateFile {
  lastGood?: { hash: string; images?: Record<string, { id: string; ref: string }> };
  rolledBack?: {
    hash: string;
    cause: string;
    images?: Record<string, { image: string; id: string }>;
  };
  watching?: { hash: string };
}

/** Every container of pod web (of this test's agent), in any state. */
function webContainers(cri: Cri): Promise<Container[]> {
  return cri.listContainers({
    labelSelector: { [LABEL_INSTANCE]: INSTANCE, [KEYS.podName]: "web" },
  });
}

/** The sandboxes of pod web (of this test's agent), in any state. */
async function webSandboxes(cri: Cri): Promise<string[]> {
  const list = await cri.listPodSandbox({
    labelSelector: { [LABEL_INSTANCE]: INSTANCE, [KEYS.podName]: "web" },
  });
  return list.map((s) => s.id);
}

/** The running container of pod web on image `id`, other than the one in `notSandbox`. */
async function runningOn(cri: Cri, id: string, notSandbox = ""): Promise<Container | undefined> {
  return (await webContainers(cri)).find((c) =>
    c.state === "CONTAINER_RUNNING" && c.imageRef === id && c.podSandboxId !== notSandbox
  );
}

realRegistryTest(
  "an auto-update to an image that crashes is rolled back to the last good image, pinned by digest",
  async (t, rc, registry) => {
    using cri = connectCri(rc.socket);
    const dir = await Deno.makeTempDir({ dir: rc.dir, prefix: "rollback-update-" });
    const [manifests, root] = [`${dir}/manifests`, `${dir}/root`];
    await Deno.mkdir(manifests, { mode: 0o755 });
    const credentials = `${dir}/config.json`;
    const auth = btoa(`${registry.username}:${registry.password}`);
    await Deno.writeTextFile(
      credentials,
      JSON.stringify({ auths: { [registry.host]: { auth } } }),
      { mode: 0o600 },
    );
    const tag = `${registry.host}/app:1`;
    /** Pushes the variant whose `/version` is `text` as app:1: its manifest digest and image id. */
    const push = async (text: string) => {
      const digest = await registry.push(await variantArchive(dir, text), "app:1");
      return {
        digest,
        id: await configDigest(registry, "app", digest),
        pinned: `${registry.host}/app@${digest}`,
      };
    };
    const flags = {
      socket: rc.socket,
      manifests,
      instance: INSTANCE,
      root,
      podLogRoot: `${dir}/logs`,
    };
    const agent = startAgent(agentFlags({
      ...flags,
      interval: "1s",
      listen: "127.0.0.1:0",
      logLevel: "debug",
      extra: [
        `--registry-config=${credentials}`,
        `--rollback-window=${WINDOW_MS / 1000}s`,
        `--auto-update-interval=${INTERVAL_MS / 1000}s`,
      ],
    }));
    const log = () => agent.lines.join("\n");
    const state = async () =>
      JSON.parse(await Deno.readTextFile(`${root}/rollback/default_web.json`)) as StateFile;
    const checksSince = (from: number) =>
      agent.lines.slice(from).map((l) => CHECKED.exec(l)).filter((m) => m !== null);
    const get = async (path: string) => {
      const line = await agent.waitForLine(/Serving \/healthz, \/metrics and \/pods on /);
      return await (await fetch(`http://${/(127\.0\.0\.1:\d+)/.exec(line)![1]}${path}`)).text();
    };
    /** How many times the registry answered a request for the tag's manifest (its access log). */
    const tagAsked = async () =>
      (await Deno.readTextFile(registry.log)).split("\n")
        .filter((l) => l.includes('"HEAD /v2/app/manifests/1 HTTP/1.1" 200 ')).length;
    /** A step; one that later steps build on stops the test when it fails. */
    const step = async (name: string, fn: () => Promise<void>) => {
      if (!await t.step(name, fn)) throw new Error(`Stopped after the failed step "${name}"`);
    };

    try {
      const v1 = await push("v1");
      let good: Container | undefined;
      await step(
        "v1 runs its window: its image, by repo digest, is the last good one",
        async () => {
          await writeAtomic(`${manifests}/web.yaml`, web(tag));
          const first = await waitFor(
            () => `pod web running v1 (${v1.id}); the agent logged:\n${log()}`,
            () => runningOn(cri, v1.id),
            { timeoutMs: 30_000, everyMs: 50 },
          );
          await agent.waitForLine(/Pod default\/web ran its rollback window: its spec \(/, {
            timeoutMs: WINDOW_MS + 10_000,
          });
          const s = await state();
          assert.deepEqual(s.lastGood?.images, { app: { id: v1.id, ref: v1.pinned } });
          assert.equal(s.rolledBack, undefined);
          assert.equal((await runningOn(cri, v1.id))?.id, first.id);
          good = first;
        },
      );

      const bad = await push("bad");
      assert.notEqual(bad.id, v1.id);
      let back: Container | undefined;
      let rolledBackAt = 0;
      await step(
        "the bad image under the tag crashes, and the pod runs v1 again, pinned",
        async () => {
          const pushed = Date.now();
          const from = agent.lines.length;
          const update = await waitFor(
            () => `a container of the bad image (${bad.id}); the agent logged:\n${log()}`,
            async () => (await webContainers(cri)).find((c) => c.imageRef === bad.id),
            { timeoutMs: INTERVAL_MS + 15_000, everyMs: 10 },
          );
          const updateSeenAt = Math.floor(update.createdAt / 1e6);
          const again = await waitFor(
            () => `v1 running again; the agent logged:\n${log()}`,
            () => runningOn(cri, v1.id, good!.podSandboxId),
            { timeoutMs: WINDOW_MS + 15_000, everyMs: 10 },
          );
          const runningSeenAt = Date.now();
          const line = await agent.waitForLine(ROLLED_BACK, { after: from, timeoutMs: 1_000 });
          rolledBackAt = Date.parse(ROLLED_BACK.exec(line)![1]!);
          const status = await cri.containerStatus(again.id);
          const startedAt = Math.floor(status.startedAt / 1e6);
          console.log(line);
          console.log(
            `rollback-update-timeline push→bad container created ${updateSeenAt - pushed} ms, ` +
              `push→failure detected ${rolledBackAt - pushed} ms, ` +
              `push→v1 running again ${startedAt - pushed} ms (seen by the test at ${
                runningSeenAt - pushed
              } ms; --auto-update-interval ${INTERVAL_MS} ms, --rollback-window ${WINDOW_MS} ms)`,
          );
          assert.ok(updateSeenAt - pushed <= INTERVAL_MS + 5_000, `${updateSeenAt - pushed} ms`);
          assert.ok(
            runningSeenAt - updateSeenAt <= WINDOW_MS + 5_000,
            `${runningSeenAt - updateSeenAt} ms`,
          );
          // v1 runs by its id, and the runtime was given it by repo digest.
          assert.equal(again.imageRef, v1.id);
          assert.equal(status.image.image, v1.pinned);
          assert.equal(status.imageRef, v1.pinned);
          assert.notEqual(again.podSandboxId, update.podSandboxId);
          const retry = `the tag "${tag}" of container "app" names another image than ${
            bad.id.slice(0, 19)
          } (the one that failed)`;
          assert.ok(
            line.endsWith(
              `: ${CRASH_CAUSE}; the pod goes back to its tags once ${retry}, or when ${manifests}/web.yaml changes (tags are checked every --auto-update-interval, and at once by tinylet auto-update)`,
            ),
            line,
          );
          assert.equal(agent.lines.slice(from).filter((l) => ROLLED_BACK.test(l)).length, 1, log());

          const common = agentFlags(flags);
          const [pods, describe, api, metrics] = await Promise.all([
            tinylet(["pods", ...common]),
            tinylet(["describe", "default/web", ...common]),
            get("/pods"),
            get("/metrics"),
          ]);
          console.log(describe.out.trimEnd());
          assert.match(
            pods.out,
            /^default\s+web\s+1\/1\s+RolledBack\s+0\s+\S+$/m,
            pods.out + pods.err,
          );
          assert.ok(
            describe.out.includes(
              `new images of the spec in the file failed within its rollback window: ${CRASH_CAUSE}\n`,
            ),
            describe.out + describe.err,
          );
          assert.ok(
            describe.out.includes(
              `running its last good images, pinned by digest; back to its tags once ${retry}, or when the file is edited\n`,
            ),
            describe.out,
          );
          const view = (JSON.parse(api) as {
            name: string;
            status: string;
            rolledBack?: { cause: string; failedImages?: unknown };
          }[]).find((v) => v.name === "web");
          assert.equal(view?.status, "RolledBack");
          assert.equal(view?.rolledBack?.cause, CRASH_CAUSE);
          assert.deepEqual(view?.rolledBack?.failedImages, { app: { image: tag, id: bad.id } });
          assert.match(metrics, /^tinylet_rollbacks_total 1$/m);
          const s = await state();
          assert.equal(s.rolledBack?.cause, CRASH_CAUSE);
          assert.deepEqual(s.rolledBack?.images, { app: { image: tag, id: bad.id } });
          assert.deepEqual(s.lastGood?.images, { app: { id: v1.id, ref: v1.pinned } });
          back = again;
        },
      );

      await step("while the tag names the bad image, it is not tried again", async () => {
        // Two more checks resolve the tag to the bad image: no container of it is created, the
        // pod keeps v1's container, and nothing more is rolled back.
        const from = agent.lines.length;
        const started = performance.now();
        const badOnes = new Set(
          (await webContainers(cri)).filter((c) => c.imageRef === bad.id).map((c) => c.id),
        );
        const asked = await tagAsked();
        const wrong: string[] = [];
        let listings = 0;
        await waitFor(
          () => `two auto-update checks after the rollback; the agent logged:\n${log()}`,
          async () => {
            const [containers, sandboxes] = await Promise.all([
              webContainers(cri),
              webSandboxes(cri),
            ]);
            listings++;
            for (const c of containers) {
              if (c.imageRef === bad.id && !badOnes.has(c.id)) wrong.push(`created ${c.id}`);
              if (c.id !== back!.id && c.state === "CONTAINER_RUNNING") wrong.push(`runs ${c.id}`);
            }
            if (!sandboxes.includes(back!.podSandboxId)) wrong.push("v1's sandbox is gone");
            return checksSince(from).length >= 2;
          },
          { timeoutMs: 3 * INTERVAL_MS + 5_000, everyMs: 50 },
        );
        const ms = Math.round(performance.now() - started);
        console.log(
          `${listings} listings over ${ms} ms and 2 checks (${
            checksSince(from).map((m) => m[0]).join("; ")
          }): no container of the bad image`,
        );
        assert.deepEqual(wrong, []);
        // The checks asked the registry for the tag (it names the bad image), and let it be.
        assert.ok((await tagAsked()) > asked, "the registry was asked for app:1 during the checks");
        assert.deepEqual(checksSince(from).map((m) => m[1]), ["0", "0"]);
        assert.equal(agent.lines.filter((l) => ROLLED_BACK.test(l)).length, 1, log());
        assert.ok(!agent.lines.slice(from).some((l) => /Updating pod|Started pod/.test(l)), log());
        const now = await webContainers(cri);
        assert.deepEqual(now.filter((c) => c.imageRef === bad.id).map((c) => c.id), []);
        assert.equal((await runningOn(cri, v1.id))?.id, back!.id);
      });

      await step("tinylet plan keeps the rolled-back pod, and says why", async () => {
        const r = await tinylet(["plan", ...agentFlags(flags)]);
        assert.equal(r.code, 0, r.out + r.err);
        assert.equal(
          r.out,
          `kept     default/web: rolled back to its last good images: ${CRASH_CAUSE}; back to its tags once the tag "${tag}" of container "app" names another image than ${
            bad.id.slice(0, 19)
          } (the one that failed), or edit ${manifests}/web.yaml\n`,
        );
      });

      await step(
        "a good v3 under the tag releases the rollback, runs its window and stays",
        async () => {
          const v3 = await push("v3");
          assert.notEqual(v3.id, v1.id);
          const pushed = Date.now();
          const from = agent.lines.length;
          const moved = await waitFor(
            () => `pod web running v3 (${v3.id}); the agent logged:\n${log()}`,
            () => runningOn(cri, v3.id),
            { timeoutMs: INTERVAL_MS + 15_000, everyMs: 25 },
          );
          const movedAt = Date.now();
          assert.ok(
            agent.lines.slice(from).some((l) =>
              l.includes(
                `Pod default/web: The tag "${tag}" of container "app" names ${
                  v3.id.slice(0, 19)
                } now, not ${
                  bad.id.slice(0, 19)
                } that was rolled back: the pod runs its declared spec again`,
              )
            ),
            log(),
          );
          const verdict = await waitFor(
            () => `v3's verdict; the agent logged:\n${log()}`,
            () =>
              agent.lines.slice(from).find((l) =>
                ROLLED_BACK.test(l) || /Pod default\/web ran its rollback window/.test(l)
              ),
            { timeoutMs: WINDOW_MS + 10_000, everyMs: 50 },
          );
          console.log(
            `rollback-update-timeline push of v3→v3 running ${
              movedAt - pushed
            } ms; its window: ${verdict}`,
          );
          assert.match(
            verdict,
            /Pod default\/web ran its rollback window with its new images: they are its last good ones/,
          );
          const s = await state();
          assert.deepEqual(s.lastGood?.images, { app: { id: v3.id, ref: v3.pinned } });
          assert.equal(s.rolledBack, undefined);
          // It stays: one more check after its window changes nothing.
          const after = agent.lines.length;
          await waitFor(
            () => `a check after v3's window; the agent logged:\n${log()}`,
            () => checksSince(after).length >= 1,
            { timeoutMs: INTERVAL_MS + 5_000, everyMs: 50 },
          );
          assert.equal((await runningOn(cri, v3.id))?.id, moved.id);
          const containers = await webContainers(cri);
          assert.deepEqual(containers.map((c) => [c.id, c.state]), [[
            moved.id,
            "CONTAINER_RUNNING",
          ]]);
          assert.ok(
            !agent.lines.slice(after).some((l) => /Updating pod|Started pod/.test(l)),
            log(),
          );
          const pods = await tinylet(["pods", ...agentFlags(flags)]);
          assert.match(pods.out, /^default\s+web\s+1\/1\s+Running\s+0\s+\S+$/m, pods.out);
        },
      );
      assert.equal(await agent.stop(), 0, log());
    } finally {
      await agent.kill();
    }
  },
);
