/**
 * Pod lifecycle on a real containerd: init containers, restart policies,
 * crash-loop backoff, graceful stop and log rotation.
 */
import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import type { Container, Cri } from "../lib/runtime/cri.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { startAgent } from "../testing/agent_process.ts";
import { agentFlags } from "../testing/agent_args.ts";
import { realRuntimeTest } from "../testing/containerd_harness.ts";
import { waitFor } from "../testing/wait.ts";

const INSTANCE = "lifecycle-e2e";

function pod(name: string, body: string): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  terminationGracePeriodSeconds: 1
${body}`;
}

async function containersOf(cri: Cri, podName: string, container?: string): Promise<Container[]> {
  return await cri.listContainers({
    labelSelector: {
      "tinylet/instance": INSTANCE,
      [KEYS.podName]: podName,
      ...(container ? { [KEYS.containerName]: container } : {}),
    },
  });
}

realRuntimeTest("pod lifecycle on a real containerd", async (t, rc) => {
  const dir = `${rc.dir}/lifecycle`;
  const manifests = `${dir}/manifests`;
  const logs = `${dir}/logs`;
  await Deno.mkdir(manifests, { recursive: true });
  await Deno.mkdir(`${dir}/host`, { recursive: true });
  using cri = connectCri(rc.socket);
  const image = rc.busyboxImage;
  await using agent = startAgent(agentFlags({
    socket: rc.socket,
    manifests,
    instance: INSTANCE,
    root: `${dir}/root`,
    podLogRoot: logs,
    interval: "300ms",
    logLevel: "debug",
    extra: [
      "--container-log-max-size",
      "64Ki",
      "--container-log-monitor-interval",
      "1s",
      "--container-log-max-files",
      "3",
    ],
  }));

  // The crash loop runs in the background while the other steps go on.
  const crashStarts = new Map<string, number>();
  const t0 = Date.now();
  await Deno.writeTextFile(
    `${manifests}/crash.yaml`,
    pod(
      "crash",
      `  containers:
    - name: crash
      image: ${image}
      command: ["sh", "-c", "echo starting; exit 1"]
`,
    ),
  );
  const poll = setInterval(async () => {
    try {
      for (const c of await containersOf(cri, "crash", "crash")) {
        if (crashStarts.has(c.id)) continue;
        const s = await cri.containerStatus(c.id);
        if (s.startedAt > 0) crashStarts.set(c.id, s.startedAt / 1e6);
      }
    } catch {
      // The next tick tries again.
    }
  }, 100);

  try {
    await t.step(
      "an init container hands a file to the main container through an emptyDir",
      async () => {
        await Deno.writeTextFile(
          `${manifests}/init.yaml`,
          pod(
            "init",
            `  initContainers:
    - name: prepare
      image: ${image}
      command: ["sh", "-c", "echo token-42 > /work/token"]
      volumeMounts: [{name: work, mountPath: /work}]
  containers:
    - name: main
      image: ${image}
      command: ["sh", "-c", "cat /work/token; trap 'exit 0' TERM; sleep 3600 & wait"]
      volumeMounts: [{name: work, mountPath: /work}]
  volumes:
    - name: work
      emptyDir: {}
`,
          ),
        );
        const [main] = await waitFor("the main container running", async () => {
          const cs = await containersOf(cri, "init", "main");
          return cs[0]?.state === "CONTAINER_RUNNING" && cs;
        }, { timeoutMs: 30_000 });
        const [prepare] = await containersOf(cri, "init", "prepare");
        assert.ok(prepare && main);
        const ps = await cri.containerStatus(prepare.id);
        const ms = await cri.containerStatus(main.id);
        assert.equal(ps.state, "CONTAINER_EXITED");
        assert.equal(ps.exitCode, 0);
        assert.ok(ms.startedAt >= ps.finishedAt, "main started after the init container finished");
        assert.equal(ms.annotations[KEYS.containerType], "regular");
        assert.equal(ps.annotations[KEYS.containerType], "init");
        const text = await waitFor("main's log", async () => {
          const t = await Deno.readTextFile(ms.logPath).catch(() => "");
          return t.includes("token-42") && t;
        });
        assert.match(text, / stdout F token-42$/m);
      },
    );

    await t.step("restartPolicy Never runs a container once", async () => {
      await Deno.writeTextFile(
        `${manifests}/once.yaml`,
        pod(
          "once",
          `  restartPolicy: Never
  containers:
    - name: job
      image: ${image}
      command: ["sh", "-c", "echo done; exit 3"]
