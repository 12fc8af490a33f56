/**
 * The agent as a process, with a FIFO, a device and a dangling symlink among its manifests:
 * it does not hang, reports each once, and keeps the pods of a file that is briefly not a
 * regular file.
 */
import assert from "node:assert/strict";
import { startAgent } from "../testing/agent_process.ts";
import { agentFlags } from "../testing/agent_args.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { serveCri } from "../testing/fake_cri_server.ts";
import { waitFor } from "../testing/wait.ts";

const IMAGE = "docker.io/library/busybox:1.35";

function pod(name: string): string {
  return `name: ${name}
containers:
  - name: app
    image: ${IMAGE}
    command: ["sh", "-c", "sleep 3600"]
`;
}

Deno.test("the agent reports a FIFO, a device and a dangling symlink once each, runs the other pods, and keeps a pod whose file dangles for a while", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-safe-read-agent-" });
  try {
    const manifests = `${dir}/manifests`;
    await Deno.mkdir(manifests, { mode: 0o755 });
    const fake = new FakeCri({ images: [IMAGE] });
    await using server = await serveCri(fake, `${dir}/cri.sock`);
    const mkfifo = new Deno.Command("mkfifo", { args: [`${manifests}/pipe.yaml`] }).outputSync();
    assert.equal(mkfifo.code, 0);
    await Deno.symlink("/dev/zero", `${manifests}/zero.yaml`);
    await Deno.symlink(`${dir}/nowhere.yaml`, `${manifests}/gone.yaml`);
    await Deno.writeTextFile(`${dir}/web.yaml`, pod("web"));
    await Deno.symlink(`${dir}/web.yaml`, `${manifests}/web.yaml`);
    await using agent = startAgent(agentFlags({
      socket: server.socketPath,
      manifests,
      root: `${dir}/root`,
      podLogRoot: `${dir}/logs`,
      interval: "200ms",
    }));
    const ready = async () =>
      (await fake.listPodSandbox({ state: "SANDBOX_READY" })).map((s) => s.id);
    const first = await waitFor("the web pod running", async () => {
      const ids = await ready();
      return ids.length === 1 && ids;
    });
    const passes = () => fake.calls.filter((c) => c.method === "ListPodSandbox").length;
    const after = passes();
    await waitFor("five more passes", () => passes() >= after + 5);
    // The problems reported about a file (other lines, such as a pod's start, name it too).
    const about = (name: string) =>
      agent.lines.filter((l) => l.includes(`${manifests}/${name}`) && /ERROR|WARN/.test(l));
    assert.equal(about("pipe.yaml").length, 1, agent.lines.join("\n"));
    assert.match(about("pipe.yaml")[0]!, /it is a FIFO \(named pipe\), not a regular file/);
    assert.equal(about("zero.yaml").length, 1, agent.lines.join("\n"));
    // Without --allow-all, Deno does not let the agent look into /dev at all.
    assert.match(
      about("zero.yaml")[0]!,
      /it leads to "\/dev\/zero", a character device|its path goes through "\/dev"/,
    );
    assert.equal(about("gone.yaml").length, 1, agent.lines.join("\n"));
    assert.match(about("gone.yaml")[0]!, /it is a dangling symlink to ".*nowhere\.yaml"/);

    // The web pod's file dangles for several passes, then comes back: its pod never stops.
    await Deno.rename(`${dir}/web.yaml`, `${dir}/web.yaml.moved`);
    const dangling = passes();
    await waitFor("the dangling symlink reported", () => about("web.yaml").length === 1);
    await waitFor("five passes with web.yaml dangling", () => passes() >= dangling + 5);
    await Deno.rename(`${dir}/web.yaml.moved`, `${dir}/web.yaml`);
    const back = passes();
    await waitFor("five passes with web.yaml back", () => passes() >= back + 5);
    assert.deepEqual(await ready(), first);
    assert.deepEqual(
      fake.calls.filter((c) => /^(StopPodSandbox|RemovePodSandbox|StopContainer)$/.test(c.method)),
      [],
    );
    assert.equal(about("web.yaml").length, 1, agent.lines.join("\n"));
    assert.equal(await agent.stop(), 0, agent.lines.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
