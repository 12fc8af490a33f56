/**
 * Rollback end to end, with the agent (`main.ts`, `--rollback-window 5s`) on a real containerd:
 * v1 runs its window and becomes the last good spec; v2 crash-loops and is back on v1 within
 * the window and 5 s, then stays on v1 for another window; v2' names an image no registry
 * serves and v1's container is never stopped; a good v3 stays; an agent SIGKILLed during v4's
 * window resumes (v4 crashes while it is down, the restarted agent rolls back to v3), and a
 * SIGKILL after a rollback leaves v3 running. Prints the timeline of v2's rollback.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import type { Cri } from "../lib/runtime/cri.ts";
import { KEYS, LABEL_INSTANCE } from "../lib/runtime/labels.ts";
import { type AgentProcess, startAgent } from "../testing/agent_process.ts";
import { agentFlags } from "../testing/agent_args.ts";
import { realRuntimeTest } from "../testing/containerd_harness.ts";
import { tinylet, writeAtomic } from "../testing/in_container.ts";
import { pauseFor, waitFor } from "../testing/wait.ts";

const INSTANCE = "rollback-e2e";
const WINDOW_MS = 5_000;
/** An image whose registry (port 1 of loopback) refuses every connection. */
const MISSING = "127.0.0.1:1/nope:1";
const RUNS = "trap 'exit 0' TERM; sleep 3600 & wait";
const CRASH_CAUSE = 'container "app" exited with code 1 (Error)';
const ROLLED_BACK = /^(\S+) WARN +Pod default\/web: Rolled back to the last good spec \(/;
const STARTED = /INFO +Started pod default\/web\b/;

/** Pod web, version `version` (its env VERSION), of `image`, running `script`. */
function web(version: string, script: string, image: string, trigger?: string): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: ${image}
      imagePullPolicy: IfNotPresent
      command: ["sh", "-c", ${JSON.stringify(script)}]
      env: [{name: VERSION, value: ${version}}]
${
    trigger
      ? `      volumeMounts: [{name: trigger, mountPath: /trigger}]
  volumes: [{name: trigger, hostPath: {path: ${trigger}, type: Directory}}]
`
      : ""
  }`;
}

/** The state file as read from disk (`<root>/rollback/default_web.json`). */
interface StateFile {
  lastGood?: { hash: string; pod: { spec: { containers: { env?: { value: string }[] }[] } } };
  rolledBack?: { hash: string; cause: string; from: string };
  watching?: { hash: string };
}

/** One sandbox of pod web with its spec hash and its containers' ids and states. */
interface Seen {
  sandbox: string;
  hash: string;
  ready: boolean;
  containers: { id: string; state: string; attempt: number }[];
}

async function podWeb(cri: Cri): Promise<Seen[]> {
  const selector = { [LABEL_INSTANCE]: INSTANCE, [KEYS.podName]: "web" };
  const [sandboxes, containers] = await Promise.all([
    cri.listPodSandbox({ labelSelector: selector }),
    cri.listContainers({ labelSelector: selector }),
  ]);
  const out = sandboxes.map((s) => ({
    sandbox: s.id,
    hash: s.annotations[KEYS.specHash] ?? "",
    ready: s.state === "SANDBOX_READY",
    containers: containers.filter((c) => c.podSandboxId === s.id)
      .map((c) => ({ id: c.id, state: c.state, attempt: c.metadata.attempt })),
  }));
  const orphans = containers.filter((c) => !sandboxes.some((s) => s.id === c.podSandboxId));
  assert.deepEqual(orphans.map((c) => c.id), [], "every container of web is in a sandbox");
  return out;
}

/** Waits until pod web runs spec `hash` (and not in `notSandbox`): its one container running. */
function runs(cri: Cri, hash: (h: string) => boolean, log: () => string, notSandbox = "") {
  return waitFor(() => `pod web running the spec wanted; the agent logged:\n${log()}`, async () => {
    const sb = (await podWeb(cri)).find((s) =>
      s.ready && hash(s.hash) && s.sandbox !== notSandbox && s.containers.length === 1 &&
      s.containers[0]!.state === "CONTAINER_RUNNING"
    );
    return sb && { ...sb, id: sb.containers[0]!.id };
  }, { timeoutMs: 30_000, everyMs: 10 });
}

/** Checks `check` every 25 ms for `ms` (a failed check fails at once). */
async function holdFor(ms: number, check: () => Promise<void>): Promise<number> {
  const end = performance.now() + ms;
  let checks = 0;
  while (performance.now() < end) {
    await check();
    checks++;
    await pauseFor(25);
  }
  await check();
  return checks + 1;
}

/** Fails unless pod web is exactly one ready sandbox `sandbox` with one running container `id`. */
async function onlyRuns(cri: Cri, sandbox: string, id: string): Promise<void> {
  const seen = await podWeb(cri);
  assert.deepEqual(
    seen.map((s) => [s.sandbox, s.ready, s.containers.map((c) => [c.id, c.state])]),
    [[sandbox, true, [[id, "CONTAINER_RUNNING"]]]],
  );
}

const short = (hash: string) => hash.replace(/^v1:/, "").slice(0, 12);
const versionOf = (s: StateFile["lastGood"]) => s?.pod.spec.containers[0]?.env?.[0]?.value;

realRuntimeTest("a bad edit is rolled back to the last good spec on containerd", async (t, rc) => {
  using cri = connectCri(rc.socket);
  const dir = `${rc.dir}/rollback-e2e`;
  const [manifests, root, trigger] = ["manifests", "root", "trigger"].map((d) => `${dir}/${d}`) as [
    string,
    string,
    string,
  ];
  for (const d of [manifests, trigger]) await Deno.mkdir(d, { recursive: true });
  const flags = {
    socket: rc.socket,
    manifests,
    instance: INSTANCE,
    root,
    podLogRoot: `${dir}/logs`,
  };
  const start = () =>
    startAgent(agentFlags({
      ...flags,
      interval: "1s",
      listen: "127.0.0.1:0",
      extra: ["--rollback-window", `${WINDOW_MS / 1000}s`],
    }));
  const file = `${manifests}/web.yaml`;
  const image = rc.busyboxImage;
  const state = async () =>
    JSON.parse(await Deno.readTextFile(`${root}/rollback/default_web.json`)) as StateFile;
  let agent: AgentProcess = start();
  const agents = [agent];
  const log = () => agents.map((a) => a.lines.join("\n")).join("\n--- agent restarted ---\n");
  const endpoint = async () => {
    const line = await agent.waitForLine(/Serving \/healthz, \/metrics and \/pods on /);
    return `http://${/(127\.0\.0\.1:\d+)/.exec(line)![1]}`;
  };
  const get = async (path: string) => await (await fetch((await endpoint()) + path)).text();
  const rolledBackLines = (from = 0) => agent.lines.slice(from).filter((l) => ROLLED_BACK.test(l));
  /** `tinylet pods` and `describe`, /pods' view of web and /metrics, read together. */
  const shown = async () => {
    const common = agentFlags(flags);
    const [pods, describe, api, metrics] = await Promise.all([
      tinylet(["pods", ...common]),
      tinylet(["describe", "default/web", ...common]),
      get("/pods"),
      get("/metrics"),
    ]);
    const views = JSON.parse(api) as {
      name: string;
      status: string;
      rolledBack?: { cause: string; failedHash: string; runningHash: string };
    }[];
    return {
      pods: pods.out,
      describe: describe.out,
      view: views.find((v) => v.name === "web"),
      metrics,
    };
  };
  /** A step; one that later steps build on (`needed`) stops the test when it fails. */
  const step = async (name: string, fn: () => Promise<void>, needed = true) => {
    const ok = await t.step(name, fn);
    if (!ok && needed) throw new Error(`Stopped after the failed step "${name}"`);
  };

  try {
    let v1 = { sandbox: "", id: "", hash: "" };
    await step("v1 runs its window and becomes the last good spec", async () => {
      await writeAtomic(file, web("v1", RUNS, image));
      const r = await runs(cri, () => true, log);
      v1 = { sandbox: r.sandbox, id: r.id, hash: r.hash };
      await agent.waitForLine(/Pod default\/web ran its rollback window/, { timeoutMs: 15_000 });
      const s = await state();
      assert.equal(s.lastGood?.hash, v1.hash);
      assert.equal(versionOf(s.lastGood), "v1");
      assert.equal(s.rolledBack, undefined);
      await onlyRuns(cri, v1.sandbox, v1.id);
    });

    let v1b = { sandbox: "", id: "" };
    await step(
      "v2 crash-loops: back on v1 within the window and 5 s, and stays there",
      async () => {
        const from = agent.lines.length;
        const editedAt = Date.now();
        await writeAtomic(file, web("v2", "echo v2; exit 1", image));
        const v2 = await waitFor(
          () => `v2's sandbox; the agent logged:\n${log()}`,
          async () => (await podWeb(cri)).find((s) => s.hash !== v1.hash),
          { timeoutMs: 15_000, everyMs: 5 },
        );
        const back = await runs(cri, (h) => h === v1.hash, log, v1.sandbox);
        const runningSeenAt = Date.now();
        const status = await cri.containerStatus(back.id);
        const rolledBackAt = Math.floor(status.startedAt / 1e6);
        const line = await agent.waitForLine(ROLLED_BACK, { after: from, timeoutMs: 1_000 });
        const failureAt = Date.parse(ROLLED_BACK.exec(line)![1]!);
        console.log(line);
        console.log(
          `rollback-timeline edit→failure ${failureAt - editedAt} ms, edit→rolled-back ${
            rolledBackAt - editedAt
          } ms (v1's new container started; seen running by the test at ${
            runningSeenAt - editedAt
          } ms)`,
        );
        assert.ok(runningSeenAt - editedAt <= WINDOW_MS + 5_000, `${runningSeenAt - editedAt} ms`);
        assert.notEqual(back.sandbox, v2.sandbox);
        v1b = { sandbox: back.sandbox, id: back.id };
        assert.ok(line.includes(`(${short(v1.hash)}): ${CRASH_CAUSE}; `), line);
        assert.ok(line.includes(`(${short(v2.hash)}) runs again once the file changes`), line);

        // Another whole window on v1: no v2 sandbox or container, no pod started.
        const holding = holdFor(WINDOW_MS + 1_000, () => onlyRuns(cri, v1b.sandbox, v1b.id));
        const seen = await shown();
        const checks = await holding;
        console.log(`${checks} checks over ${WINDOW_MS + 1_000} ms: only v1's new container ran`);
        console.log(seen.pods.trimEnd());
        console.log(seen.describe.trimEnd());
        assert.match(seen.pods, /^default\s+web\s+1\/1\s+RolledBack\s+0\s+\S+$/m);
        assert.ok(
          seen.describe.includes(
            `the spec in the file (${
              short(v2.hash)
            }) failed within its rollback window: ${CRASH_CAUSE}\n`,
          ),
          seen.describe,
        );
        assert.ok(
          seen.describe.includes(
            `running its last good spec (${short(v1.hash)}); edit the file to try again`,
          ),
          seen.describe,
        );
        assert.deepEqual(seen.view?.status, "RolledBack");
        assert.deepEqual(seen.view?.rolledBack, {
          ...seen.view?.rolledBack,
          cause: CRASH_CAUSE,
          failedHash: v2.hash,
          runningHash: v1.hash,
        });
        assert.match(seen.metrics, /^tinylet_rollbacks_total 1$/m);
        assert.equal(rolledBackLines(from).length, 1, log());
        assert.deepEqual(agent.lines.slice(from).filter((l) => STARTED.test(l)).length, 2, log());
        const s = await state();
        assert.equal(s.lastGood?.hash, v1.hash);
        assert.deepEqual(s.rolledBack, { ...s.rolledBack, hash: v2.hash, cause: CRASH_CAUSE });
      },
    );

    await step(
      "v2' names a missing image: v1's container is never stopped, and it is rolled back",
      async () => {
        const from = agent.lines.length;
        await writeAtomic(file, web("v2b", RUNS, MISSING));
        let line = "";
        let moved: unknown;
        await waitFor(() => `a rollback of v2'; the agent logged:\n${log()}`, async () => {
          try {
            await onlyRuns(cri, v1b.sandbox, v1b.id);
          } catch (err) {
            moved = err;
            return true;
          }
          line = rolledBackLines(from)[0] ?? "";
          return line !== "";
        }, { timeoutMs: 20_000, everyMs: 25 });
        if (moved) throw moved;
        const pulledAt = Date.parse(line.split(" ")[0]!);
        console.log(line);
        const cause = `image pull failed: Failed to pull image "${MISSING}": `;
        assert.ok(line.includes(`(${short(v1.hash)}): ${cause}`), line);
        assert.ok(line.includes("connect: connection refused"), line);
        // Past the pull's retry backoff (10 s), v1 still runs, unmoved, and v2' is not pulled again.
        const holding = holdFor(
          pulledAt + 11_000 - Date.now(),
          () => onlyRuns(cri, v1b.sandbox, v1b.id),
        );
        const seen = await shown();
        await holding;
        console.log(seen.pods.trimEnd());
        assert.match(seen.pods, /^default\s+web\s+1\/1\s+RolledBack\s+0\s+\S+$/m);
        assert.ok(seen.view?.rolledBack?.cause.startsWith(cause), JSON.stringify(seen.view));
        assert.match(seen.metrics, /^tinylet_rollbacks_total 2$/m);
        assert.equal(rolledBackLines(from).length, 1, log());
        assert.deepEqual(agent.lines.slice(from).filter((l) => STARTED.test(l)), []);
        const pulls = agent.lines.slice(from).filter((l) => l.includes(`Pulling image ${MISSING}`));
        assert.equal(pulls.length, 1, log());
        const s = await state();
        assert.equal(s.lastGood?.hash, v1.hash);
        assert.ok(s.rolledBack?.cause.startsWith(cause), JSON.stringify(s));
        // A rolled-back spec is not tried again: its cause promises no next try.
        assert.doesNotMatch(s.rolledBack?.cause ?? "", /next try/);
        assert.doesNotMatch(/^Rolled Back:.*$/m.exec(seen.describe)?.[0] ?? "", /next try/);
      },
      false,
    );

    let v3 = { sandbox: "", id: "", hash: "" };
    await step("a good v3 stays, and becomes the last good spec after its window", async () => {
      const from = agent.lines.length;
      await writeAtomic(file, web("v3", RUNS, image));
      // Its window ends in success, or it is rolled back: whichever the agent says first.
      const outcome = await waitFor(
        () => `v3's verdict; the agent logged:\n${log()}`,
        () =>
          agent.lines.slice(from).find((l) =>
            ROLLED_BACK.test(l) || /Pod default\/web ran its rollback window/.test(l)
          ),
        { timeoutMs: 25_000, everyMs: 50 },
      );
      assert.doesNotMatch(outcome, ROLLED_BACK, `v3 was rolled back: ${outcome}`);
      const r = await runs(cri, (h) => h !== v1.hash, log);
      v3 = { sandbox: r.sandbox, id: r.id, hash: r.hash };
      await onlyRuns(cri, v3.sandbox, v3.id);
      assert.equal(agent.lines.slice(from).filter((l) => STARTED.test(l)).length, 1, log());
      const s = await state();
      assert.equal(s.lastGood?.hash, v3.hash);
      assert.equal(versionOf(s.lastGood), "v3");
      assert.equal(s.rolledBack, undefined);
      const seen = await shown();
      assert.match(seen.pods, /^default\s+web\s+1\/1\s+Running\s+0\s+\S+$/m);
      assert.equal(seen.view?.rolledBack, undefined);
    });

    await step(
      "an agent SIGKILLed during v4's window rolls back to v3 once restarted",
      async () => {
        const from = agent.lines.length;
        await writeAtomic(
          file,
          web("v4", "until [ -e /trigger/crash ]; do sleep 0.1; done; exit 1", image, trigger),
        );
        const v4 = await runs(cri, (h) => h !== v3.hash, log);
        await waitFor(
          "v4 watched in the state file",
          async () => (await state()).watching?.hash === v4.hash,
        );
        await agent.kill();
        const killedAt = Date.now();
        assert.deepEqual(rolledBackLines(from), []);
        await Deno.writeTextFile(`${trigger}/crash`, "");
        const exited = await waitFor("v4's container to exit", async () => {
          const s = await cri.containerStatus(v4.id);
          return s.state === "CONTAINER_EXITED" && s;
        }, { timeoutMs: 10_000 });
        assert.equal(exited.exitCode, 1);
        assert.ok(exited.finishedAt / 1e6 >= killedAt, "v4 crashed while the agent was down");
        const restartedAt = Date.now();
        agent = start();
        agents.push(agent);
        const back = await runs(cri, (h) => h === v3.hash, log, v3.sandbox);
        console.log(`agent restart → v3 running again: ${Date.now() - restartedAt} ms`);
        const line = await agent.waitForLine(ROLLED_BACK, { timeoutMs: 5_000 });
        console.log(line);
        assert.ok(line.includes(`(${short(v3.hash)}): ${CRASH_CAUSE}; `), line);
        // The restarted agent started nothing of v4: no container restarted, no pod but v3.
        await holdFor(WINDOW_MS + 1_000, () => onlyRuns(cri, back.sandbox, back.id));
        assert.deepEqual(agent.lines.filter((l) => /Started container/.test(l)), [], log());
        assert.equal(agent.lines.filter((l) => STARTED.test(l)).length, 1, log());
        const s = await state();
        assert.equal(s.lastGood?.hash, v3.hash);
        assert.deepEqual(s.rolledBack, { ...s.rolledBack, hash: v4.hash, cause: CRASH_CAUSE });

        // Killed again after the rollback: the next agent keeps v3 and does not start v4.
        await agent.kill();
        agent = start();
        agents.push(agent);
        await agent.waitForLine(/Serving \/healthz/);
        await holdFor(WINDOW_MS + 1_000, () => onlyRuns(cri, back.sandbox, back.id));
        const seen = await shown();
        assert.match(seen.pods, /^default\s+web\s+1\/1\s+RolledBack\s+0\s+\S+$/m);
        assert.equal(seen.view?.rolledBack?.failedHash, v4.hash);
        assert.deepEqual(agent.lines.filter((l) => /Started (pod|container)/.test(l)), [], log());
        assert.deepEqual(rolledBackLines(), []);
      },
    );
    assert.equal(await agent.stop(), 0);
  } finally {
    await agent.kill();
  }
});
