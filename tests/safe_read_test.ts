import { reconcilerFixture } from "../testing/reconciler_fixture.ts";
import assert from "node:assert/strict";
import { closeSync, constants, lchownSync, openSync } from "node:fs";
import type { Manifest } from "../lib/manifest/parse.ts";
import { MAX_MANIFEST_BYTES, readManifestFile } from "../lib/base/safe_read.ts";
import { ManifestSource } from "../lib/manifest/source.ts";

const IS_ROOT = Deno.uid() === 0;
/** Tests that change owners need root; under CI they must run, not skip. */
const NEEDS_ROOT = !IS_ROOT && Deno.env.get("CI") !== "true";
const NOBODY = 65534;
const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A short-form manifest of one pod, privileged or not. */
function podText(name: string, privileged = false): string {
  return `name: ${name}\ncontainers:\n  - name: app\n    image: busybox\n${
    privileged ? "    securityContext: {privileged: true}\n" : ""
  }`;
}

function isPrivileged(m: Manifest | undefined): boolean {
  return m?.pods.some((p) =>
    p.pod.spec.containers.some((c) => c.securityContext?.privileged === true)
  ) ?? false;
}

/** Runs `fn` with a fresh temp dir (root-owned, mode 0700, in sticky /tmp), removed afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinylet_safe_read_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `root/m` (the manifest directory) and `root/t` (where symlinks lead), both 0755. */
async function layout(root: string): Promise<{ m: string; t: string }> {
  const m = `${root}/m`;
  const t = `${root}/t`;
  await Deno.mkdir(m, { mode: 0o755 });
  await Deno.mkdir(t, { mode: 0o755 });
  await Deno.chmod(m, 0o755);
  await Deno.chmod(t, 0o755);
  return { m, t };
}

function mkfifo(path: string): void {
  const out = new Deno.Command("mkfifo", { args: [path] }).outputSync();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

/** Swaps two names atomically with renameat2(RENAME_EXCHANGE), as an attacker racing a check would. */
function exchange(a: string, b: string, times = 1): Deno.Command {
  return new Deno.Command("python3", {
    args: [
      "-c",
      `import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b, n = sys.argv[1].encode(), sys.argv[2].encode(), int(sys.argv[3])
while n != 0:
    if libc.renameat2(-100, a, -100, b, 2) != 0:
        raise OSError(ctypes.get_errno(), "renameat2")
    n -= 1`,
      a,
      b,
      String(times),
    ],
    stdout: "null",
    stderr: "piped",
  });
}

/** The bytes this process has read through read calls so far (`rchar` of /proc/self/io). */
function bytesReadByProcess(): number {
  const io = Deno.readTextFileSync("/proc/self/io");
  const rchar = /^rchar: (\d+)$/m.exec(io)?.[1];
  assert.ok(rchar, `no rchar in /proc/self/io: ${io}`);
  return Number(rchar);
}

/** Runs `tinylet ARGS` as a process, killed (and failing the test) after `timeoutMs`. */
async function tinylet(args: string[], timeoutMs = 30_000) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  assert.notEqual(
    out.signal,
    "SIGTERM",
    `tinylet ${args.join(" ")} did not end within ${timeoutMs} ms`,
  );
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

// ---- not regular files ----

Deno.test("a FIFO is refused at once by the agent's scan: no open blocks waiting for a writer", async () => {
  await withTempDir(async (dir) => {
    mkfifo(`${dir}/pipe.yaml`);
    await Deno.writeTextFile(`${dir}/web.yaml`, podText("web"));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("the scan blocked on the FIFO")), 5_000);
    });
    try {
      const scan = await Promise.race([new ManifestSource(dir).scan(), deadline]);
      assert.deepEqual(scan.manifests.map((m) => [m.file, m.valid]), [
        [`${dir}/pipe.yaml`, false],
        [`${dir}/web.yaml`, true],
      ]);
      assert.equal(
        scan.manifests[0]?.problems[0]?.message,
        "Refusing the file: it is a FIFO (named pipe), not a regular file; only regular files are read (symlinks are followed)",
      );
    } finally {
      clearTimeout(timer);
      // Releases a reader stuck in open(2), should there be one, so the test can end (a
      // non-blocking open for writing fails at once when there is none).
      try {
        closeSync(openSync(`${dir}/pipe.yaml`, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // No reader: nothing to release.
      }
    }
  });
});

