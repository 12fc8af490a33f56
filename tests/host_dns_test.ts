/**
 * The host's resolv.conf as kubelet treats it: a file kubelet's parser refuses (a bare
 * `nameserver` line) keeps every new sandbox from being created, with an event that says
 * why, and never tears down a pod that runs. Through the reconciler, on the fake runtime.
 */
import { type ReconcilerFixture, reconcilerFixture } from "../testing/reconciler_fixture.ts";
import assert from "node:assert/strict";
import type { PodSandboxConfig } from "../lib/runtime/cri.ts";
import { readHostResolvConf } from "../lib/translate/dns.ts";

const IMAGE = "docker.io/library/busybox:1.35";
const GOOD = "nameserver 192.0.2.53\nsearch corp.example\n";
const BAD = "nameserver 192.0.2.53\nnameserver\nsearch corp.example\n";

function podYaml(name: string, extra = ""): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
${extra}  containers:
    - name: app
      image: ${IMAGE}
`;
}

interface Setup extends ReconcilerFixture {
  resolvConf: string;
}

async function setup(resolv: string): Promise<Setup> {
  let resolvConf = "";
  const s = await reconcilerFixture({
    prefix: "tinylet-hostdns-",
    epochMs: Date.UTC(2026, 10, 29, 12, 0, 0),
    readHostDns: () => readHostResolvConf(resolvConf),
    detectCgroupV2: () => Promise.resolve(false),
  });
  resolvConf = `${s.dir}/resolv.conf`;
  await Deno.writeTextFile(resolvConf, resolv);
  return Object.assign(s, { resolvConf });
}

function refusal(file: string): string {
  return `Fix ${file}: line 2: add an address to this "nameserver" line or remove it; until then no pod sandbox can be created`;
}

function errorLines(s: ReconcilerFixture): string[] {
  return s.lines.filter((l) => / (ERROR|WARN) /.test(l));
}

Deno.test("a bare nameserver line keeps a new pod from starting: nothing is created, an event and one log line say why", async () => {
  await using s = await setup(BAD);
  await s.write("web.yaml", podYaml("web"));
  const first = await s.reconciler.pass();
  assert.deepEqual(
    first.results.map((r) => [r.action.type, r.error?.message]),
    [["createPod", refusal(s.resolvConf)]],
  );
  assert.ok(!s.cri.methods().includes("RunPodSandbox"), s.cri.methods().join(" "));
  assert.equal(s.cri.sandboxCount, 0);
  await assert.rejects(Deno.stat(`${s.dir}/root/pods`), Deno.errors.NotFound);
  await assert.rejects(Deno.stat(`${s.dir}/logs`), Deno.errors.NotFound);
  assert.deepEqual(
    s.reconciler.events("default/web").map((e) => [e.type, e.reason, e.message]),
    [["Warning", "FailedCreatePodSandBox", refusal(s.resolvConf)]],
  );
  const view = first.pods.find((p) => p.name === "web");
  assert.equal(view?.lastError, refusal(s.resolvConf));
  assert.equal(view?.phase, "Pending");

  // Tried again after its backoff, still refused: reported once, not on every try.
  await s.clock.advance(10_000);
  const second = await s.reconciler.pass();
  assert.equal(second.results[0]?.error?.message, refusal(s.resolvConf));
  assert.equal(s.cri.sandboxCount, 0);
  assert.equal(errorLines(s).length, 1, errorLines(s).join("\n"));
});

Deno.test("a pod with dnsPolicy None is refused too, as kubelet reads the host's file before the policy", async () => {
  await using s = await setup(BAD);
  await s.write(
    "none.yaml",
    podYaml("none", "  dnsPolicy: None\n  dnsConfig:\n    nameservers: [198.51.100.1]\n"),
  );
  await s.write("hostnet.yaml", podYaml("hostnet", "  hostNetwork: true\n"));
  const r = await s.reconciler.pass();
  assert.deepEqual(
    r.results.map((x) => [x.action.key, x.error?.message]).sort(),
    [["default/hostnet", refusal(s.resolvConf)], ["default/none", refusal(s.resolvConf)]],
  );
  assert.equal(s.cri.sandboxCount, 0);
});

Deno.test("bare search, options and domain lines are no error: the pod starts, the bare search clearing the domains", async () => {
  await using s = await setup(
    "nameserver 192.0.2.53\nsearch corp.example\nsearch\noptions\ndomain\n",
  );
  await s.write("web.yaml", podYaml("web"));
  const r = await s.reconciler.pass();
  assert.deepEqual(r.results.map((x) => x.error?.message), [undefined]);
  const run = s.cri.calls.find((c) => c.method === "RunPodSandbox")?.arg as PodSandboxConfig;
  assert.deepEqual(run.dnsConfig, { servers: ["192.0.2.53"], searches: [], options: [] });
});

Deno.test("once the file is fixed, a refused pod starts at the next pass with the fixed settings", async () => {
  await using s = await setup(BAD);
  await s.write("web.yaml", podYaml("web"));
  // Fail a few times, so the pod's backoff has grown.
  for (let i = 0; i < 4; i++) {
    await s.reconciler.pass();
    await s.clock.advance(300_000);
  }
  await s.reconciler.pass(); // the last failure: its backoff runs for minutes
  assert.equal(s.cri.sandboxCount, 0);
  await Deno.writeTextFile(s.resolvConf, "nameserver 203.0.113.9\n");
  await s.clock.advance(1_000);
  const r = await s.reconciler.pass();
  assert.deepEqual(r.results.map((x) => [x.action.type, x.error?.message]), [[
    "createPod",
    undefined,
  ]]);
  const run = s.cri.calls.find((c) => c.method === "RunPodSandbox")?.arg as PodSandboxConfig;
  assert.deepEqual(run.dnsConfig, { servers: ["203.0.113.9"], searches: [], options: [] });
});

Deno.test("a running pod is kept when the file turns bad; an exited container waits for the fix, as in kubelet", async () => {
  await using s = await setup(GOOD);
  await s.write("web.yaml", podYaml("web"));
  await s.reconciler.pass();
  const [sandbox] = await s.cri.listPodSandbox({ state: "SANDBOX_READY" });
  assert.ok(sandbox);

  await Deno.writeTextFile(s.resolvConf, BAD);
  s.cri.calls.length = 0;
  const kept = await s.reconciler.pass();
  assert.deepEqual(kept.actions, [], "nothing to do for a running pod");
  assert.deepEqual(s.cri.methods().filter((m) => !m.startsWith("List")), ["ContainerStatus"]);

  // kubelet forms the sandbox config before it starts any container, so a container that
  // exits is not started again while the file is refused; the sandbox stays.
  const [container] = await s.cri.listContainers({ podSandboxId: sandbox.id });
  assert.ok(container);
  s.cri.exitContainer(container.id, 1);
  const seen = await s.reconciler.pass();
  // The restart waits for the crash backoff first.
  await s.clock.advanceTo(seen.wakeAt ?? s.clock.epochMs());
  s.cri.calls.length = 0;
  const waiting = await s.reconciler.pass();
  assert.deepEqual(
    waiting.results.map((r) => [r.action.type, r.error?.message]),
    [["startContainers", refusal(s.resolvConf)]],
  );
  assert.ok(!s.cri.methods().includes("CreateContainer"), s.cri.methods().join(" "));
  assert.ok(!s.cri.methods().includes("StopPodSandbox"), s.cri.methods().join(" "));
  assert.deepEqual(
    (await s.cri.listPodSandbox({ state: "SANDBOX_READY" })).map((x) => x.id),
    [sandbox.id],
  );

  await Deno.writeTextFile(s.resolvConf, GOOD);
  await s.clock.advance(20_000);
  const resumed = await s.reconciler.pass();
  assert.deepEqual(resumed.results.map((r) => [r.action.type, r.error?.message]), [[
    "startContainers",
    undefined,
  ]]);
  const running = await s.cri.listContainers({
    podSandboxId: sandbox.id,
    state: "CONTAINER_RUNNING",
  });
  assert.equal(running.length, 1);
});
