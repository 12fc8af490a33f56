import assert from "node:assert/strict";
import { ManifestSource, type Scan, stampOf } from "../lib/manifest/source.ts";
import { waitFor } from "../testing/wait.ts";

const MIB = 1024 * 1024;

/** A short-form manifest of one pod. */
function podText(name: string, image = "busybox"): string {
  return `name: ${name}\ncontainers:\n  - name: app\n    image: ${image}\n`;
}

/** Runs `fn` with a fresh temp dir, removed afterwards whatever happens. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinylet_source_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Each manifest as [base name, valid, pod names]. */
function summary(scan: Scan): [string, boolean, string[]][] {
  return scan.manifests.map((m) => [
    m.file.slice(scan.dir.length + 1),
    m.valid,
    m.pods.map((p) => p.pod.metadata.name),
  ]);
}

Deno.test("ManifestSource.scan reads only *.yaml, *.yml and *.json directly in the directory", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.yaml`, podText("a"));
    await Deno.writeTextFile(`${dir}/b.yml`, podText("b"));
    await Deno.writeTextFile(
      `${dir}/c.json`,
      '{"name": "c", "containers": [{"name": "app", "image": "busybox"}]}',
    );
    const ignored = [
      ".hidden.yaml",
      ".env.json",
      "d.yaml~",
      "e.yaml.swp",
      "f.yaml.bak",
      "g.yaml.orig",
      "h.yaml.tmp",
      "README.md",
      "notes.txt",
      "i.yaml.disabled",
    ];
    for (const name of ignored) {
      await Deno.writeTextFile(`${dir}/${name}`, podText("ignored"));
    }
    await Deno.mkdir(`${dir}/x.yaml`);
    await Deno.writeTextFile(`${dir}/x.yaml/inner.yaml`, podText("inner"));
    await Deno.mkdir(`${dir}/sub`);
    await Deno.writeTextFile(`${dir}/sub/deep.yaml`, podText("deep"));

    const scan = await new ManifestSource(dir).scan();
    assert.equal(scan.dir, dir);
    assert.equal(scan.present, true);
    // A directory with a manifest's name is not read (no recursion) but is told, as kubelet does.
    assert.deepEqual(summary(scan), [
      ["a.yaml", true, ["a"]],
      ["b.yml", true, ["b"]],
      ["c.json", true, ["c"]],
      ["x.yaml", false, []],
    ]);
    assert.deepEqual(scan.manifests.map((m) => m.file), [
      `${dir}/a.yaml`,
      `${dir}/b.yml`,
      `${dir}/c.json`,
      `${dir}/x.yaml`,
    ]);
    assert.equal(
      scan.manifests[3]?.problems[0]?.message,
      "Refusing the file: it is a directory, not a regular file; only regular files are read (symlinks are followed)",
    );
  });
});

Deno.test("ManifestSource.scan returns the manifests sorted by path", async () => {
  await withTempDir(async (dir) => {
    for (const name of ["c.yml", "a.yaml", "b.json", "a.json", "B.yaml"]) {
      await Deno.writeTextFile(`${dir}/${name}`, podText("p"));
    }
    const scan = await new ManifestSource(dir).scan();
    // Byte order: upper case before lower case, "a.json" before "a.yaml".
    assert.deepEqual(
      scan.manifests.map((m) => m.file),
      ["B.yaml", "a.json", "a.yaml", "b.json", "c.yml"].map((n) => `${dir}/${n}`),
    );
  });
});

Deno.test("ManifestSource.scan follows a symlink to a file outside the directory", async () => {
  await withTempDir(async (root) => {
    const dir = `${root}/manifests`;
    await Deno.mkdir(dir);
    await Deno.writeTextFile(`${root}/target.txt`, podText("linked"));
    await Deno.symlink(`${root}/target.txt`, `${dir}/link.yaml`);
    const scan = await new ManifestSource(dir).scan();
    assert.deepEqual(summary(scan), [["link.yaml", true, ["linked"]]]);
  });
});

Deno.test("a dangling symlink is an invalid file that names its target, not a deleted one", async () => {
  await withTempDir(async (dir) => {
    await Deno.symlink(`${dir}/missing.yaml`, `${dir}/gone.yaml`);
    await Deno.writeTextFile(`${dir}/web.yaml`, podText("web"));
    const scan = await new ManifestSource(dir).scan();
    assert.deepEqual(summary(scan), [["gone.yaml", false, []], ["web.yaml", true, ["web"]]]);
    assert.equal(
      scan.manifests[0]?.problems[0]?.message,
      `Refusing the file: it is a dangling symlink to "${dir}/missing.yaml": it does not exist`,
    );
  });
});

Deno.test("a symlink to a directory is an invalid file, and nothing inside is read", async () => {
  await withTempDir(async (root) => {
    const dir = `${root}/manifests`;
    await Deno.mkdir(dir);
    await Deno.mkdir(`${root}/elsewhere`);
    await Deno.writeTextFile(`${root}/elsewhere/p.yaml`, podText("p"));
    await Deno.symlink(`${root}/elsewhere`, `${dir}/elsewhere.yaml`);
    const scan = await new ManifestSource(dir).scan();
    assert.deepEqual(summary(scan), [["elsewhere.yaml", false, []]]);
    assert.equal(
      scan.manifests[0]?.problems[0]?.message,
      `Refusing the file: it leads to "${root}/elsewhere", a directory, not a regular file; only regular files are read (symlinks are followed)`,
    );
  });
});

Deno.test("ManifestSource.scan rejects a file over 1 MiB with a clear message", async () => {
  await withTempDir(async (dir) => {
    const text = podText("big") + "#" + "x".repeat(MIB) + "\n";
    await Deno.writeTextFile(`${dir}/big.yaml`, text);
    const scan = await new ManifestSource(dir).scan();
    const m = scan.manifests[0]!;
    assert.equal(scan.manifests.length, 1);
    assert.equal(m.file, `${dir}/big.yaml`);
    assert.equal(m.valid, false);
    assert.deepEqual(m.pods, []);
    assert.equal(m.problems.length, 1);
    const p = m.problems[0]!;
    assert.equal(p.severity, "error");
    assert.equal(p.file, `${dir}/big.yaml`);
    assert.match(p.message, /1 MiB/);
    assert.ok(
      p.message.includes(String(text.length)),
      `message ${JSON.stringify(p.message)} should give the size`,
    );
  });
});

Deno.test("ManifestSource.scan reads a file of exactly 1 MiB", async () => {
  await withTempDir(async (dir) => {
    const head = podText("edge") + "#";
    const text = head + "x".repeat(MIB - head.length - 1) + "\n";
    assert.equal(new TextEncoder().encode(text).length, MIB);
    await Deno.writeTextFile(`${dir}/edge.yaml`, text);
    const scan = await new ManifestSource(dir).scan();
    assert.deepEqual(summary(scan), [["edge.yaml", true, ["edge"]]]);
  });
});

Deno.test("ManifestSource.scan rejects a file that is not UTF-8", async () => {
  await withTempDir(async (dir) => {
    // A UTF-16LE byte order mark, then "n" encoded as UTF-16LE.
    await Deno.writeFile(
      `${dir}/utf16.yaml`,
      new Uint8Array([0xff, 0xfe, 0x6e, 0x00]),
    );
    const scan = await new ManifestSource(dir).scan();
    assert.equal(scan.manifests.length, 1);
    const m = scan.manifests[0]!;
    assert.equal(m.valid, false);
    assert.deepEqual(m.pods, []);
    assert.equal(m.problems.length, 1);
    assert.equal(m.problems[0]?.severity, "error");
    assert.match(m.problems[0]!.message, /UTF-8/);
  });
});

Deno.test("ManifestSource.scan lists an invalid file with its problems", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/empty.yaml`, "# nothing yet\n");
    await Deno.writeTextFile(`${dir}/web.yaml`, podText("web"));
    const scan = await new ManifestSource(dir).scan();
    assert.deepEqual(summary(scan), [
      ["empty.yaml", false, []],
      ["web.yaml", true, ["web"]],
    ]);
  });
});