Deno.test("a FIFO put in place between the look and the open is refused on the handle, without blocking", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/web.yaml`, podText("web"));
    // The name passes the first look as a regular file; it is swapped for a FIFO just before
    // the open. An open that blocked would hang this test.
    const rules = { insecure: false, uid: Deno.uid() ?? 0 };
    const { PathJudge } = await import("../lib/base/path_judge.ts");
    const { readResolved } = await import("../lib/base/safe_read.ts");
    const found = new PathJudge(rules).resolve(`${dir}/web.yaml`);
    assert.equal(found.kind, "file");
    if (found.kind !== "file") return;
    await Deno.remove(`${dir}/web.yaml`);
    mkfifo(`${dir}/web.yaml`);
    const got = readResolved(found, rules);
    assert.deepEqual(got, {
      kind: "refused",
      message:
        "Refusing the file: it is a FIFO (named pipe), not a regular file; only regular files are read (symlinks are followed)",
    });
  });
});

Deno.test("/dev/zero through a symlink is refused without being read", async () => {
  await withTempDir(async (dir) => {
    await Deno.symlink("/dev/zero", `${dir}/zero.yaml`);
    await Deno.symlink("/dev/urandom", `${dir}/random.yaml`);
    let opened = 0;
    const scan = await new ManifestSource(dir, { onOpened: () => opened++ }).scan();
    assert.deepEqual(scan.manifests.map((m) => [m.file, m.problems[0]?.message]), [
      [
        `${dir}/random.yaml`,
        'Refusing the file: it leads to "/dev/urandom", a character device, not a regular file; only regular files are read (symlinks are followed)',
      ],
      [
        `${dir}/zero.yaml`,
        'Refusing the file: it leads to "/dev/zero", a character device, not a regular file; only regular files are read (symlinks are followed)',
      ],
    ]);
    assert.equal(opened, 0, "a device is judged before it is opened");
  });
});

Deno.test("a read stops past 1 MiB whatever the stat said: a kernel file of stat size 0 and 256 GiB of content", async () => {
  await withTempDir(async (dir) => {
    // /proc/self/pagemap is a regular file whose stat says 0 bytes; read to its end, it holds
    // 8 bytes for each page of the address space (hundreds of GiB).
    const info = await Deno.stat("/proc/self/pagemap");
    assert.equal(info.isFile, true);
    assert.equal(info.size, 0);
    await Deno.symlink("/proc/self/pagemap", `${dir}/pagemap.yaml`);
    const before = bytesReadByProcess();
    const scan = await new ManifestSource(dir).scan();
    const read = bytesReadByProcess() - before;
    assert.equal(
      scan.manifests[0]?.problems[0]?.message,
      `Shrink the file: it has more than ${MAX_MANIFEST_BYTES} bytes (1 MiB)`,
    );
    // Work counted, not timed: the process read just past the limit, not the file's content.
    assert.ok(
      read > MAX_MANIFEST_BYTES && read < 2 * MAX_MANIFEST_BYTES,
      `the scan read ${read} bytes`,
    );
  });
});

Deno.test("check and convert end at once on a FIFO, /dev/zero, /dev/urandom and a 256 GiB kernel file", async () => {
  await withTempDir(async (dir) => {
    mkfifo(`${dir}/pipe.yaml`);
    await Deno.symlink("/dev/zero", `${dir}/zero.yaml`);
    await Deno.symlink("/proc/self/pagemap", `${dir}/pagemap.yaml`);
    const cases: [string, string][] = [
      [`${dir}/pipe.yaml`, "it is a FIFO (named pipe), not a regular file"],
      [`${dir}/zero.yaml`, 'it leads to "/dev/zero", a character device, not a regular file'],
      ["/dev/urandom", "it is a character device, not a regular file"],
      [`${dir}/pagemap.yaml`, "it has more than 1048576 bytes (1 MiB)"],
    ];
    for (const [path, why] of cases) {
      for (const command of ["check", "convert"]) {
        const r = await tinylet([command, path]);
        const said = command === "check" ? r.stdout : r.stderr;
        assert.equal(r.code, 1, `${command} ${path}: ${r.stdout}${r.stderr}`);
        assert.ok(said.startsWith(`${path}:1:1: error: `), `${command} ${path}: ${said}`);
        assert.ok(said.includes(why), `${command} ${path}: ${said}`);
        assert.equal(said.trim().split("\n").length, 1, "reported once");
      }
    }
    // The whole directory: each file reported once, with its reason.
    const r = await tinylet(["check", dir]);
    assert.equal(r.code, 1);
    assert.deepEqual(r.stdout.trim().split("\n").map((l) => l.slice(0, l.indexOf(": error:"))), [
      `${dir}/pagemap.yaml:1:1`,
      `${dir}/pipe.yaml:1:1`,
      `${dir}/zero.yaml:1:1`,
    ]);
    assert.match(r.stderr, /^3 files, 0 pods: 3 errors, 0 warnings$/m);
  });
});

// ---- one handle: what is checked is what is read ----

Deno.test({
  name:
    "a swap between the open and the read changes nothing: the checks and the read are on one handle",
  ignore: NEEDS_ROOT,
  fn: async () => {
    assert.ok(IS_ROOT, "changing a file's owner needs root");
    await withTempDir(async (root) => {
      const { m, t } = await layout(root);
      await Deno.writeTextFile(`${t}/web.yaml`, podText("web"));
      await Deno.writeTextFile(`${t}/evil.yaml`, podText("web", true));
      await Deno.chown(`${t}/evil.yaml`, NOBODY, NOBODY);
      await Deno.symlink(`${t}/web.yaml`, `${m}/web.yaml`);
      let swap = true;
      const source = new ManifestSource(m, {
        uid: 0,
        onOpened: () => {
          if (!swap) return;
          swap = false;
          // After the open, before any check: the name now holds another user's privileged pod.
          const out = exchange(`${t}/web.yaml`, `${t}/evil.yaml`).outputSync();
          assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        },
      });
      const first = await source.scan();
      assert.equal(swap, false, "the swap ran");
      assert.equal((await Deno.lstat(`${t}/web.yaml`)).uid, NOBODY, "the name was swapped");
      const [m1] = first.manifests;
      // The handle's check saw root's file, and the read gave root's bytes.
      assert.equal(m1?.valid, true);
      assert.equal(isPrivileged(m1), false);
      // The next pass sees the swapped file: refused, and the last valid content is root's.
      const second = await source.scan();
      assert.equal(second.manifests[0]?.valid, false);
      assert.match(
        second.manifests[0]?.problems[0]?.message ?? "",
        new RegExp(`^Refusing the file: its target "${t}/web\\.yaml" is owned by user ${NOBODY}`),
      );
      assert.equal(second.lastValid.get(`${m}/web.yaml`), m1);
    });
  },
});

Deno.test({
  name:
    "under a renameat2 exchange loop, another user's content is never accepted nor kept as the last valid content",
  ignore: NEEDS_ROOT,
  fn: async () => {
    assert.ok(IS_ROOT, "changing a file's owner needs root");
    await withTempDir(async (root) => {
      const { m, t } = await layout(root);
      await Deno.writeTextFile(`${t}/web.yaml`, podText("web"));
      await Deno.writeTextFile(`${t}/evil.yaml`, podText("web", true));
      await Deno.chown(`${t}/evil.yaml`, NOBODY, NOBODY);
      await Deno.symlink(`${t}/web.yaml`, `${m}/web.yaml`);
      const racer = exchange(`${t}/web.yaml`, `${t}/evil.yaml`, -1).spawn();
      const seen = { valid: 0, refused: 0, check: 0 };
      try {
        const source = new ManifestSource(m, { uid: 0 });
        for (let i = 0; i < 1_500; i++) {
          const scan = await source.scan();
          const [file] = scan.manifests;
          if (file?.valid) seen.valid++;
          else seen.refused++;
          assert.equal(isPrivileged(file), false, `pass ${i} accepted another user's content`);
          assert.equal(
            isPrivileged(scan.lastValid.get(`${m}/web.yaml`)),
            false,
            `pass ${i} kept another user's content as the last valid content`,
          );
          // `check` reads through the same code.
          const got = readManifestFile(`${m}/web.yaml`, { insecure: false, uid: 0 });
          if (got.kind === "text") {
            seen.check++;
            assert.doesNotMatch(got.text, /privileged/, `check ${i} read another user's content`);
          }
        }
      } finally {
        racer.kill();
        await racer.output();
      }
      // The race really ran both ways.
      assert.ok(seen.valid > 0 && seen.refused > 0 && seen.check > 0, JSON.stringify(seen));
    });
  },
});