`,
        ),
      );
      await waitFor("the job to exit", async () => {
        const cs = await containersOf(cri, "once");
        return cs.length === 1 && cs[0]!.state === "CONTAINER_EXITED";
      }, { timeoutMs: 30_000 });
      // Several passes later it has not been started again.
      for (let i = 0; i < 4; i++) {
        await agent.waitForLine(/Pass done/, { after: agent.lines.length });
      }
      const cs = await containersOf(cri, "once");
      assert.deepEqual(cs.map((c) => [c.metadata.attempt, c.state]), [[0, "CONTAINER_EXITED"]]);
    });

    await t.step("restartPolicy OnFailure restarts only a container that failed", async () => {
      await Deno.writeTextFile(
        `${manifests}/onfailure.yaml`,
        pod(
          "onfailure",
          `  restartPolicy: OnFailure
  containers:
    - name: ok
      image: ${image}
      command: ["sh", "-c", "exit 0"]
    - name: flaky
      image: ${image}
      command: ["sh", "-c", "if [ -e /data/ran ]; then trap 'exit 0' TERM; sleep 3600 & wait; else touch /data/ran; exit 1; fi"]
      volumeMounts: [{name: data, mountPath: /data}]
  volumes:
    - name: data
      emptyDir: {}
`,
        ),
      );
      const flaky = await waitFor("flaky restarted and running", async () => {
        const cs = await containersOf(cri, "onfailure", "flaky");
        return cs.some((c) => c.metadata.attempt === 1 && c.state === "CONTAINER_RUNNING") && cs;
      }, { timeoutMs: 40_000 });
      assert.deepEqual(flaky.map((c) => c.metadata.attempt).sort(), [0, 1]);
      const ok = await containersOf(cri, "onfailure", "ok");
      assert.deepEqual(ok.map((c) => [c.metadata.attempt, c.state]), [[0, "CONTAINER_EXITED"]]);
    });

    await t.step(
      "a graceful stop lets a container that traps TERM finish within the grace period",
      async () => {
        const marker = `${dir}/host/term.log`;
        await Deno.writeTextFile(
          `${manifests}/graceful.yaml`,
          `apiVersion: v1
kind: Pod
metadata:
  name: graceful
spec:
  terminationGracePeriodSeconds: 10
  containers:
    - name: app
      image: ${image}
      command: ["sh", "-c", "trap 'echo term >> /host/term.log; sleep 2; echo done >> /host/term.log; exit 0' TERM; echo up >> /host/term.log; sleep 3600 & wait"]
      volumeMounts: [{name: host, mountPath: /host}]
  volumes:
    - name: host
      hostPath: {path: ${dir}/host, type: Directory}
`,
        );
        await waitFor(
          "the app up",
          async () => (await Deno.readTextFile(marker).catch(() => "")) === "up\n",
          {
            timeoutMs: 30_000,
          },
        );
        const t1 = performance.now();
        await Deno.remove(`${manifests}/graceful.yaml`);
        await waitFor("the pod gone", async () =>
          (await cri.listPodSandbox({
            labelSelector: { "tinylet/instance": INSTANCE, [KEYS.podName]: "graceful" },
          })).length === 0, { timeoutMs: 30_000 });
        const ms = performance.now() - t1;
        assert.equal(await Deno.readTextFile(marker), "up\nterm\ndone\n");
        assert.ok(ms >= 2000, `the stop took ${Math.round(ms)} ms, the handler needs 2 s`);
        console.log(
          `graceful stop: TERM handler ran to completion; gone after ${Math.round(ms)} ms`,
        );
      },
    );

    await t.step("a chatty container's log is rotated and old files are pruned", async () => {
      await Deno.writeTextFile(
        `${manifests}/chatty.yaml`,
        pod(
          "chatty",
          `  containers:
    - name: talk
      image: ${image}
      command: ["sh", "-c", "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo \\"line $i: 0123456789012345678901234567890123456789012345678901234567890123456789\\"; usleep 200; done"]
