/**
 * `tinylet check` as a user runs it (a real `deno run main.ts check`
 * process) on what kubelet refuses and what kubeadm and kubectl write: exit
 * codes, the lines printed, and nothing raw from the file on the terminal.
 */
import assert from "node:assert/strict";
import { RUN_PERMISSIONS } from "../testing/agent_args.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

async function check(
  dir: string,
  file: string,
  text: string,
  flags: string[] = [],
): Promise<{ code: number; out: string; err: string }> {
  const path = `${dir}/${file}`;
  await Deno.writeTextFile(path, text, { mode: 0o644 });
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...RUN_PERMISSIONS,
      MAIN,
      "check",
      "--insecure-manifest-permissions",
      ...flags,
      path,
    ],
    env: { NO_COLOR: "1" },
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, out: decode(output.stdout), err: decode(output.stderr) };
}

Deno.test("check rejects an image holding a terminal escape, printing it escaped", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await check(
      dir,
      "esc.yaml",
      'name: esc\ncontainers:\n  - name: app\n    image: "busybox\\e]0;owned\\a"\n',
    );
    assert.equal(r.code, 1);
    assert.equal(
      r.out,
      `${dir}/esc.yaml:4:5: error: Fix the image reference "busybox\\u001b]0;owned\\u0007": it contains the control character U+001B; write it as [host[:port]/]name[:tag][@digest], e.g. "docker.io/library/busybox:1.36" (field containers[0].image)\n`,
    );
    assert.ok(!r.out.includes("\x1b") && !r.err.includes("\x1b"));
    assert.equal(r.err, "1 file, 0 pods: 1 error, 0 warnings\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check rejects annotations of 262,145 bytes and accepts 262,144 (upstream: > the limit)", async () => {
  const dir = await Deno.makeTempDir();
  const pod = (n: number) =>
    `apiVersion: v1\nkind: Pod\nmetadata:\n  name: big\n  annotations:\n    a: "${
      "b".repeat(n)
    }"\nspec:\n  containers:\n    - name: app\n      image: busybox\n`;
  try {
    const over = await check(dir, "over.yaml", pod(262_144));
    assert.equal(over.code, 1);
    assert.equal(
      over.out,
      `${dir}/over.yaml:5:3: error: Shrink the annotations: their keys and values total 262145 bytes, more than the limit of 262144 (256 KiB) (field metadata.annotations)\n`,
    );
    const at = await check(dir, "at.yaml", pod(262_143), ["--strict"]);
    assert.deepEqual([at.code, at.out, at.err], [0, "", "1 file, 1 pod: 0 errors, 0 warnings\n"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check --strict passes kubectl's dry-run output and warns only when status has content", async () => {
  const dir = await Deno.makeTempDir();
  // `kubectl run web --image=busybox --dry-run=client -o yaml`
  const dryRun = [
    "apiVersion: v1",
    "kind: Pod",
    "metadata:",
    "  creationTimestamp: null",
    "  labels:",
    "    run: web",
    "  name: web",
    "spec:",
    "  containers:",
    "  - image: busybox",
    "    name: web",
    "    resources: {}",
    "  dnsPolicy: ClusterFirst",
    "  restartPolicy: Always",
    "status: {}",
    "",
  ].join("\n");
  try {
    const clean = await check(dir, "web.yaml", dryRun, ["--strict"]);
    assert.deepEqual([clean.code, clean.out, clean.err], [
      0,
      "",
      "1 file, 1 pod: 0 errors, 0 warnings\n",
    ]);
    const running = await check(
      dir,
      "web.yaml",
      dryRun.replace("status: {}", "status:\n  phase: Running"),
      ["--strict"],
    );
    assert.equal(running.code, 1);
    assert.equal(
      running.out,
      `${dir}/web.yaml:15:1: warning: Ignoring "status": it is reported by the agent, not read (field status)\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check rejects a 253-character pod name in a 63-character namespace for its log directory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await check(
      dir,
      "long.yaml",
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${"a".repeat(253)}\n  namespace: ${
        "n".repeat(63)
      }\nspec:\n  containers:\n    - name: app\n      image: busybox\n`,
    );
    assert.equal(r.code, 1);
    // 63 + 1 + 253 + 1 + 36 = 354 bytes; 255 - 63 - 1 - 1 - 36 = 154 characters fit.
    assert.equal(
      r.out,
      `${dir}/long.yaml:4:3: error: Shorten the pod name to at most 154 characters in namespace "${
        "n".repeat(63)
      }": its log directory <namespace>_<name>_<uid> would be a file name of 354 bytes, more than the 255 Linux allows (File name too long) (field metadata.name)\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