// ---- the directories on the way ----

Deno.test("a symlinked manifest into a directory writable by others is refused, naming that directory", async () => {
  await withTempDir(async (root) => {
    const { m, t } = await layout(root);
    await Deno.writeTextFile(`${t}/web.yaml`, podText("web"));
    await Deno.symlink(`${t}/web.yaml`, `${m}/web.yaml`);
    await Deno.chmod(t, 0o777);
    const scan = await new ManifestSource(m).scan();
    assert.equal(scan.manifests[0]?.valid, false);
    assert.equal(
      scan.manifests[0]?.problems[0]?.message,
      `Refusing the file: the directory "${t}" on its path is writable by its group and others (mode 0777); whoever can write a static-pod directory can run containers as root on this host, a known way to gain root and persistence. Run "chmod go-w ${t}" (and chown it to root), or pass --insecure-manifest-permissions`,
    );
    // `check` says the same, for the file and for the directory.
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: () => {} };
    const { checkCommand } = await import("../lib/cmd/check.ts");
    const options = {
      strict: false,
      insecure: false,
      instance: "default",
      root: `${root}/state`,
      podLogRoot: `${root}/logs`,
    };
    assert.equal(await checkCommand([`${m}/web.yaml`], options, io), 1);
    assert.equal(await checkCommand([m], options, io), 1);
    assert.deepEqual(lines, [
      `${m}/web.yaml:1:1: error: ${scan.manifests[0]?.problems[0]?.message}`,
      `${m}/web.yaml:1:1: error: ${scan.manifests[0]?.problems[0]?.message}`,
    ]);
    // Without the bits, and with --insecure-manifest-permissions, it is read.
    assert.equal(
      (await new ManifestSource(m, { insecurePermissions: true }).scan()).manifests[0]?.valid,
      true,
    );
    await Deno.chmod(t, 0o755);
    assert.equal((await new ManifestSource(m).scan()).manifests[0]?.valid, true);
  });
});

