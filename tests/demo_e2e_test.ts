/**
 * `deno task demo --local` as a new user runs it: containerd comes up, the
 * example pods run, a dropped file is picked up, Ctrl-C leaves nothing.
 */
import assert from "node:assert/strict";
import { missingPrerequisites } from "./containerd_harness.ts";
import { waitFor } from "./wait.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const missing = await missingPrerequisites();
const CI = Deno.env.get("CI") === "true";
if (missing.length > 0 && !CI) console.log(`Skipping the demo test: ${missing.join("; ")}`);

Deno.test({
  name:
    "the local demo starts, shows the pods, picks up a new file, and Ctrl-C leaves nothing behind",
  ignore: missing.length > 0 && !CI,
  fn: async () => {
    assert.deepEqual(missing, [], "the demo's prerequisites (CI=true forbids skipping)");
    const manifests = await Deno.makeTempDir({ prefix: "tinylet-demo-manifests-" });
    await Deno.copyFile(`${ROOT}/manifests/hello.yaml`, `${manifests}/hello.yaml`);
    await Deno.copyFile(`${ROOT}/manifests/web.yaml`, `${manifests}/web.yaml`);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}/demo/demo.ts`, "--local", "--manifests", manifests],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    let output = "";
    const pumps = Promise.all([child.stdout, child.stderr].map(async (s) => {
      for await (const c of s.pipeThrough(new TextDecoderStream())) output += c;
    }));
    let exited = false;
    try {
      const dir = await waitFor(
        "the demo's containerd",
        () => /socket (\/tmp\/tinylet-ctd-[0-9a-f]+)\/containerd\.sock/.exec(output)?.[1],
        {
          timeoutMs: 30_000,
        },
      );
      await waitFor(
        () => `hello and web running; the demo printed:\n${output}`,
        () =>
          /default\s+hello\s+1\/1\s+Running/.test(output) &&
          /kube-system\s+web\s+1\/1\s+Running/.test(output),
        {
          timeoutMs: 60_000,
        },
      );
      const page = await waitFor("the web pod's page", async () => {
        try {
          const r = await fetch("http://127.0.0.1:18080/");
          return r.ok && await r.text();
        } catch {
          return undefined;
        }
      });
      assert.equal(page, "<h1>Hello from tinylet</h1>\n");
      await Deno.writeTextFile(
        `${manifests}/dropped.yaml`,
        "name: dropped\ncontainers:\n  - name: c\n    image: docker.io/library/busybox:1.35\n    command: [sleep, '3600']\n",
      );
      await waitFor(
        "the dropped pod running",
        () => /default\s+dropped\s+1\/1\s+Running/.test(output),
        {
          timeoutMs: 30_000,
        },
      );
      child.kill("SIGINT");
      const status = await child.status;
      exited = true;
      await pumps;
      console.log(output.split("\n").filter((l) => !l.includes("agent |")).slice(0, 12).join("\n"));
      assert.equal(status.code, 0, output);
      assert.match(output, /pod default\/dropped removed/);
      assert.match(output, /Done: no process, mount, bridge or temp directory is left\./);
      await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
      const mounts = await new Deno.Command("cat", {
        args: ["/proc/self/mountinfo"],
        stdout: "piped",
      }).output();
      assert.ok(!new TextDecoder().decode(mounts.stdout).includes(dir), "no mount left");
      const ps = await new Deno.Command("ps", { args: ["-eo", "args"], stdout: "piped" }).output();
      assert.ok(
        !new TextDecoder().decode(ps.stdout).split("\n").some((l) =>
          l.includes(dir) && !l.includes("defunct")
        ),
      );
      await assert.rejects(Deno.stat("/var/lib/tinylet-demo"), Deno.errors.NotFound);
    } finally {
      if (!exited) {
        child.kill("SIGINT");
        await child.status;
        await pumps;
      }
      await Deno.remove(manifests, { recursive: true });
    }
  },
});
