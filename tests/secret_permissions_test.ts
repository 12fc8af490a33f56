import assert from "node:assert/strict";
import { ManifestSource } from "../lib/manifest/source.ts";
import { checkCommand } from "../lib/cmd/check.ts";
import type { Manifest } from "../lib/manifest/parse.ts";

/** A pod first and a Secret second: the Secret's document starts at line 6, column 1. */
const TEXT = [
  "name: web", //                           1
  "containers:", //                         2
  "  - name: app", //                       3
  "    image: busybox", //                  4
  "---", //                                 5
  "apiVersion: v1", //                      6
  "kind: Secret", //                        7
  "metadata: {name: db}", //                8
  "stringData: {password: hunter2}", //     9
  "",
].join("\n");

/** The error a Secret file of `mode` gets at the Secret's document. */
function refusal(file: string, who: string, mode: string): string {
  return `Make the file readable by its owner only: it holds a Secret and is readable by ${who} (mode ${mode}), and a Secret file must not be readable by group or others. Run "chmod go-rwx ${file}", or pass --insecure-manifest-permissions`;
}

/** Runs `fn` with a fresh temp dir (mode 0700), removed afterwards whatever happens. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinylet_secret_perm_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Each problem as `line:column severity: message`. */
function problems(m: Manifest | undefined): string[] {
  return (m?.problems ?? []).map((p) => `${p.line}:${p.column} ${p.severity}: ${p.message}`);
}

/** What a manifest declares: its pods' and objects' names. */
function declared(m: Manifest | undefined): string[] {
  return [
    ...(m?.pods ?? []).map((p) => `Pod ${p.pod.metadata.name}`),
    ...(m?.objects ?? []).map((o) => `${o.object.kind} ${o.object.name}`),
  ];
}

Deno.test("a Secret file readable by its group or others is invalid under ManifestSource, at the Secret's document", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/app.yaml`;
    await Deno.writeTextFile(file, TEXT);
    for (
      const [mode, who, octal] of [
        [0o644, "its group and others", "0644"],
        [0o640, "its group", "0640"],
        [0o604, "others", "0604"],
        [0o444, "its group and others", "0444"],
      ] as const
    ) {
      await Deno.chmod(file, mode);
      const m = (await new ManifestSource(dir).scan()).manifests[0];
      assert.deepEqual(problems(m), [`6:1 error: ${refusal(file, who, octal)}`], octal);
      assert.equal(m?.valid, false);
      assert.deepEqual(declared(m), []);
    }
  });
});

Deno.test("a Secret file readable by its owner alone is valid", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/app.yaml`;
    await Deno.writeTextFile(file, TEXT);
    for (const mode of [0o600, 0o400]) {
      await Deno.chmod(file, mode);
      const m = (await new ManifestSource(dir).scan()).manifests[0];
      assert.deepEqual(problems(m), []);
      assert.deepEqual(declared(m), ["Pod web", "Secret db"]);
    }
  });
});

Deno.test("a file of pods or ConfigMaps only may be readable by anyone", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/cm.yaml`,
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n",
    );
    await Deno.chmod(`${dir}/cm.yaml`, 0o644);
    const m = (await new ManifestSource(dir).scan()).manifests[0];
    assert.deepEqual(problems(m), []);
    assert.deepEqual(declared(m), ["ConfigMap c"]);
  });
});

Deno.test("with --insecure-manifest-permissions a readable Secret file is a warning, and valid", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/app.yaml`;
    await Deno.writeTextFile(file, TEXT);
    await Deno.chmod(file, 0o644);
    const m = (await new ManifestSource(dir, { insecurePermissions: true }).scan()).manifests[0];
    assert.deepEqual(problems(m), [
      `6:1 warning: Make the file readable by its owner only: it holds a Secret and is readable by its group and others (mode 0644), and a Secret file must not be readable by group or others. Run "chmod go-rwx ${file}"`,
    ]);
    assert.equal(m?.valid, true);
    assert.deepEqual(declared(m), ["Pod web", "Secret db"]);
  });
});