Deno.test("a directory made writable by others after a settled read refuses its files on the next pass", async () => {
  await withTempDir(async (root) => {
    const { m, t } = await layout(root);
    await Deno.writeTextFile(`${t}/web.yaml`, podText("web"));
    await Deno.symlink(`${t}/web.yaml`, `${m}/web.yaml`);
    // Seen from 5 s later: the file's stat vouches for its content, so it is not read again.
    const source = new ManifestSource(m, { clock: () => Date.now() + 5_000 });
    const good = (await source.scan()).manifests[0];
    assert.equal(good?.valid, true);
    await Deno.chmod(t, 0o757);
    const scan = await source.scan();
    assert.equal(scan.manifests[0]?.valid, false);
    assert.match(
      scan.manifests[0]?.problems[0]?.message ?? "",
      /the directory ".*\/t" on its path/,
    );
    assert.equal(scan.lastValid.get(`${m}/web.yaml`), good);
  });
});

Deno.test("a root-owned sticky directory writable by others (as /tmp) may hold a manifest's target", async () => {
  await withTempDir(async (root) => {
    const { m, t } = await layout(root);
    await Deno.chmod(t, 0o1777);
    await Deno.writeTextFile(`${t}/web.yaml`, podText("web"));
    await Deno.symlink(`${t}/web.yaml`, `${m}/web.yaml`);
    const scan = await new ManifestSource(m).scan();
    assert.deepEqual(scan.manifests.map((x) => [x.valid, x.problems]), [[true, []]]);
  });
});

