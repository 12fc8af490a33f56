/**
 * Robustness of the agent end to end, against a private real containerd:
 * twenty pods at once, reaction time through file watching alone (the safety
 * tick is 60 s), a broken edit, hostile files, the agent SIGKILLed and
 * restarted, containerd killed and restarted under it, and a clean stop.
 *
 * The figures it prints (`robust:` lines) are measurements, not assertions;
 * the bounds asserted are generous so that a slow machine does not fail them.
 */
import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import type { Cri } from "../lib/runtime/cri.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { type AgentProcess, startAgent } from "../testing/agent_process.ts";
import { agentFlags } from "../testing/agent_args.ts";
import { realRuntimeTest } from "../testing/containerd_harness.ts";
import { waitFor } from "../testing/wait.ts";

const INSTANCE = "robust-e2e";
const RUNNING_TIMEOUT_MS = 30_000;
/** A reaction slower than this fails; the target is about 1 s, the tick is 60 s. */
const REACTION_BOUND_MS = 10_000;
const REACTIONS = 10;
const COLD_PODS = 20;

/** A hostNetwork busybox pod that stops at once on TERM. Line 6 is `hostNetwork`. */
function podYaml(name: string, image: string): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: ${image}
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
`;
}

/** Ten levels of nine aliases each: 9^10 strings once expanded. */
function billionLaughs(): string {
  const lines = [`a: &a [${Array(9).fill('"lol"').join(", ")}]`];
  for (let i = 1; i < 10; i++) {
    const prev = String.fromCharCode(96 + i);
    const name = String.fromCharCode(97 + i);
    lines.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(", ")}]`);
  }
  return `${lines.join("\n")}\n`;
}

/** What the runtime holds for one pod of ours: ids and states, sorted by id. */
interface PodState {
  sandboxes: { id: string; state: string }[];
  containers: { id: string; state: string }[];
}

/** Every pod of this instance on the runtime, by pod name. */
type Snapshot = Map<string, PodState>;

async function snapshot(cri: Cri): Promise<Snapshot> {
  const selector = { labelSelector: { "tinylet": "true", "tinylet/instance": INSTANCE } };
  const [sandboxes, containers] = await Promise.all([
    cri.listPodSandbox(selector),
    cri.listContainers(selector),
  ]);
  const pods: Snapshot = new Map();
  const entry = (name: string | undefined) => {
    const key = name ?? "(no pod name label)";
    let pod = pods.get(key);
    if (!pod) {
      pod = { sandboxes: [], containers: [] };
      pods.set(key, pod);
    }
    return pod;
  };
  for (const s of sandboxes) {
    entry(s.labels[KEYS.podName]).sandboxes.push({ id: s.id, state: s.state });
  }
  for (const c of containers) {
    entry(c.labels[KEYS.podName]).containers.push({ id: c.id, state: c.state });
  }
  for (const pod of pods.values()) {
    pod.sandboxes.sort((a, b) => a.id.localeCompare(b.id));
    pod.containers.sort((a, b) => a.id.localeCompare(b.id));
  }
  return pods;
}

/** One READY sandbox, and every container (at least one) RUNNING. */
function isRunning(pod: PodState | undefined): boolean {
  return pod !== undefined && pod.sandboxes.length === 1 &&
    pod.sandboxes[0]!.state === "SANDBOX_READY" && pod.containers.length > 0 &&
    pod.containers.every((c) => c.state === "CONTAINER_RUNNING");
}

/** Each pod of `before` that is no longer the same, running pod: `[]` when none changed. */
function changes(before: Snapshot, after: Snapshot): string[] {
  const out: string[] = [];
  for (const [name, was] of before) {
    const now = after.get(name);
    if (!now) out.push(`${name}: gone`);
    else if (JSON.stringify(now) !== JSON.stringify(was)) {
      out.push(`${name}: ${JSON.stringify(was)} became ${JSON.stringify(now)}`);
    } else if (!isRunning(now)) out.push(`${name}: not running: ${JSON.stringify(now)}`);
  }
  return out;
}

/** PIDs of live (not zombie) processes that have `arg` as one of their arguments. */
async function processesWithArg(arg: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      const cmdline = await Deno.readTextFile(`/proc/${e.name}/cmdline`);
      if (!cmdline.split("\0").includes(arg)) continue;
      const stat = await Deno.readTextFile(`/proc/${e.name}/stat`);
      if (!/^\d+ \(.*\) Z/.test(stat)) pids.push(Number(e.name));
    } catch {
      // Exited meanwhile.
    }
  }
  return pids;
}