Deno.test("ManifestSource.scan reports a missing directory as not present", async () => {
  await withTempDir(async (root) => {
    const scan = await new ManifestSource(`${root}/nope`).scan();
    assert.deepEqual(scan, {
      dir: `${root}/nope`,
      present: false,
      manifests: [],
      lastValid: new Map(),
    });
  });
});

Deno.test("ManifestSource.scan reports a regular file in place of the directory as not present", async () => {
  await withTempDir(async (root) => {
    await Deno.writeTextFile(`${root}/file`, "x");
    const scan = await new ManifestSource(`${root}/file`).scan();
    assert.deepEqual(scan, {
      dir: `${root}/file`,
      present: false,
      manifests: [],
      lastValid: new Map(),
    });
  });
});

Deno.test("ManifestSource.scan reports an empty directory as present with no manifests", async () => {
  await withTempDir(async (dir) => {
    const scan = await new ManifestSource(dir).scan();
    assert.deepEqual(scan, { dir, present: true, manifests: [], lastValid: new Map() });
  });
});

Deno.test("ManifestSource.scan does not parse an unchanged file again", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.yaml`, podText("a"));
    await Deno.writeTextFile(`${dir}/b.yaml`, podText("b"));
    const source = new ManifestSource(dir);
    const first = await source.scan();
    const second = await source.scan();
    assert.equal(second.manifests.length, 2);
    assert.equal(second.manifests[0], first.manifests[0]);
    assert.equal(second.manifests[1], first.manifests[1]);
  });
});

Deno.test("ManifestSource.scan reuses the parse when a file is rewritten with the same bytes", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.yaml`, podText("a"));
    const source = new ManifestSource(dir);
    const first = await source.scan();
    await Deno.writeTextFile(`${dir}/a.yaml`, podText("a"));
    const second = await source.scan();
    assert.equal(second.manifests[0], first.manifests[0]);
  });
});