Deno.test({
  name: "in a sticky directory, a target or a symlink that another user owns is refused",
  ignore: NEEDS_ROOT,
  fn: async () => {
    assert.ok(IS_ROOT, "changing a file's owner needs root");
    await withTempDir(async (root) => {
      const { m, t } = await layout(root);
      await Deno.chmod(t, 0o1777);
      await Deno.writeTextFile(`${t}/theirs.yaml`, podText("theirs"));
      await Deno.chown(`${t}/theirs.yaml`, NOBODY, NOBODY);
      await Deno.symlink(`${t}/theirs.yaml`, `${m}/theirs.yaml`);
      // Their symlink to a root-owned file: they could point it anywhere.
      await Deno.writeTextFile(`${root}/private.yaml`, podText("private", true));
      await Deno.symlink(`${root}/private.yaml`, `${t}/hop.yaml`);
      lchownSync(`${t}/hop.yaml`, NOBODY, NOBODY);
      await Deno.symlink(`${t}/hop.yaml`, `${m}/hop.yaml`);
      const scan = await new ManifestSource(m, { uid: 0 }).scan();
      assert.deepEqual(scan.manifests.map((x) => [x.file, x.valid]), [
        [`${m}/hop.yaml`, false],
        [`${m}/theirs.yaml`, false],
      ]);
      assert.match(
        scan.manifests[0]?.problems[0]?.message ?? "",
        new RegExp(
          `^Refusing the file: the symlink "${t}/hop\\.yaml" on its path is owned by user ${NOBODY}, not by root or the agent's user \\(0\\);.* Run "chown -h root ${t}/hop\\.yaml"`,
        ),
      );
      assert.match(
        scan.manifests[1]?.problems[0]?.message ?? "",
        new RegExp(
          `^Refusing the file: its target "${t}/theirs\\.yaml" is owned by user ${NOBODY}`,
        ),
      );
    });
  },
});

Deno.test({
  name: "a directory on the path owned by another user is refused, even without write bits",
  ignore: NEEDS_ROOT,
  fn: async () => {
    assert.ok(IS_ROOT, "changing a file's owner needs root");
    await withTempDir(async (root) => {
      const { m, t } = await layout(root);
      await Deno.writeTextFile(`${t}/web.yaml`, podText("web"));
      await Deno.symlink(`${t}/web.yaml`, `${m}/web.yaml`);
      await Deno.chown(t, NOBODY, NOBODY);
      const scan = await new ManifestSource(m, { uid: 0 }).scan();
      assert.match(
        scan.manifests[0]?.problems[0]?.message ?? "",
        new RegExp(
          `^Refusing the file: the directory "${t}" on its path is owned by user ${NOBODY}, not by root or the agent's user \\(0\\)`,
        ),
      );
    });
  },
});

Deno.test("the manifest directory is refused when a directory above it is writable by others, or when it is itself, sticky or not", async () => {
  await withTempDir(async (root) => {
    const parent = `${root}/etc`;
    await Deno.mkdir(`${parent}/manifests`, { recursive: true });
    await Deno.chmod(parent, 0o777);
    await Deno.writeTextFile(`${parent}/manifests/web.yaml`, podText("web"));
    const above = await new ManifestSource(`${parent}/manifests`).scan();
    assert.deepEqual(above.manifests, []);
    assert.match(
      above.refused ?? "",
      new RegExp(
        `^Refusing the manifest directory ${parent}/manifests: the directory "${parent}" on its path is writable by its group and others \\(mode 0777\\);.* Run "chmod go-w ${parent}"`,
      ),
    );
    await Deno.chmod(parent, 0o755);
    await Deno.chmod(`${parent}/manifests`, 0o1777);
    const itself = await new ManifestSource(`${parent}/manifests`).scan();
    assert.match(
      itself.refused ?? "",
      /^Refusing the manifest directory .*: it is writable by its group and others \(mode 1777\)/,
    );
  });
});

