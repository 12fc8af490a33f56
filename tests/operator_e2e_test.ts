/**
 * The operator commands and the HTTP endpoint on real pods in a real
 * containerd, as a user runs them.
 */
import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { startAgent } from "../testing/agent_process.ts";
import { MAIN } from "../testing/agent_args.ts";
import { realRuntimeTest } from "../testing/containerd_harness.ts";
import { waitFor } from "../testing/wait.ts";

const INSTANCE = "operator-e2e";

async function tinylet(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

realRuntimeTest("operator commands and the HTTP endpoint on a real containerd", async (t, rc) => {
  const dir = `${rc.dir}/operator`;
  const manifests = `${dir}/manifests`;
  await Deno.mkdir(manifests, { recursive: true });
  const flags = [
    "--socket",
    rc.socket,
    "--instance",
    INSTANCE,
    "--root",
    `${dir}/root`,
    "--pod-log-root",
    `${dir}/logs`,
  ];
  const port = freePort();
  await Deno.writeTextFile(
    `${manifests}/ticker.yaml`,
    `apiVersion: v1
kind: Pod
metadata:
  name: ticker
  namespace: demo
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: tick
      image: ${rc.busyboxImage}
      command: ["sh", "-c", "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.3 & wait; done"]
`,
  );
  using cri = connectCri(rc.socket);
  await using agent = startAgent([
    ...flags,
    "--manifests",
    manifests,
    "--listen",
    `127.0.0.1:${port}`,
  ]);
  await waitFor("the ticker running", async () => {
    const cs = await cri.listContainers({
      labelSelector: { "tinylet/instance": INSTANCE, [KEYS.podName]: "ticker" },
    });
    return cs[0]?.state === "CONTAINER_RUNNING";
  }, { timeoutMs: 30_000 });
  // Let the agent publish the running state.
  await waitFor("the agent's status", async () => {
    const text = await Deno.readTextFile(`${dir}/root/status.json`).catch(() => "");
    return text.includes('"status": "Running"');
  });

  await t.step("pods and describe", async () => {
    const pods = await tinylet(["pods", ...flags]);
    assert.equal(pods.code, 0, pods.stderr);
    console.log(pods.stdout.trimEnd());
    assert.match(
      pods.stdout,
      /^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\ndemo\s+ticker\s+1\/1\s+Running\s+0\s+\d+s\n$/,
    );
    const wide = await tinylet(["pods", "-o", "wide", ...flags]);
    assert.match(
      wide.stdout,
      /demo\s+ticker\s+1\/1\s+Running\s+0\s+\d+s\s+198\.1[89]\.\d+\.\d+\s+[0-9a-f]{13}\s+\S+ticker\.yaml/,
    );
    const describe = await tinylet(["describe", "demo/ticker", ...flags]);
    assert.equal(describe.code, 0, describe.stderr);
    console.log(describe.stdout.trimEnd());
    assert.match(describe.stdout, /State: {10}Running\n/);
    assert.match(describe.stdout, /Normal\s+Started\s+Started container tick/);
  });

  await t.step("logs, and logs -f following new lines", async () => {
    const logs = await tinylet(["logs", "-n", "demo", "ticker", ...flags]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /^tick 1\ntick 2\n/);
    const follow = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "logs", "-f", "--tail", "1", "demo/ticker", ...flags],
      stdout: "piped",
      stderr: "null",
      env: { NO_COLOR: "1" },
    }).spawn();
    const seen: string[] = [];
    const reader = (async () => {
      for await (const chunk of follow.stdout.pipeThrough(new TextDecoderStream())) {
        seen.push(...chunk.split("\n").filter(Boolean));
      }
    })();
    await waitFor("three followed lines", () => seen.length >= 3);
    follow.kill("SIGINT");
    const status = await follow.status;
    await reader;
    assert.equal(status.code, 0);
    const numbers = seen.map((l) => Number(l.replace("tick ", "")));
    for (let i = 1; i < numbers.length; i++) {
      assert.equal(numbers[i], numbers[i - 1]! + 1, seen.join("|"));
    }
  });

  await t.step("exec passes output and exit code through", async () => {
    const ok = await tinylet([
      "exec",
      "demo/ticker",
      ...flags,
      "--",
      "sh",
      "-c",
      "echo in $(hostname)",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, "in ticker\n");
    const fail = await tinylet([
      "exec",
      "demo/ticker",
      "tick",
      ...flags,
      "--",
      "sh",
      "-c",
      "exit 7",
    ]);
    assert.equal(fail.code, 7);
  });

  await t.step("the HTTP endpoint", async () => {
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(await health.text(), "ok\n");
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^tinylet_passes_total \d+$/m);
    assert.match(metrics, /^tinylet_cri_calls_total\{method="ListPodSandbox"\} \d+$/m);
    assert.match(metrics, /^tinylet_pods\{phase="Running"\} 1$/m);
    assert.match(metrics, /^tinylet_pass_duration_seconds_count \d+$/m);
    console.log(
      metrics.split("\n").filter((l) => /^tinylet_(passes|pods|cri_calls_total|runtime_up)/.test(l))
        .join("\n"),
    );
    const pods = await (await fetch(`http://127.0.0.1:${port}/pods`)).json();
    assert.deepEqual(pods.map((p: { name: string; status: string }) => [p.name, p.status]), [[
      "ticker",
      "Running",
    ]]);
  });

  await t.step(
    "down removes the pod; the running agent would recreate it and says so",
    async () => {
      assert.equal(await agent.stop(), 0);
      const down = await tinylet(["down", "--all", ...flags]);
      assert.equal(down.code, 0, down.stderr);
      assert.equal(down.stdout, "pod demo/ticker removed\n");
      assert.doesNotMatch(down.stderr, /agent is running/);
      const left = await cri.listPodSandbox({ labelSelector: { "tinylet/instance": INSTANCE } });
      assert.deepEqual(left, []);
    },
  );
});