`,
        ),
      );
      const [talk] = await waitFor("the chatty container", async () => {
        const cs = await containersOf(cri, "chatty", "talk");
        return cs[0]?.state === "CONTAINER_RUNNING" && cs;
      }, { timeoutMs: 30_000 });
      const logPath = (await cri.containerStatus(talk!.id)).logPath;
      const dirOf = logPath.slice(0, logPath.lastIndexOf("/"));
      const rotated = async () => {
        const names: string[] = [];
        for await (const e of Deno.readDir(dirOf)) {
          if (e.name.startsWith("0.log.")) names.push(e.name);
        }
        return names.sort();
      };
      // Wait until rotation has happened more often than the files kept.
      const seen = new Set<string>();
      await waitFor("three rotations", async () => {
        for (const n of await rotated()) seen.add(n);
        return seen.size >= 3;
      }, { timeoutMs: 60_000 });
      // A rotation renames, reopens, then prunes: wait for the prune of the latest one.
      const kept = await waitFor("old rotated files pruned", async () => {
        const k = await rotated();
        return k.length <= 2 && k;
      });
      for (const n of kept) assert.match(n, /^0\.log\.\d{8}-\d{6}$/);
      const size1 = (await Deno.stat(logPath)).size;
      await waitFor("the current log to grow after reopening", async () => {
        const s = await Deno.stat(logPath).catch(() => undefined);
        return s !== undefined && s.size !== size1;
      });
      console.log(`log rotation: ${seen.size} rotations seen, kept ${kept.join(", ")}`);
      await Deno.remove(`${manifests}/chatty.yaml`);
    });

    await t.step(
      "a crashing container restarts with backoff: a handful of starts in a minute",
      async () => {
        await waitFor("65 s of crash loop", () => Date.now() - t0 >= 65_000, { timeoutMs: 90_000 });
        const starts = [...crashStarts.values()].sort((a, b) => a - b);
        const first = starts[0] ?? 0;
        const offsets = starts.map((s) => Math.round((s - first) / 100) / 10);
        const gaps = starts.slice(1).map((s, i) => (s - starts[i]!) / 1000);
        console.log(
          `crash loop: starts at +${offsets.join(" s, +")} s; gaps ${
            gaps.map((g) => g.toFixed(1)).join(", ")
          } s`,
        );
        // 10 s, then 20 s, then 40 s: in 65 s that is 3 or 4 starts, never dozens.
        assert.ok(starts.length >= 3 && starts.length <= 4, `${starts.length} starts`);
        assert.ok(gaps[0]! >= 9.5, `first gap ${gaps[0]}`);
        assert.ok(gaps[1]! >= 19.5, `second gap ${gaps[1]}`);
        const cs = await containersOf(cri, "crash", "crash");
        assert.ok(cs.length <= 2, "one dead instance is kept beside the newest");
        const newest = cs.reduce((a, b) => (a.metadata.attempt > b.metadata.attempt ? a : b));
        assert.equal(newest.annotations[KEYS.restartCount], String(newest.metadata.attempt));
        const s = await cri.containerStatus(newest.id);
        assert.ok(s.logPath.endsWith(`/crash/${newest.metadata.attempt}.log`), s.logPath);
      },
    );
  } finally {
    clearInterval(poll);
  }
  assert.equal(await agent.stop(), 0);
});
