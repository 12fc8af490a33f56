/**
 * Probes and lifecycle hooks run by the agent against busybox on a real
 * containerd.
 */
import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import type { Container, Cri } from "../lib/runtime/cri.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { startAgent } from "../testing/agent_process.ts";
import { agentFlags } from "../testing/agent_args.ts";
import { realRuntimeTest } from "../testing/containerd_harness.ts";
import { waitFor } from "../testing/wait.ts";

const INSTANCE = "probes-e2e";

async function instances(cri: Cri, pod: string, container: string): Promise<Container[]> {
  return (await cri.listContainers({
    labelSelector: {
      "tinylet/instance": INSTANCE,
      [KEYS.podName]: pod,
      [KEYS.containerName]: container,
    },
  })).sort((a, b) => a.metadata.attempt - b.metadata.attempt);
}

async function podStatus(root: string, name: string) {
  const status = JSON.parse(await Deno.readTextFile(`${root}/status.json`).catch(() => "{}"));
  return (status.pods ?? []).find((p: { name: string }) => p.name === name) as
    | {
      ready: string;
      status: string;
      containers: { probes?: { kind: string; result: string }[] }[];
    }
    | undefined;
}

realRuntimeTest("probes and hooks on a real containerd", async (t, rc) => {
  const dir = `${rc.dir}/probes`;
  const manifests = `${dir}/manifests`;
  const host = `${dir}/host`;
  await Deno.mkdir(manifests, { recursive: true });
  await Deno.mkdir(host, { recursive: true });
  using cri = connectCri(rc.socket);
  const image = rc.busyboxImage;
  await using agent = startAgent(agentFlags({
    socket: rc.socket,
    manifests,
    instance: INSTANCE,
    root: `${dir}/root`,
    podLogRoot: `${dir}/logs`,
    interval: "500ms",
  }));

  await t.step(
    "an httpGet liveness probe against busybox httpd passes and restarts nothing",
    async () => {
      await Deno.writeTextFile(
        `${manifests}/web.yaml`,
        `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: httpd
      image: ${image}
      command: ["sh", "-c", "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"]
      ports: [{name: http, containerPort: 8080}]
      livenessProbe:
        httpGet: {path: /index.html, port: http}
        periodSeconds: 1
        failureThreshold: 2
`,
      );
      await waitFor(
        "httpd running",
        async () => (await instances(cri, "web", "httpd"))[0]?.state === "CONTAINER_RUNNING",
        {
          timeoutMs: 30_000,
        },
      );
      await waitFor("a few successful liveness runs", async () => {
        const p = await podStatus(`${dir}/root`, "web");
        return p?.containers[0]?.probes?.some((x) =>
          x.kind === "liveness" && x.result === "success"
        );
      }, { timeoutMs: 20_000 });
      // Three more periods: still the first instance.
      const t0 = Date.now();
      await waitFor("3 s of probing", () => Date.now() - t0 > 3_000);
      const all = await instances(cri, "web", "httpd");
      assert.deepEqual(all.map((c) => [c.metadata.attempt, c.state]), [[0, "CONTAINER_RUNNING"]]);
    },
  );

  await t.step("a failing exec liveness probe restarts its container", async () => {
    await Deno.writeTextFile(
      `${manifests}/sick.yaml`,
      `apiVersion: v1
kind: Pod
metadata: {name: sick}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: ${image}
      command: ["sh", "-c", "touch /tmp/healthy; trap 'exit 0' TERM; sleep 3600 & wait"]
      livenessProbe:
        exec: {command: ["test", "-e", "/tmp/healthy"]}
        periodSeconds: 1
        failureThreshold: 2
`,
    );
    const [first] = await waitFor("app running", async () => {
      const cs = await instances(cri, "sick", "app");
      return cs[0]?.state === "CONTAINER_RUNNING" && cs;
    }, { timeoutMs: 30_000 });
    await waitFor("healthy once", async () => {
      const p = await podStatus(`${dir}/root`, "sick");
      return p?.containers[0]?.probes?.some((x) => x.kind === "liveness" && x.result === "success");
    }, { timeoutMs: 20_000 });
    const t0 = performance.now();
    const r = await cri.execSync(first!.id, ["rm", "/tmp/healthy"], 5);
    assert.equal(r.exitCode, 0);
    await waitFor(
      "the killed container",
      async () => (await cri.containerStatus(first!.id)).state === "CONTAINER_EXITED",
      { timeoutMs: 20_000 },
    );
    const killedMs = performance.now() - t0;
    await waitFor(
      "a restarted instance running",
      async () =>
        (await instances(cri, "sick", "app")).some((c) =>
          c.metadata.attempt === 1 && c.state === "CONTAINER_RUNNING"
        ),
      { timeoutMs: 40_000 },
    );
    const restartedMs = performance.now() - t0;
    console.log(
      `liveness: health removed → killed in ${
        Math.round(killedMs)
      } ms, restarted (after the 10 s back-off) in ${Math.round(restartedMs)} ms`,
    );
    assert.ok(agent.lines.some((l) => /failed its liveness probe 2 times in a row/.test(l)));
  });

  await t.step("a readiness probe flips READY", async () => {
    await Deno.writeTextFile(
      `${manifests}/ready.yaml`,
      `apiVersion: v1
kind: Pod
metadata: {name: ready}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: ${image}
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
      readinessProbe:
        exec: {command: ["test", "-e", "/tmp/ready"]}
        periodSeconds: 1
        failureThreshold: 1
`,
    );
    const [app] = await waitFor("app running", async () => {
      const cs = await instances(cri, "ready", "app");
      return cs[0]?.state === "CONTAINER_RUNNING" && cs;
    }, { timeoutMs: 30_000 });
    await waitFor(
      "0/1 while not ready",
      async () => (await podStatus(`${dir}/root`, "ready"))?.ready === "0/1",
    );
    const t0 = performance.now();
    await cri.execSync(app!.id, ["touch", "/tmp/ready"], 5);
    await waitFor(
      "1/1 once ready",
      async () => (await podStatus(`${dir}/root`, "ready"))?.ready === "1/1",
      {
        timeoutMs: 10_000,
      },
    );
    const upMs = performance.now() - t0;
    const t1 = performance.now();
    await cri.execSync(app!.id, ["rm", "/tmp/ready"], 5);
    await waitFor(
      "0/1 again",
      async () => (await podStatus(`${dir}/root`, "ready"))?.ready === "0/1",
      {
        timeoutMs: 10_000,
      },
    );
    const downMs = performance.now() - t1;
    console.log(
      `readiness: ready in ${Math.round(upMs)} ms, not ready again in ${Math.round(downMs)} ms`,
    );
    const still = await instances(cri, "ready", "app");
    assert.deepEqual(still.map((c) => c.metadata.attempt), [0], "readiness never restarts");
  });

  await t.step(
    "a preStop hook runs, and its side effect is on the host before the container stops",
    async () => {
      const marker = `${host}/order.log`;
      await Deno.writeTextFile(
        `${manifests}/hooked.yaml`,
        `apiVersion: v1
kind: Pod
metadata: {name: hooked}
spec:
  terminationGracePeriodSeconds: 10
  containers:
    - name: app
      image: ${image}
      command: ["sh", "-c", "echo started >> /host/order.log; trap 'echo term >> /host/order.log; exit 0' TERM; sleep 3600 & wait"]
      volumeMounts: [{name: host, mountPath: /host}]
      lifecycle:
        postStart:
          exec: {command: ["sh", "-c", "echo poststart >> /host/order.log"]}
        preStop:
          exec: {command: ["sh", "-c", "echo prestop >> /host/order.log; sleep 1"]}
  volumes:
    - name: host
      hostPath: {path: ${host}, type: Directory}
`,
      );
      await waitFor("the hooked pod running", async () => {
        const text = await Deno.readTextFile(marker).catch(() => "");
        return text.includes("poststart");
      }, { timeoutMs: 30_000 });
      await Deno.remove(`${manifests}/hooked.yaml`);
      await waitFor("the pod gone", async () =>
        (await cri.listPodSandbox({
          labelSelector: { "tinylet/instance": INSTANCE, [KEYS.podName]: "hooked" },
        }))
          .length === 0, { timeoutMs: 30_000 });
      const lines = (await Deno.readTextFile(marker)).trim().split("\n");
      assert.deepEqual(
        lines.filter((l) => l !== "started" && l !== "poststart"),
        ["prestop", "term"],
      );
    },
  );

  assert.equal(await agent.stop(), 0);
});