Deno.test("ManifestSource.scan parses a changed file again and keeps the others", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.yaml`, podText("a"));
    await Deno.writeTextFile(`${dir}/b.yaml`, podText("b"));
    const source = new ManifestSource(dir);
    const first = await source.scan();
    await Deno.writeTextFile(`${dir}/a.yaml`, podText("a", "busybox:1.37"));
    const second = await source.scan();
    assert.notEqual(second.manifests[0], first.manifests[0]);
    assert.equal(
      second.manifests[0]?.pods[0]?.pod.spec.containers[0]?.image,
      "busybox:1.37",
    );
    assert.equal(second.manifests[1], first.manifests[1]);
  });
});

Deno.test("ManifestSource.scan drops a deleted file", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.yaml`, podText("a"));
    await Deno.writeTextFile(`${dir}/b.yaml`, podText("b"));
    const source = new ManifestSource(dir);
    await source.scan();
    await Deno.remove(`${dir}/a.yaml`);
    const scan = await source.scan();
    assert.deepEqual(summary(scan), [["b.yaml", true, ["b"]]]);
  });
});

Deno.test("ManifestSource.scan sees the directory appear after it was missing", async () => {
  await withTempDir(async (root) => {
    const dir = `${root}/manifests`;
    const source = new ManifestSource(dir);
    assert.equal((await source.scan()).present, false);
    await Deno.mkdir(dir);
    await Deno.writeTextFile(`${dir}/web.yaml`, podText("web"));
    const scan = await source.scan();
    assert.equal(scan.present, true);
    assert.deepEqual(summary(scan), [["web.yaml", true, ["web"]]]);
  });
});

// ---- manifest permissions ----

const IS_ROOT = Deno.uid() === 0;

