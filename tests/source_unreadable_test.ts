/**
 * A manifest directory the agent cannot read (permissions, not absence): refused with the
 * reason, not a pass that throws. Runs the source as another user (uid 65534, through
 * setpriv), since root reads every directory.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("..", import.meta.url));

Deno.test("a manifest directory the agent's user cannot read is refused once with the reason, and the scan does not throw", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "tinylet_unreadable_" });
  try {
    // The other user needs the npm cache and the code; the manifest directory stays 0700 root.
    const home = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
    await Deno.mkdir(`${tmp}/denodir`);
    const copy = await new Deno.Command("cp", {
      args: ["-r", `${home}/npm`, `${tmp}/denodir/npm`],
    }).output();
    assert.ok(copy.success, new TextDecoder().decode(copy.stderr));
    await Deno.writeTextFile(
      `${tmp}/scan.ts`,
      `import { ManifestSource } from "${REPO}lib/manifest/source.ts";\n` +
        `const scan = await new ManifestSource(Deno.args[0]).scan();\n` +
        `console.log(JSON.stringify({ present: scan.present, refused: scan.refused ?? null }));\n`,
    );
    await Deno.mkdir(`${tmp}/manifests`, { mode: 0o700 });
    await Deno.chmod(`${tmp}/manifests`, 0o700);
    const chmod = await new Deno.Command("chmod", { args: ["-R", "a+rX", `${tmp}/denodir`] })
      .output();
    assert.ok(chmod.success);
    await Deno.chmod(tmp, 0o755);
    await Deno.chmod(`${tmp}/scan.ts`, 0o644);
    const run = await new Deno.Command("setpriv", {
      args: [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        Deno.execPath(),
        "run",
        "--config",
        `${REPO}deno.json`,
        "--cached-only",
        "--no-lock",
        "--allow-read",
        "--allow-sys=uid",
        `${tmp}/scan.ts`,
        `${tmp}/manifests`,
      ],
      env: { DENO_DIR: `${tmp}/denodir`, HOME: tmp, NO_COLOR: "1" },
      cwd: tmp,
    }).output();
    const err = new TextDecoder().decode(run.stderr);
    assert.equal(run.code, 0, err);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(run.stdout)), {
      present: true,
      refused: `Make the manifest directory ${tmp}/manifests readable by the agent: ` +
        `Permission denied (os error 13): readdir '${tmp}/manifests' (running pods are kept)`,
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