Deno.test("a manifest directory reached through a symlink is judged at its real path", async () => {
  await withTempDir(async (root) => {
    const { t } = await layout(root);
    await Deno.mkdir(`${t}/real`, { mode: 0o755 });
    await Deno.writeTextFile(`${t}/real/web.yaml`, podText("web"));
    await Deno.symlink(`${t}/real`, `${root}/manifests`);
    const scan = await new ManifestSource(`${root}/manifests`).scan();
    assert.deepEqual(scan.manifests.map((x) => [x.file, x.valid]), [
      [`${root}/manifests/web.yaml`, true],
    ]);
    await Deno.chmod(`${t}/real`, 0o775);
    const refused = await new ManifestSource(`${root}/manifests`).scan();
    assert.match(
      refused.refused ?? "",
      new RegExp(`^Refusing the manifest directory ${root}/manifests: it is writable by its group`),
    );
  });
});

Deno.test("a symlink loop and a file used as a directory are invalid files with a reason", async () => {
  await withTempDir(async (dir) => {
    await Deno.symlink(`${dir}/b.yaml`, `${dir}/a.yaml`);
    await Deno.symlink(`${dir}/a.yaml`, `${dir}/b.yaml`);
    await Deno.writeTextFile(`${dir}/plain`, "x");
    await Deno.symlink(`${dir}/plain/web.yaml`, `${dir}/c.yaml`);
    const scan = await new ManifestSource(dir).scan();
    assert.deepEqual(scan.manifests.map((m) => [m.file, m.problems[0]?.message]), [
      [`${dir}/a.yaml`, "Cannot read the file: it goes through too many symlinks (a loop?)"],
      [`${dir}/b.yaml`, "Cannot read the file: it goes through too many symlinks (a loop?)"],
      [`${dir}/c.yaml`, `Cannot read the file: "${dir}/plain" on its path is not a directory`],
    ]);
  });
});

// ---- the agent: only a file that no longer exists is deleted ----

const IMAGE = "docker.io/library/busybox:1.35";

async function agent(dir: string) {
  const { manifests, cri, lines, reconciler } = await reconcilerFixture({ dir, time: "system" });
  const sandboxes = async () =>
    (await cri.listPodSandbox({ state: "SANDBOX_READY" })).map((s) => `${s.metadata.name} ${s.id}`);
  return { manifests, cri, lines, reconciler, sandboxes };
}

const HELLO = `name: hello
containers:
  - name: hello
    image: ${IMAGE}
    command: ["sh", "-c", "sleep 3600"]
`;

Deno.test("a symlink that dangles for a while keeps its pods: nothing is torn down or recreated, and it is logged once", async () => {
  await withTempDir(async (dir) => {
    const a = await agent(dir);
    await Deno.writeTextFile(`${dir}/hello.yaml`, HELLO);
    await Deno.symlink(`${dir}/hello.yaml`, `${a.manifests}/hello.yaml`);
    await a.reconciler.pass();
    const before = await a.sandboxes();
    assert.equal(before.length, 1);
    // As a deploy tool does: the target is replaced by removing it and writing it again.
    await Deno.rename(`${dir}/hello.yaml`, `${dir}/hello.yaml.old`);
    for (let i = 0; i < 3; i++) {
      const r = await a.reconciler.pass();
      assert.deepEqual(r.actions, [], `pass ${i}`);
    }
    await Deno.rename(`${dir}/hello.yaml.old`, `${dir}/hello.yaml`);
    const back = await a.reconciler.pass();
    assert.deepEqual(back.actions, []);
    assert.deepEqual(await a.sandboxes(), before);
    assert.deepEqual(
      a.cri.calls.filter((c) => /^(Stop|Remove|RunPod)/.test(c.method)).map((c) => c.method),
      ["RunPodSandbox"],
    );
    const errors = a.lines.filter((l) => l.includes("dangling symlink"));
    assert.equal(errors.length, 1, a.lines.join("\n"));
    assert.match(errors[0]!, /ERROR/);
  });
});