// Both ways the cache can meet the same bytes again: a stat that vouches (read seen 5 s later,
// the fingerprint then changes with the chmod) and one that does not (read every pass).
for (const settled of [true, false]) {
  Deno.test(
    `a chmod with the same text is judged again${
      settled ? " after a settled read" : ""
    }: 644 invalid keeping the last valid content, 600 valid again`,
    async () => {
      await withTempDir(async (dir) => {
        const file = `${dir}/app.yaml`;
        await Deno.writeTextFile(file, TEXT);
        await Deno.chmod(file, 0o600);
        const clock = settled ? () => Date.now() + 5_000 : Date.now;
        const source = new ManifestSource(dir, { clock });
        const first = await source.scan();
        assert.deepEqual(problems(first.manifests[0]), []);
        assert.deepEqual(declared(first.manifests[0]), ["Pod web", "Secret db"]);

        await Deno.chmod(file, 0o644);
        const open = await source.scan();
        assert.deepEqual(problems(open.manifests[0]), [
          `6:1 error: ${refusal(file, "its group and others", "0644")}`,
        ]);
        assert.equal(open.manifests[0]?.valid, false);
        // The last valid content stays in force: its Secret and pod are what should be.
        assert.equal(open.lastValid.get(file), first.manifests[0]);

        await Deno.chmod(file, 0o600);
        const closed = await source.scan();
        assert.equal(await Deno.readTextFile(file), TEXT, "the text never changed");
        assert.deepEqual(problems(closed.manifests[0]), []);
        assert.equal(closed.manifests[0]?.valid, true);
        assert.deepEqual(declared(closed.manifests[0]), ["Pod web", "Secret db"]);
        assert.equal(closed.lastValid.size, 0);
      });
    },
  );
}

Deno.test("the mode judged is the one of a symlink's target, not of the link", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/m`, { mode: 0o700 });
    await Deno.mkdir(`${dir}/t`, { mode: 0o700 });
    await Deno.writeTextFile(`${dir}/t/app.yaml`, TEXT);
    await Deno.symlink(`${dir}/t/app.yaml`, `${dir}/m/app.yaml`);
    await Deno.chmod(`${dir}/t/app.yaml`, 0o600);
    const source = new ManifestSource(`${dir}/m`);
    assert.deepEqual(problems((await source.scan()).manifests[0]), []);
    await Deno.chmod(`${dir}/t/app.yaml`, 0o640);
    assert.deepEqual(problems((await source.scan()).manifests[0]), [
      `6:1 error: ${refusal(`${dir}/m/app.yaml`, "its group", "0640")}`,
    ]);
  });
});

/** Runs `tinylet check` on `paths`, returning its exit code and both streams. */
async function check(
  paths: string[],
  insecure: boolean,
  root: string,
): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await checkCommand(paths, {
    strict: false,
    insecure,
    instance: "default",
    root: `${root}/state`,
    podLogRoot: `${root}/logs`,
  }, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

Deno.test("tinylet check FILE applies the same rule: an error, a warning when insecure, nothing at 600", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/app.yaml`;
    await Deno.writeTextFile(file, TEXT);
    await Deno.chmod(file, 0o644);
    const refused = await check([file], false, dir);
    assert.deepEqual(refused, {
      code: 1,
      out: [`${file}:6:1: error: ${refusal(file, "its group and others", "0644")}`],
      err: ["1 file, 0 pods: 1 error, 0 warnings"],
    });
    const warned = await check([file], true, dir);
    assert.deepEqual(warned, {
      code: 0,
      out: [
        `${file}:6:1: warning: Make the file readable by its owner only: it holds a Secret and is readable by its group and others (mode 0644), and a Secret file must not be readable by group or others. Run "chmod go-rwx ${file}"`,
      ],
      err: ["1 file, 1 pod: 0 errors, 1 warning"],
    });
    await Deno.chmod(file, 0o600);
    assert.deepEqual(await check([file], false, dir), {
      code: 0,
      out: [],
      err: ["1 file, 1 pod: 0 errors, 0 warnings"],
    });
  });
});

Deno.test("tinylet check DIR refuses a readable Secret file through the agent's source", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/m`, { mode: 0o700 });
    const file = `${dir}/m/app.yaml`;
    await Deno.writeTextFile(file, TEXT);
    await Deno.chmod(file, 0o604);
    const r = await check([`${dir}/m`], false, dir);
    assert.equal(r.code, 1);
    assert.deepEqual(r.out, [`${file}:6:1: error: ${refusal(file, "others", "0604")}`]);
  });
});