Deno.test("a manifest file writable by its group or others is refused, naming the fix", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/web.yaml`, podText("web"));
    await Deno.chmod(`${dir}/web.yaml`, 0o664);
    const scan = await new ManifestSource(dir).scan();
    const [m] = scan.manifests;
    assert.equal(m?.valid, false);
    assert.deepEqual(m?.pods, []);
    assert.match(
      m?.problems[0]?.message ?? "",
      /^Refusing the file: it is writable by its group \(mode 0664\); whoever can write a static-pod directory can run containers as root on this host.*Run "chmod go-w .*web\.yaml".*--insecure-manifest-permissions/,
    );
    await Deno.chmod(`${dir}/web.yaml`, 0o646);
    const again = await new ManifestSource(dir).scan();
    assert.match(
      again.manifests[0]?.problems[0]?.message ?? "",
      /^Refusing the file: it is writable by others \(mode 0646\)/,
    );
  });
});

Deno.test("--insecure-manifest-permissions accepts a writable file and directory", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/web.yaml`, podText("web"));
    await Deno.chmod(`${dir}/web.yaml`, 0o666);
    await Deno.chmod(dir, 0o777);
    const scan = await new ManifestSource(dir, { insecurePermissions: true }).scan();
    assert.equal(scan.refused, undefined);
    assert.equal(scan.manifests[0]?.valid, true);
  });
});

Deno.test("a manifest directory writable by others is refused as a whole", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/web.yaml`, podText("web"));
    await Deno.chmod(dir, 0o777);
    const scan = await new ManifestSource(dir).scan();
    assert.deepEqual(scan.manifests, []);
    assert.match(
      scan.refused ?? "",
      /^Refusing the manifest directory .*: it is writable by its group and others \(mode 0777\)/,
    );
  });
});

Deno.test({
  name: "a manifest file owned by another user is refused",
  ignore: !IS_ROOT && Deno.env.get("CI") !== "true",
  fn: async () => {
    assert.ok(IS_ROOT, "changing a file's owner needs root");
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/web.yaml`, podText("web"));
      await Deno.chown(`${dir}/web.yaml`, 65534, 65534);
      const scan = await new ManifestSource(dir, { uid: 0 }).scan();
      assert.match(
        scan.manifests[0]?.problems[0]?.message ?? "",
        /^Refusing the file: it is owned by user 65534, not by root or the agent's user \(0\)/,
      );
    });
  },
});

Deno.test("an invalid file carries its last valid content, until the file is deleted", async () => {
  await withTempDir(async (dir) => {
    const source = new ManifestSource(dir);
    await Deno.writeTextFile(`${dir}/web.yaml`, podText("web"));
    const good = (await source.scan()).manifests[0];
    await Deno.writeTextFile(`${dir}/web.yaml`, "containers: [\n");
    const broken = await source.scan();
    assert.equal(broken.manifests[0]?.valid, false);
    assert.equal(broken.lastValid.get(`${dir}/web.yaml`), good);
    await Deno.remove(`${dir}/web.yaml`);
    await source.scan();
    await Deno.writeTextFile(`${dir}/web.yaml`, "containers: [\n");
    assert.equal((await source.scan()).lastValid.size, 0, "a new file has no past");
  });
});

/** A source that counts the files it opens (every read opens the file once). */
function countingSource(
  dir: string,
  options: { clock?: () => number } = {},
): { source: ManifestSource; reads: () => number } {
  let count = 0;
  const source = new ManifestSource(dir, { ...options, onOpened: () => count++ });
  return { source, reads: () => count };
}

Deno.test("a file whose stat is unchanged since a settled read is not read again", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.yaml`, podText("a"));
    // Seen from 5 s later, the file last changed long enough before the read to vouch for it.
    const { source, reads } = countingSource(dir, { clock: () => Date.now() + 5_000 });
    const first = await source.scan();
    assert.equal(reads(), 1);
    const second = await source.scan();
    assert.equal(reads(), 1);
    assert.equal(second.manifests[0], first.manifests[0]);
  });
});

Deno.test("a file changed just before it was read is read again every pass", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.yaml`, podText("a"));
    const { source, reads } = countingSource(dir);
    await source.scan();
    await source.scan();
    await source.scan();
    assert.equal(reads(), 3);
  });
});