Deno.test("a file briefly replaced by a FIFO keeps its pods; deleting the file tears them down", async () => {
  await withTempDir(async (dir) => {
    const a = await agent(dir);
    await Deno.writeTextFile(`${a.manifests}/hello.yaml`, HELLO);
    await a.reconciler.pass();
    const before = await a.sandboxes();
    await Deno.remove(`${a.manifests}/hello.yaml`);
    mkfifo(`${a.manifests}/hello.yaml`);
    for (let i = 0; i < 3; i++) assert.deepEqual((await a.reconciler.pass()).actions, []);
    assert.equal(a.lines.filter((l) => l.includes("FIFO")).length, 1, a.lines.join("\n"));
    await Deno.remove(`${a.manifests}/hello.yaml`);
    await Deno.writeTextFile(`${a.manifests}/hello.yaml`, HELLO);
    assert.deepEqual((await a.reconciler.pass()).actions, []);
    assert.deepEqual(await a.sandboxes(), before);
    await Deno.remove(`${a.manifests}/hello.yaml`);
    const gone = await a.reconciler.pass();
    assert.deepEqual(gone.actions.map((x) => [x.type, x.reason]), [
      ["deletePod", `its file ${a.manifests}/hello.yaml was deleted`],
    ]);
  });
});

Deno.test("--insecure-manifest-permissions lifts the owner and mode rules only: a FIFO, a device and an endless file are still refused", async () => {
  await withTempDir(async (root) => {
    const { m, t } = await layout(root);
    await Deno.chmod(t, 0o777);
    await Deno.writeTextFile(`${t}/web.yaml`, podText("web"));
    await Deno.chmod(`${t}/web.yaml`, 0o666);
    await Deno.symlink(`${t}/web.yaml`, `${m}/web.yaml`);
    mkfifo(`${m}/pipe.yaml`);
    await Deno.symlink("/dev/zero", `${m}/zero.yaml`);
    await Deno.symlink("/proc/self/pagemap", `${m}/pagemap.yaml`);
    const scan = await new ManifestSource(m, { insecurePermissions: true }).scan();
    assert.deepEqual(scan.manifests.map((x) => [x.file.slice(m.length + 1), x.valid]), [
      ["pagemap.yaml", false],
      ["pipe.yaml", false],
      ["web.yaml", true],
      ["zero.yaml", false],
    ]);
    assert.match(scan.manifests[0]?.problems[0]?.message ?? "", /^Shrink the file/);
    assert.match(scan.manifests[1]?.problems[0]?.message ?? "", /it is a FIFO/);
    assert.match(scan.manifests[3]?.problems[0]?.message ?? "", /a character device/);
  });
});

Deno.test("a settled file that becomes a FIFO, then a symlink elsewhere, is judged again each pass, not taken from the cache", async () => {
  await withTempDir(async (root) => {
    const { m, t } = await layout(root);
    await Deno.writeTextFile(`${m}/web.yaml`, podText("web"));
    // Seen from 5 s later: every read vouches for its file, so an unchanged file is not read again.
    const source = new ManifestSource(m, { clock: () => Date.now() + 5_000 });
    const good = (await source.scan()).manifests[0];
    assert.equal(good?.valid, true);
    assert.equal((await source.scan()).manifests[0], good, "unchanged: taken from the cache");
    await Deno.remove(`${m}/web.yaml`);
    mkfifo(`${m}/web.yaml`);
    const fifo = await source.scan();
    assert.match(fifo.manifests[0]?.problems[0]?.message ?? "", /it is a FIFO/);
    assert.equal(fifo.lastValid.get(`${m}/web.yaml`), good);
    await Deno.remove(`${m}/web.yaml`);
    await Deno.writeTextFile(`${t}/other.yaml`, podText("other"));
    await Deno.symlink(`${t}/other.yaml`, `${m}/web.yaml`);
    const other = await source.scan();
    assert.deepEqual(other.manifests[0]?.pods.map((p) => p.pod.metadata.name), ["other"]);
  });
});