/**
 * Checks every 50 ms that exactly one process has `arg` among its arguments
 * (the agent); `stop()` ends the checks and returns when and what was wrong.
 */
function watchAlive(arg: string): { stop(): Promise<string[]> } {
  const problems: string[] = [];
  const started = performance.now();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const pids = await processesWithArg(arg);
      if (pids.length !== 1) {
        problems.push(`at +${Math.round(performance.now() - started)} ms: ${pids.length} agents`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return problems;
    },
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? NaN;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const isDebug = (line: string) => /^\S+ DEBUG /.test(line);

/** True when `line` holds a raw control character (a tab excepted). */
function hasControlCharacter(line: string): boolean {
  for (const ch of line) {
    const code = ch.codePointAt(0)!;
    if ((code < 0x20 && code !== 0x09) || (code >= 0x7f && code <= 0x9f)) return true;
  }
  return false;
}

/** Shows a control character as `\xNN`. */
function visible(line: string): string {
  return [...line].map((ch) =>
    hasControlCharacter(ch) ? `\\x${ch.codePointAt(0)!.toString(16)}` : ch
  )
    .join("");
}

realRuntimeTest(
  "the agent stays correct under load, bad files, kills and runtime restarts",
  async (t0, rc) => {
    const dir = `${rc.dir}/robust`;
    const manifests = `${dir}/manifests`;
    await Deno.mkdir(manifests, { recursive: true });
    const image = rc.busyboxImage;
    const args = agentFlags({
      socket: rc.socket,
      manifests,
      interval: "60s",
      instance: INSTANCE,
      root: `${dir}/root`,
      podLogRoot: `${dir}/logs`,
      insecureManifestPermissions: true,
      logLevel: "debug",
    });
    const agents: AgentProcess[] = [];
    const launch = () => {
      const agent = startAgent(args, { cwd: dir });
      agents.push(agent);
      return agent;
    };
    let agent = launch();
    let cri = connectCri(rc.socket);

    let failed = false;
    const step = async (name: string, fn: (t: Deno.TestContext) => Promise<void>) => {
      const ok = await t0.step(name, fn);
      if (!ok && !failed) {
        failed = true;
        const lines = agents.flatMap((a, i) => [`--- agent ${i + 1} ---`, ...a.lines]);
        const tail = lines.slice(-150).map((l) => visible(l.slice(0, 400)));
        console.log(`The agents logged (last ${tail.length} lines):\n${tail.join("\n")}`);
      }
      return ok;
    };

    /** Waits until every pod in `names` runs; returns the snapshot that showed it. */
    const running = (names: string[], timeoutMs = RUNNING_TIMEOUT_MS) => {
      let last: Snapshot = new Map();
      return waitFor(
        () =>
          `pods running: ${names.filter((n) => !isRunning(last.get(n))).join(", ")} (last seen: ${
            JSON.stringify([...last])
          })`,
        async () => {
          last = await snapshot(cri);
          return names.every((n) => isRunning(last.get(n))) && last;
        },
        { timeoutMs, everyMs: 10 },
      );
    };

    /** Writes a pod file and returns the ms until its pod runs. */
    const writePod = async (name: string) => {
      const started = performance.now();
      await Deno.writeTextFile(`${manifests}/${name}.yaml`, podYaml(name, image));
      await running([name]);
      return performance.now() - started;
    };

    /**
     * Writes a pod file, waits until its pod runs and then for a pass that
     * ended after the agent logged starting it: every file written before
     * this one has been read and reported by then.
     */
    const podAndPass = async (name: string) => {
      const from = agent.lines.length;
      const ms = await writePod(name);
      const started = await agent.waitForLine(new RegExp(`Started pod default/${name}\\b`), {
        after: from,
      });
      await agent.waitForLine(/Pass done/, { after: agent.lines.indexOf(started, from) + 1 });
      return ms;
    };

    const assertAlive = async (when: string) => {
      const pids = await processesWithArg(manifests);
      assert.equal(pids.length, 1, `one agent process is alive ${when} (found ${pids.join(", ")})`);
    };

    try {
      await agent.waitForLine(/Pass done/);

      await step(`${COLD_PODS} pods from cold all reach RUNNING`, async () => {
        const names = Array.from(
          { length: COLD_PODS },
          (_, i) => `cold-${String(i).padStart(2, "0")}`,
        );
        const started = performance.now();
        await Promise.all(
          names.map((n) => Deno.writeTextFile(`${manifests}/${n}.yaml`, podYaml(n, image))),
        );
        await running(names, 60_000);
        const ms = Math.round(performance.now() - started);
        console.log(`robust: ${COLD_PODS} pods written at once → all RUNNING in ${ms} ms`);
      });

      await step("a new file is acted on at once, not at the 60 s tick", async () => {
        const starting = agent.lines.find((l) => /tinylet starting/.test(l)) ?? "";
        assert.match(starting, /interval=1m0s\b/, "the agent runs with a 60 s tick");
        const times: number[] = [];
        for (let i = 0; i < REACTIONS; i++) {
          const ms = await writePod(`react-${String(i).padStart(2, "0")}`);
          times.push(ms);
        }
        const sorted = [...times].sort((a, b) => a - b);
        const p50 = Math.round(percentile(sorted, 0.5));
        const p95 = Math.round(percentile(sorted, 0.95));
        console.log(
          `robust: write → RUNNING with --interval 60s, n=${REACTIONS}: p50 ${p50} ms, p95 ${p95} ms ` +
            `(min ${Math.round(sorted[0]!)}, max ${Math.round(sorted.at(-1)!)}; each: ${
              times.map(Math.round).join(", ")
            })`,
        );
        // Ten reactions, each far below the tick: only the file watch explains them.
        for (const [i, ms] of times.entries()) {
          assert.ok(ms < REACTION_BOUND_MS, `reaction ${i} took ${Math.round(ms)} ms`);
        }
      });

      await step("a broken edit keeps the pod; fixing it back changes nothing", async () => {
        const name = "cold-00";
        const file = `${manifests}/${name}.yaml`;
        const good = podYaml(name, image);
        const before = await running([name]);
        const from = agent.lines.length;
        // Line 6 becomes `  hostNetwork: true: yes`, which is not YAML.
        await Deno.writeTextFile(file, good.replace("hostNetwork: true", "hostNetwork: true: yes"));
        const at = new RegExp(`${escapeRegExp(file)}:(\\d+):(\\d+): error: `);
        const line = await agent.waitForLine(at, { after: from });
        assert.match(line, /^\S+ ERROR /);
        assert.equal(at.exec(line)![1], "6", `the error names line 6: ${line}`);

        // A later file event, processed: the broken file was read in that pass or before.
        await podAndPass("after-broken");
        assert.deepEqual(changes(before, await snapshot(cri)), []);

        await Deno.writeTextFile(file, good);
        await podAndPass("after-fixed");
        assert.deepEqual(changes(before, await snapshot(cri)), []);
        const touched = agent.lines.slice(from).filter((l) =>
          /(Started|Removed|Failed to)/.test(l) && new RegExp(`default/${name}\\b`).test(l)
        );
        assert.deepEqual(touched, [], "the agent never started or removed the pod");
      });

      await step("hostile files give one clear line each and disturb nothing", async (t) => {
        await running(["cold-01"]);
        const before = await snapshot(cri);
        const from = agent.lines.length;
        const path = (name: string) => `${manifests}/${name}`;
        const invalid = [
          {
            what: "a file over 1 MiB",
            name: "big.yaml",
            bytes: new TextEncoder().encode(
              `${podYaml("big", image)}# ${"x".repeat(1024 * 1024)}\n`,
            ),
            clear: /1 MiB|bytes/,
          },
          {
            what: "a binary (non-UTF-8) file",
            name: "binary.yaml",
            // An ELF-like header, then bytes that are never UTF-8.
            bytes: Uint8Array.from("7f454c460201fffe00c328".match(/../g)!, (h) => parseInt(h, 16)),
            clear: /UTF-8|binary/i,
          },
          {
            what: "a YAML alias bomb",
            name: "bomb.yaml",
            bytes: new TextEncoder().encode(billionLaughs()),
            clear: /alias/i,
          },
          {
            what: "a document nested 100000 deep",
            name: "deep.yaml",
            bytes: new TextEncoder().encode("[".repeat(100_000)),
            clear: /nest|deep|depth/i,
          },
        ];
        // Names with control characters: a bell and a newline (a valid pod), an ESC sequence
        // and a newline (a broken file). A raw newline in a log line would forge a line.
        const controlValid = "ctl\u0007bell\nnewline.yaml";
        const controlBroken = "esc\u001b[31mred\nforged.yaml";
        const leftovers = ["y.yaml~", ".z.yaml.swp"];
        const started = performance.now();
        for (const f of invalid) await Deno.writeFile(path(f.name), f.bytes);
        await Deno.writeTextFile(path(controlValid), podYaml("ctl", image));
        await Deno.writeTextFile(path(controlBroken), "kind: [\n");
        await Deno.mkdir(path("x.yaml"));
        await Deno.writeTextFile(`${path("x.yaml")}/inner.yaml`, podYaml("inner", image));
        await Deno.writeTextFile(path("y.yaml~"), podYaml("leftover-y", image));
        await Deno.writeTextFile(path(".z.yaml.swp"), podYaml("leftover-z", image));
        await podAndPass("after-hostile");
        console.log(
          `robust: hostile files written → the next new pod RUNNING in ${
            Math.round(performance.now() - started)
          } ms`,
        );
        const lines = agent.lines.slice(from).filter((l) => !isDebug(l));

        for (const f of invalid) {
          await t.step(`${f.what}: one clear line`, () => {
            const named = lines.filter((l) => l.includes(path(f.name)));
            assert.equal(
              named.length,
              1,
              `one line names ${f.name}; ${named.length} did:\n${
                named.slice(0, 5).map((l) => l.slice(0, 300)).join("\n")
              }`,
            );
            assert.match(named[0]!, f.clear);
          });
        }

        /** Lines about the file with a control character in its name, and what is wrong with them. */
        const controlLines = (tokens: string[], starts: string) => {
          const all = agent.lines.slice(from);
          const about = all.filter((l) => tokens.some((tok) => l.includes(tok)));
          return {
            named: about.filter((l) => !isDebug(l)),
            raw: about.filter(hasControlCharacter).map(visible),
            forged: all.filter((l) => l.startsWith(starts)),
          };
        };

        await t.step("a valid pod under a name with control characters: escaped", () => {
          const { named, raw, forged } = controlLines(["bell", "newline.yaml"], "newline.yaml");
          assert.deepEqual(raw, [], "no log line holds a raw control character");
          assert.deepEqual(forged, [], "the file name cannot start a log line of its own");
          assert.ok(named.length <= 1, `${named.length} lines name it:\n${named.join("\n")}`);
        });

        await t.step("a broken file under a name with control characters: one escaped line", () => {
          const { named, raw, forged } = controlLines(["31mred", "forged.yaml"], "forged.yaml");
          assert.deepEqual(raw, [], "no log line holds a raw control character");
          assert.deepEqual(
            forged.map(visible),
            [],
            "the file name cannot start a log line of its own",
          );
          assert.equal(
            named.length,
            1,
            `one line names it; ${named.length} did:\n${named.map(visible).join("\n")}`,
          );
        });

        await t.step(
          "a directory named like a manifest: one line, not read; editor leftovers: no line",
          async () => {
            for (const name of leftovers) {
              const named = lines.filter((l) => l.includes(path(name)));
              assert.deepEqual(named, [], `no line names ${name}`);
            }
            const dir = lines.filter((l) => l.includes(`${path("x.yaml")}:`));
            assert.equal(dir.length, 1, dir.join("\n"));
            assert.match(dir[0]!, /it is a directory, not a regular file/);
            const now = await snapshot(cri);
            for (const pod of ["inner", "leftover-y", "leftover-z", "big"]) {
              assert.equal(now.get(pod), undefined, `no pod ${pod}`);
            }
          },
        );

        await t.step("the agent stays up and the other pods are unaffected", async () => {
          await assertAlive("after the hostile files");
          assert.deepEqual(changes(before, await snapshot(cri)), []);
          // Nothing is reported again on the next pass.
          const again = agent.lines.length;
          await podAndPass("after-hostile-2");
          const repeated = agent.lines.slice(again).filter((l) =>
            !isDebug(l) && /\b(ERROR|WARN)\b/.test(l) &&
            [
              ...invalid.map((f) => path(f.name)),
              path("x.yaml"),
              "bell",
              "newline.yaml",
              "31mred",
              "forged.yaml",
            ]
              .some((s) => l.includes(s))
          );
          assert.deepEqual(
            repeated.map((l) => l.slice(0, 200)),
            [],
            "no problem is reported twice",
          );
        });
      });

      await step("SIGKILL and restart of the agent restart no pod", async () => {
        const before = await snapshot(cri);
        assert.deepEqual([...before].filter(([, p]) => !isRunning(p)).map(([n]) => n), []);
        await agent.kill();
        assert.deepEqual(await processesWithArg(manifests), [], "the agent is gone");
        agent = launch();
        // Its first pass saw every pod and had nothing to do.
        const firstPass = await agent.waitForLine(/Pass done/);
        assert.match(firstPass, /\bactions=0\b/, "the first pass after the restart plans nothing");
        await podAndPass("after-agent-restart");
        assert.deepEqual(changes(before, await snapshot(cri)), []);
        const acted = agent.lines.filter((l) =>
          /(Started|Removed|Failed to)/.test(l) && !l.includes("default/after-agent-restart")
        );
        assert.deepEqual(acted, [], "the new agent acted only on the new pod");
        const sandboxes = [...before.values()].reduce((n, p) => n + p.sandboxes.length, 0);
        const containers = [...before.values()].reduce((n, p) => n + p.containers.length, 0);
        console.log(
          `robust: agent SIGKILLed and restarted: ${before.size} pods (${sandboxes} sandboxes, ` +
            `${containers} containers) kept their ids and run; 0 restarted`,
        );
      });

      await step("containerd killed and restarted under a running agent", async () => {
        const before = await snapshot(cri);
        const from = agent.lines.length;
        const alive = watchAlive(manifests);
        let deaths: string[];
        try {
          await rc.kill();
          // The tick is 60 s away: this new file is what makes the agent look, and find no runtime.
          await Deno.writeTextFile(
            `${manifests}/during-outage.yaml`,
            podYaml("during-outage", image),
          );
          const down = await agent.waitForLine(/Cannot reach the container runtime/, {
            after: from,
          });
          const downAt = agent.lines.indexOf(down, from);
          // Several retries, so that "logged once" means something.
          await waitFor(
            "three retries while containerd is down",
            () =>
              agent.lines.slice(downAt).filter((l) => /Runtime unreachable, retrying/.test(l))
                .length >= 3,
          );
          await rc.restart();
          const restarted = performance.now();
          // This test's own client may be backing off from the outage too: use a fresh one.
          cri.close();
          cri = connectCri(rc.socket);
          const [answersMs, runningMs] = await Promise.all([
            agent.waitForLine(/answers again/, { after: downAt }).then(() =>
              Math.round(performance.now() - restarted)
            ),
            running(["during-outage"]).then(() => Math.round(performance.now() - restarted)),
          ]);
          console.log(
            `robust: containerd restarted → "answers again" logged in ${answersMs} ms, ` +
              `the pod written during the outage RUNNING in ${runningMs} ms`,
          );
        } finally {
          deaths = await alive.stop();
        }
        assert.deepEqual(deaths, [], "the agent process stayed alive throughout");
        const lines = agent.lines.slice(from);
        const down = lines.filter((l) => /Cannot reach/.test(l));
        assert.equal(down.length, 1, `one "Cannot reach" line:\n${down.join("\n")}`);
        assert.match(down[0]!, /^\S+ ERROR /);
        const back = lines.filter((l) => /answers again/.test(l));
        assert.equal(back.length, 1, `one "answers again" line:\n${back.join("\n")}`);
        assert.deepEqual(changes(before, await snapshot(cri)), []);
        const acted = lines.filter((l) =>
          /(Started|Removed|Failed to)/.test(l) && !l.includes("default/during-outage")
        );
        assert.deepEqual(acted, [], "the agent acted only on the new pod");
      });

      await step("SIGTERM: exit 0 within 5 s, pods keep running", async () => {
        const before = await snapshot(cri);
        const started = performance.now();
        const code = await agent.stop("SIGTERM");
        const ms = Math.round(performance.now() - started);
        console.log(`robust: SIGTERM → exit ${code} in ${ms} ms`);
        assert.equal(code, 0);
        assert.ok(ms < 5_000, `stopped in ${ms} ms`);
        assert.ok(agent.lines.some((l) => /tinylet stopped; pods keep running/.test(l)));
        assert.deepEqual(await processesWithArg(manifests), [], "the agent is gone");
        assert.deepEqual(changes(before, await snapshot(cri)), []);
      });
    } finally {
      for (const a of agents) await a.kill();
      cri.close();
    }
  },
);