/**
 * Waits, polling with a deadline, until the file system stamps a change in a later second
 * than `ctimeMs`. Only the kernel sets a change time, to its own clock (no `Deno.utime` can),
 * and Deno gives it in whole seconds: a rewrite within the same second would look unchanged.
 */
async function untilChangeTimePasses(dir: string, ctimeMs: number): Promise<void> {
  const probe = `${dir}/.ctime-probe`;
  await waitFor("the file system's change time to pass the file's", async () => {
    await Deno.writeTextFile(probe, "");
    return ((await Deno.stat(probe)).ctime?.getTime() ?? 0) > ctimeMs;
  }, { timeoutMs: 5_000, everyMs: 20 });
  await Deno.remove(probe);
}

Deno.test("a rewrite of the same size after a settled read is seen, even with the old mtime put back", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/a.yaml`;
    await Deno.writeTextFile(file, podText("a"));
    const before = await Deno.stat(file);
    // Seen from 5 s later, the file has been quiet long enough for its read to vouch for it.
    const { source, reads } = countingSource(dir, { clock: () => Date.now() + 5_000 });
    await source.scan();
    await source.scan();
    assert.equal(reads(), 1, "the settled file was read once");
    await untilChangeTimePasses(dir, before.ctime!.getTime());
    // As "cp -p" or "rsync -t" do: new bytes of the same length, the old mtime.
    await Deno.writeTextFile(file, podText("b"));
    await Deno.utime(file, before.atime!, before.mtime!);
    const after = await Deno.stat(file);
    assert.equal(after.size, before.size);
    assert.equal(after.mtime?.getTime(), before.mtime?.getTime());
    const scan = await source.scan();
    assert.equal(scan.manifests[0]?.pods[0]?.pod.metadata.name, "b");
  });
});

Deno.test("stampOf vouches only for a file quiet for a while before it was read", () => {
  const info = (mtime: number, ctime: number) =>
    ({
      dev: 1,
      ino: 2,
      size: 3,
      mode: 0o100644,
      uid: 0,
      mtime: new Date(mtime),
      ctime: new Date(ctime),
    }) as Deno.FileInfo;
  const t = Date.UTC(2026, 10, 27, 12, 0, 10);
  // ctime in whole seconds: a change at 12:00:08 shows as 08.000 and may have been at 08.999.
  assert.equal(
    stampOf(info(t - 5_000, t - 2_000), t),
    "1:2:3:33188:0:" + (t - 5_000) + ":" + (t - 2_000),
  );
  assert.equal(stampOf(info(t - 5_000, t - 1_000), t), undefined);
  assert.equal(stampOf(info(t - 999, t - 5_000), t), undefined);
  assert.equal(stampOf({ ...info(t - 5_000, t - 5_000), ctime: null }, t), undefined);
});

Deno.test("a chmod after a settled read is checked again", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/a.yaml`;
    await Deno.writeTextFile(file, podText("a"));
    await Deno.chmod(file, 0o644);
    const source = new ManifestSource(dir, { clock: () => Date.now() + 5_000 });
    assert.equal((await source.scan()).manifests[0]?.valid, true);
    await Deno.chmod(file, 0o664);
    const scan = await source.scan();
    assert.equal(scan.manifests[0]?.valid, false);
    assert.match(scan.manifests[0]?.problems[0]?.message ?? "", /writable by its group/);
  });
});

Deno.test("a manifest directory whose path loops or runs through a file is refused with one reason, not a thrown pass", async () => {
  await withTempDir(async (dir) => {
    await Deno.symlink(`${dir}/b`, `${dir}/a`);
    await Deno.symlink(`${dir}/a`, `${dir}/b`);
    await Deno.writeTextFile(`${dir}/file`, "");
    for (const path of [`${dir}/a/manifests`, `${dir}/file/manifests`]) {
      const scan = await new ManifestSource(path).scan();
      assert.equal(scan.present, true, path);
      assert.deepEqual(scan.manifests, []);
      assert.match(
        scan.refused ?? "",
        new RegExp(
          `^Fix the path of the manifest directory ${path}: .+ \\(running pods are kept\\)$`,
        ),
      );
    }
  });
});
