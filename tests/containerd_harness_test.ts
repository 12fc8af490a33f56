import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import { realRuntimeTest } from "../testing/containerd_harness.ts";

realRuntimeTest(
  "a private containerd serves both images, and stop leaves nothing behind",
  async (_t, rc) => {
    console.log(`containerd ${rc.version} started in ${rc.startMs} ms`);
    assert.ok((await Deno.stat(rc.socket)).isSocket, "socket exists");
    const images = await ctrImages(rc.socket);
    assert.ok(images.includes(rc.busyboxImage), images.join(", "));
    assert.ok(images.includes(rc.pauseImage), images.join(", "));

    // A pod left running on the pod network gives the teardown real work:
    // a sandbox, a network namespace, mounts, and the bridge.
    await runPod(rc.socket);
    const bridge = await bridgeName(rc.dir);
    assert.ok(await linkExists(bridge), `bridge "${bridge}" was created`);
    assert.ok((await mountsUnder(rc.dir)).length > 0, "the pod has mounts");
    const pid = await containerdPid(rc.dir);

    const stopping = performance.now();
    await rc.stop();
    console.log(`stopped in ${Math.round(performance.now() - stopping)} ms`);

    await assert.rejects(Deno.stat(rc.dir), Deno.errors.NotFound);
    assert.deepEqual(await mountsUnder(rc.dir), []);
    assert.equal(await linkExists(bridge), false, `bridge "${bridge}" is gone`);
    assert.equal(await processAlive(pid), false, `containerd ${pid} is gone`);
    assert.deepEqual(await processesMentioning(rc.dir), []);
    await rc.stop(); // idempotent
  },
);

async function runPod(socket: string): Promise<void> {
  const cri = connectCri(socket);
  try {
    await cri.runPodSandbox({
      metadata: {
        name: "harness",
        uid: crypto.randomUUID(),
        namespace: "default",
        attempt: 0,
      },
      hostname: "harness",
    });
  } finally {
    cri.close();
  }
}

async function ctrImages(socket: string): Promise<string[]> {
  const args = ["--address", socket, "-n", "k8s.io", "images", "ls", "-q"];
  const out = await new Deno.Command("ctr", { args }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim().split("\n");
}

async function bridgeName(dir: string): Promise<string> {
  for await (const e of Deno.readDir(`${dir}/cni/conf`)) {
    const conf = JSON.parse(
      await Deno.readTextFile(`${dir}/cni/conf/${e.name}`),
    );
    return conf.plugins[0].bridge;
  }
  throw new Error(`No CNI conflist in "${dir}/cni/conf"`);
}

async function linkExists(name: string): Promise<boolean> {
  const out = await new Deno.Command("ip", { args: ["link", "show", name] })
    .output();
  return out.success;
}

async function mountsUnder(dir: string): Promise<string[]> {
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  return info.split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

async function containerdPid(dir: string): Promise<number> {
  const [pid] = await processesMentioning(`${dir}/config.toml`);
  assert.ok(pid !== undefined, "containerd runs with the private config");
  return pid;
}

async function processAlive(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat); // a zombie is gone for good
  } catch {
    return false;
  }
}

/** PIDs whose command line mentions `text`. */
async function processesMentioning(text: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      const cmdline = await Deno.readTextFile(`/proc/${e.name}/cmdline`);
      if (cmdline.includes(text)) pids.push(Number(e.name));
    } catch {
      // Exited meanwhile.
    }
  }
  return pids;
}
