import { exists } from "../testing/in_container.ts";
import assert from "node:assert/strict";
import {
  emptyDirPath,
  prepareVolumes,
  VolumeError,
  volumeHostPaths,
  type VolumeSource,
} from "../lib/node/volumes.ts";
import { releaseVolumes } from "../lib/node/volume_release.ts";
import { bindSubPath, resolveSubPath, subPathTarget } from "../lib/node/sub_path.ts";
import { UnsafePathError } from "../lib/node/paths.ts";

const CI = Deno.env.get("CI") === "true";
const IS_ROOT = Deno.uid() === 0;
const UMASK = Deno.umask();

// --- helpers ---

/** Runs `fn` in a fresh temp dir; releases its mounts and removes it afterwards. */
async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-volumes-" });
  try {
    await fn(dir);
  } finally {
    await releaseVolumes(dir);
    await Deno.remove(dir, { recursive: true });
  }
}

/** The permission bits of `path` (symlinks followed). */
async function modeOf(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o7777;
}

function hostPath(path: string, type?: string): VolumeSource {
  return { name: "data", hostPath: type === undefined ? { path } : { path, type } };
}

/** Asserts that `promise` rejects with a VolumeError for `volume` whose message is `message`. */
async function rejectsWith(
  promise: Promise<unknown>,
  volume: string,
  message: string | RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof VolumeError, `not a VolumeError: ${error}`);
    assert.equal(error.volume, volume);
    if (typeof message === "string") assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  });
}

interface Mount {
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

/** /proc/self/mountinfo, parsed here independently of lib/node/mount_table.ts. */
async function mountsUnder(dir: string): Promise<Mount[]> {
  const real = await Deno.realPath(dir);
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  const mounts: Mount[] = [];
  for (const line of text.trim().split("\n")) {
    const [before, after] = line.split(" - ");
    const mountPoint = before!.split(" ")[4]!.replaceAll("\\040", " ").replaceAll("\\134", "\\");
    const [fsType, , superOptions] = after!.split(" ");
    if (mountPoint === real || mountPoint.startsWith(`${real}/`)) {
      mounts.push({ mountPoint, fsType: fsType!, superOptions: superOptions!.split(",") });
    }
  }
  return mounts;
}

/** A block device under /dev, or undefined when the machine has none. */
async function findBlockDevice(): Promise<string | undefined> {
  for (const candidate of ["/dev/loop0", "/dev/vda", "/dev/sda", "/dev/nvme0n1"]) {
    if ((await Deno.stat(candidate).catch(() => undefined))?.isBlockDevice) return candidate;
  }
  for await (const entry of Deno.readDir("/dev")) {
    const path = `/dev/${entry.name}`;
    if ((await Deno.stat(path).catch(() => undefined))?.isBlockDevice) return path;
  }
  return undefined;
}

const BLOCK_DEVICE = await findBlockDevice();
if (BLOCK_DEVICE === undefined && !CI) {
  console.log("Skipping the BlockDevice acceptance case: no block device under /dev");
}
if (!IS_ROOT && !CI) {
  console.log(
    "Skipping the tmpfs cases: mounting a tmpfs needs root (under CI=true they fail instead)",
  );
}

/** Options for a test that mounts tmpfs: skipped without root, except under CI=true. */
function needsRoot(name: string, fn: () => Promise<void>): Deno.TestDefinition {
  return {
    name,
    ignore: !IS_ROOT && !CI,
    fn: async () => {
      assert.ok(IS_ROOT, "this case mounts a tmpfs and needs root (CI=true forbids skipping it)");
      await fn();
    },
  };
}

// --- hostPath ---

Deno.test('hostPath with type "" is not checked and nothing is created', async () => {
  await inTempDir(async (dir) => {
    await prepareVolumes([hostPath(`${dir}/missing`)], dir);
    await prepareVolumes([hostPath(`${dir}/missing`, "")], dir);
    assert.equal(await exists(`${dir}/missing`), false);
  });
});

Deno.test("DirectoryOrCreate creates the directory and its parents with mode 0755", async () => {
  await inTempDir(async (dir) => {
    await prepareVolumes([hostPath(`${dir}/a/b/c`, "DirectoryOrCreate")], dir);
    // Kubelet's MkdirAll(path, 0755) is narrowed by the umask; 022 leaves 0755.
    for (const path of [`${dir}/a`, `${dir}/a/b`, `${dir}/a/b/c`]) {
      assert.ok((await Deno.stat(path)).isDirectory, path);
      assert.equal(await modeOf(path), 0o755 & ~UMASK, path);
    }
  });
});

Deno.test("DirectoryOrCreate keeps an existing directory as it is", async () => {
  await inTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/d`, { mode: 0o700 });
    await Deno.chmod(`${dir}/d`, 0o700);
    await prepareVolumes([hostPath(`${dir}/d`, "DirectoryOrCreate")], dir);
    assert.equal(await modeOf(`${dir}/d`), 0o700);
  });
});

Deno.test("DirectoryOrCreate rejects a file in the way", async () => {
  await inTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/f`, "x");
    await rejectsWith(
      prepareVolumes([hostPath(`${dir}/f`, "DirectoryOrCreate")], dir),
      "data",
      `Volume "data": hostPath "${dir}/f" must be a directory (type DirectoryOrCreate), but it is a file: point the volume at the right path, or change its type`,
    );
  });
});

Deno.test("Directory accepts a directory and a symlink to one", async () => {
  await inTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/d`);
    await Deno.symlink(`${dir}/d`, `${dir}/link`);
    await prepareVolumes([hostPath(`${dir}/d`, "Directory")], dir);
    await prepareVolumes([hostPath(`${dir}/link`, "Directory")], dir);
  });
});

Deno.test("Directory rejects a file and a missing path, and creates nothing", async () => {
  await inTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/f`, "x");
    await rejectsWith(
      prepareVolumes([hostPath(`${dir}/f`, "Directory")], dir),
      "data",
      `Volume "data": hostPath "${dir}/f" must be a directory (type Directory), but it is a file: point the volume at the right path, or change its type`,
    );
    await rejectsWith(
      prepareVolumes([hostPath(`${dir}/none`, "Directory")], dir),
      "data",
      `Volume "data": hostPath "${dir}/none" must be a directory (type Directory), but it does not exist: create it, or use type "DirectoryOrCreate"`,
    );
    assert.equal(await exists(`${dir}/none`), false);
  });
});

Deno.test("FileOrCreate creates an empty file with mode 0644", async () => {
  await inTempDir(async (dir) => {
    await prepareVolumes([hostPath(`${dir}/app.conf`, "FileOrCreate")], dir);
    const info = await Deno.stat(`${dir}/app.conf`);
    assert.ok(info.isFile);
    assert.equal(info.size, 0);
    assert.equal(info.mode! & 0o7777, 0o644 & ~UMASK);
  });
});

Deno.test("FileOrCreate keeps the content of an existing file", async () => {
  await inTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/app.conf`, "keep me");
    await prepareVolumes([hostPath(`${dir}/app.conf`, "FileOrCreate")], dir);
    assert.equal(await Deno.readTextFile(`${dir}/app.conf`), "keep me");
  });
});

Deno.test("FileOrCreate fails when the parent directory is missing, saying so", async () => {
  await inTempDir(async (dir) => {
    await rejectsWith(
      prepareVolumes([hostPath(`${dir}/etc/app.conf`, "FileOrCreate")], dir),
      "data",
      `Volume "data": cannot create hostPath "${dir}/etc/app.conf" (type FileOrCreate): its parent directory "${dir}/etc" does not exist: create it first (FileOrCreate does not create parent directories)`,
    );
    assert.equal(await exists(`${dir}/etc`), false);
  });
});

Deno.test("FileOrCreate rejects a directory in the way", async () => {
  await inTempDir(async (dir) => {
    await rejectsWith(
      prepareVolumes([hostPath(dir, "FileOrCreate")], dir),
      "data",
      `Volume "data": hostPath "${dir}" must be a file (type FileOrCreate), but it is a directory: point the volume at the right path, or change its type`,
    );
  });
});

Deno.test("File accepts a file and rejects a directory and a missing path", async () => {
  await inTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/f`, "x");
    await prepareVolumes([hostPath(`${dir}/f`, "File")], dir);
    await rejectsWith(
      prepareVolumes([hostPath(dir, "File")], dir),
      "data",
      `Volume "data": hostPath "${dir}" must be a file (type File), but it is a directory: point the volume at the right path, or change its type`,
    );
    await rejectsWith(
      prepareVolumes([hostPath(`${dir}/none`, "File")], dir),
      "data",
      `Volume "data": hostPath "${dir}/none" must be a file (type File), but it does not exist: create it, or use type "FileOrCreate"`,
    );
    assert.equal(await exists(`${dir}/none`), false);
  });
});

Deno.test("Socket accepts a unix socket and rejects a file", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/app.sock`;
    const listener = Deno.listen({ transport: "unix", path });
    try {
      assert.ok((await Deno.stat(path)).isSocket);
      await prepareVolumes([hostPath(path, "Socket")], dir);
    } finally {
      listener.close();
    }
    await Deno.writeTextFile(`${dir}/f`, "x");
    await rejectsWith(
      prepareVolumes([hostPath(`${dir}/f`, "Socket")], dir),
      "data",
      `Volume "data": hostPath "${dir}/f" must be a socket (type Socket), but it is a file: point the volume at the right path, or change its type`,
    );
  });
});

Deno.test("CharDevice accepts /dev/null and rejects a file", async () => {
  await inTempDir(async (dir) => {
    await prepareVolumes([hostPath("/dev/null", "CharDevice")], dir);
    await Deno.writeTextFile(`${dir}/f`, "x");
    await rejectsWith(
      prepareVolumes([hostPath(`${dir}/f`, "CharDevice")], dir),
      "data",
      `Volume "data": hostPath "${dir}/f" must be a character device (type CharDevice), but it is a file: point the volume at the right path, or change its type`,
    );
  });
});

Deno.test({
  name: "BlockDevice accepts a block device",
  ignore: BLOCK_DEVICE === undefined && !CI,
  fn: async () => {
    assert.ok(BLOCK_DEVICE, "no block device under /dev (CI=true forbids skipping this case)");
    await inTempDir(async (dir) => {
      await prepareVolumes([hostPath(BLOCK_DEVICE, "BlockDevice")], dir);
    });
  },
});

Deno.test("BlockDevice rejects a character device", async () => {
  await inTempDir(async (dir) => {
    await rejectsWith(
      prepareVolumes([hostPath("/dev/null", "BlockDevice")], dir),
      "data",
      `Volume "data": hostPath "/dev/null" must be a block device (type BlockDevice), but it is a character device: point the volume at the right path, or change its type`,
    );
  });
});

Deno.test("a relative hostPath is rejected before anything is touched", async () => {
  await inTempDir(async (dir) => {
    const volumes = [hostPath("srv/data", "DirectoryOrCreate")];
    const message = `Volume "data": hostPath "srv/data" must be an absolute path`;
    assert.throws(() => volumeHostPaths(volumes, dir), { name: "VolumeError", message });
    await rejectsWith(prepareVolumes(volumes, dir), "data", message);
    assert.equal(await exists("srv"), false);
  });
});

Deno.test('a hostPath with ".." is rejected, as kubelet does', async () => {
  await inTempDir(async (dir) => {
    await rejectsWith(
      prepareVolumes([hostPath(`${dir}/a/../b`, "DirectoryOrCreate")], dir),
      "data",
      `Volume "data": hostPath "${dir}/a/../b" must not contain ".."`,
    );
    assert.equal(await exists(`${dir}/b`), false);
  });
});

Deno.test("an unknown hostPath type is rejected", async () => {
  await inTempDir(async (dir) => {
    await rejectsWith(
      prepareVolumes([hostPath(dir, "Dir")], dir),
      "data",
      `Volume "data": unknown hostPath type "Dir": use one of "", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"`,
    );
  });
});

// --- emptyDir, paths, validation ---

Deno.test("emptyDir paths follow kubelet's layout and are computed without touching the disk", () => {
  const podDir = "/nonexistent/tinylet/pods/0d8c2d4e-0000-4000-8000-000000000000";
  assert.equal(
    emptyDirPath(podDir, "cache"),
    `${podDir}/volumes/kubernetes.io~empty-dir/cache`,
  );
  const paths = volumeHostPaths([
    { name: "cache", emptyDir: {} },
    { name: "ram", emptyDir: { medium: "Memory", sizeLimitBytes: 1024 } },
    { name: "logs", hostPath: { path: "/var/log/app", type: "DirectoryOrCreate" } },
  ], podDir);
  assert.deepEqual([...paths], [
    ["cache", `${podDir}/volumes/kubernetes.io~empty-dir/cache`],
    ["ram", `${podDir}/volumes/kubernetes.io~empty-dir/ram`],
    ["logs", "/var/log/app"],
  ]);
});

Deno.test("volumes without a supported source, with two sources or a bad name are rejected", () => {
  const cases: [VolumeSource, string][] = [
    [
      { name: "cfg" },
      `Volume "cfg": has no supported source: tinylet provides hostPath, emptyDir, configMap, secret and projected volumes`,
    ],
    [
      { name: "both", emptyDir: {}, hostPath: { path: "/srv" } },
      `Volume "both": has both hostPath and emptyDir: keep one of them`,
    ],
    [
      { name: "../x", emptyDir: {} },
      `Volume "../x": the name must be a DNS-1123 label: lowercase letters, digits and "-", at most 63 characters`,
    ],
    [
      { name: "huge", emptyDir: { medium: "HugePages" } },
      `Volume "huge": unsupported emptyDir medium "HugePages": use "" or "Memory"`,
    ],
  ];
  for (const [volume, message] of cases) {
    assert.throws(() => volumeHostPaths([volume], "/pod"), { name: "VolumeError", message });
  }
  assert.throws(
    () => volumeHostPaths([{ name: "a", emptyDir: {} }, { name: "a", emptyDir: {} }], "/pod"),
    {
      name: "VolumeError",
      message:
        `Volume "a": the name is used by more than one volume: give each volume its own name`,
    },
  );
});

Deno.test("an emptyDir is created with mode 0777 whatever the umask", async () => {
  await inTempDir(async (dir) => {
    const podDir = `${dir}/pods/uid-1`;
    await prepareVolumes([{ name: "cache", emptyDir: {} }], podDir);
    const path = `${podDir}/volumes/kubernetes.io~empty-dir/cache`;
    assert.ok((await Deno.stat(path)).isDirectory);
    assert.equal(await modeOf(path), 0o777);
    assert.equal(await modeOf(`${podDir}/volumes`), 0o750 & ~UMASK);
  });
});

Deno.test("preparing an emptyDir twice keeps its content", async () => {
  await inTempDir(async (dir) => {
    const volumes: VolumeSource[] = [{ name: "cache", emptyDir: {} }];
    await prepareVolumes(volumes, dir);
    await Deno.writeTextFile(`${emptyDirPath(dir, "cache")}/kept`, "yes");
    await prepareVolumes(volumes, dir);
    assert.equal(await Deno.readTextFile(`${emptyDirPath(dir, "cache")}/kept`), "yes");
  });
});

Deno.test("preparation stops at the first volume that cannot be provided, naming it", async () => {
  await inTempDir(async (dir) => {
    await rejectsWith(
      prepareVolumes([
        { name: "cache", emptyDir: {} },
        { name: "conf", hostPath: { path: `${dir}/none`, type: "File" } },
        { name: "later", emptyDir: {} },
      ], dir),
      "conf",
      /^Volume "conf": hostPath ".*\/none" must be a file \(type File\), but it does not exist/,
    );
    assert.ok(await exists(emptyDirPath(dir, "cache")));
    assert.equal(await exists(emptyDirPath(dir, "later")), false);
  });
});

Deno.test("releasing a pod with nothing mounted, or no directory at all, is a no-op", async () => {
  await inTempDir(async (dir) => {
    await prepareVolumes([{ name: "cache", emptyDir: {} }], dir);
    await releaseVolumes(dir);
    assert.ok(await exists(emptyDirPath(dir, "cache")));
    await releaseVolumes(`${dir}/no-such-pod`);
  });
});

// --- emptyDir medium: Memory (tmpfs; needs root) ---

Deno.test(needsRoot("a Memory emptyDir is a tmpfs of sizeLimit, mounted once", async () => {
  await inTempDir(async (dir) => {
    const volumes: VolumeSource[] = [
      { name: "ram", emptyDir: { medium: "Memory", sizeLimitBytes: 4 * 1024 * 1024 } },
    ];
    const path = emptyDirPath(dir, "ram");
    await prepareVolumes(volumes, dir);
    await Deno.writeTextFile(`${path}/kept`, "yes");
    await prepareVolumes(volumes, dir);

    const mounts = await mountsUnder(dir);
    assert.equal(mounts.length, 1, JSON.stringify(mounts));
    assert.equal(mounts[0]!.mountPoint, await Deno.realPath(path));
    assert.equal(mounts[0]!.fsType, "tmpfs");
    // 4 MiB = 4096 KiB, which the kernel shows as size=4096k; mode 0777 as mode=777.
    assert.ok(mounts[0]!.superOptions.includes("size=4096k"), mounts[0]!.superOptions.join(","));
    assert.ok(mounts[0]!.superOptions.includes("mode=777"), mounts[0]!.superOptions.join(","));
    assert.equal(await Deno.readTextFile(`${path}/kept`), "yes");
    assert.equal(await modeOf(path), 0o777);

    await releaseVolumes(dir);
    assert.deepEqual(await mountsUnder(dir), []);
    assert.equal(await exists(`${path}/kept`), false);
    await Deno.remove(`${dir}/volumes`, { recursive: true });
  });
}));

Deno.test(
  needsRoot("a Memory emptyDir without sizeLimit gets the kernel's default size", async () => {
    await inTempDir(async (dir) => {
      await prepareVolumes([{ name: "ram", emptyDir: { medium: "Memory" } }], dir);
      const mounts = await mountsUnder(dir);
      assert.equal(mounts.length, 1);
      assert.equal(mounts[0]!.fsType, "tmpfs");
      assert.ok(mounts[0]!.superOptions.includes("mode=777"));
      await releaseVolumes(dir);
      assert.deepEqual(await mountsUnder(dir), []);
    });
  }),
);

Deno.test(
  needsRoot("release unmounts every tmpfs of a pod, even under a path with a space", async () => {
    await inTempDir(async (dir) => {
      const podDir = `${dir}/pod dir`;
      await prepareVolumes([
        { name: "a", emptyDir: { medium: "Memory", sizeLimitBytes: 1024 * 1024 } },
        { name: "b", emptyDir: { medium: "Memory" } },
        { name: "c", emptyDir: {} },
      ], podDir);
      // A tmpfs inside a tmpfs: released deepest first.
      await Deno.mkdir(`${emptyDirPath(podDir, "a")}/nested`);
      await prepareVolumes(
        [{ name: "d", emptyDir: { medium: "Memory" } }],
        `${emptyDirPath(podDir, "a")}/nested`,
      );
      assert.equal((await mountsUnder(podDir)).length, 3);
      // Idempotent with the escaped mount points too.
      await prepareVolumes([{ name: "b", emptyDir: { medium: "Memory" } }], podDir);
      assert.equal((await mountsUnder(podDir)).length, 3);

      await releaseVolumes(podDir);
      assert.deepEqual(await mountsUnder(dir), []);
      await Deno.remove(podDir, { recursive: true });
    });
  }),
);

Deno.test(
  needsRoot(
    "release does not follow a pod directory that is a symlink: a tmpfs where it points stays",
    async () => {
      await inTempDir(async (dir) => {
        const elsewhere = `${dir}/elsewhere`;
        await prepareVolumes([{ name: "ram", emptyDir: { medium: "Memory" } }], elsewhere);
        await Deno.mkdir(`${dir}/root/pods`, { recursive: true });
        await Deno.symlink(elsewhere, `${dir}/root/pods/pod`);
        await releaseVolumes(`${dir}/root/pods/pod`, `${dir}/root`);
        await releaseVolumes(`${dir}/root/pods/pod`);
        assert.equal((await mountsUnder(elsewhere)).length, 1);
        await releaseVolumes(elsewhere);
      });
    },
  ),
);

Deno.test(
  needsRoot(
    "release refuses a pod directory that resolves outside the root it must be in, unmounting nothing",
    async () => {
      await inTempDir(async (dir) => {
        const outside = `${dir}/outside`;
        await prepareVolumes([{ name: "ram", emptyDir: { medium: "Memory" } }], `${outside}/pod`);
        await Deno.mkdir(`${dir}/root`);
        await Deno.symlink(outside, `${dir}/root/pods`); // a directory above the pod's
        await assert.rejects(
          releaseVolumes(`${dir}/root/pods/pod`, `${dir}/root`),
          (error) =>
            error instanceof UnsafePathError &&
            error.message.startsWith(`Refusing to unmount below "${dir}/root/pods/pod"`),
        );
        assert.equal((await mountsUnder(outside)).length, 1);
        await releaseVolumes(`${outside}/pod`);
      });
    },
  ),
);

Deno.test(
  needsRoot(
    "release refuses a pod directory with a mount it did not make below it, so the removal never goes through it",
    async () => {
      await inTempDir(async (dir) => {
        const outside = `${dir}/outside`;
        await Deno.mkdir(outside);
        await Deno.writeTextFile(`${outside}/precious`, "keep me");
        const podDir = `${dir}/pod`;
        await Deno.mkdir(`${podDir}/other/mnt`, { recursive: true });
        const bind = await new Deno.Command("mount", {
          args: ["--bind", outside, `${podDir}/other/mnt`],
        }).output();
        assert.ok(bind.success, new TextDecoder().decode(bind.stderr));
        try {
          await assert.rejects(
            releaseVolumes(podDir),
            (error) =>
              error instanceof UnsafePathError &&
              error.message ===
                `Refusing to remove "${podDir}": "${podDir}/other/mnt" below it is still mounted (unmount it; the removal is tried again)`,
          );
          assert.equal(await Deno.readTextFile(`${outside}/precious`), "keep me");
        } finally {
          await new Deno.Command("umount", { args: [`${podDir}/other/mnt`] }).output();
        }
        await releaseVolumes(podDir);
        await Deno.remove(podDir, { recursive: true });
        assert.equal(await Deno.readTextFile(`${outside}/precious`), "keep me");
      });
    },
  ),
);

Deno.test(needsRoot("release unmounts a tmpfs that is busy, lazily", async () => {
  await inTempDir(async (dir) => {
    await prepareVolumes([{ name: "ram", emptyDir: { medium: "Memory" } }], dir);
    const file = await Deno.open(`${emptyDirPath(dir, "ram")}/open`, {
      write: true,
      create: true,
    });
    try {
      await releaseVolumes(dir);
      assert.deepEqual(await mountsUnder(dir), []);
    } finally {
      file.close();
    }
  });
}));

// --- subPath ---

Deno.test("a subPath resolves below the volume", async () => {
  await inTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/vol/conf`, { recursive: true });
    await Deno.writeTextFile(`${dir}/vol/conf/app.yaml`, "");
    const real = await Deno.realPath(`${dir}/vol`);
    assert.equal(await resolveSubPath("data", `${dir}/vol`, "conf", false), `${real}/conf`);
    assert.equal(
      await resolveSubPath("data", `${dir}/vol`, "./conf//app.yaml", false),
      `${real}/conf/app.yaml`,
    );
    assert.equal(await resolveSubPath("data", `${dir}/vol`, "conf/../conf", false), `${real}/conf`);
  });
});

Deno.test("a missing nested subPath is created with the volume directory's mode", async () => {
  await inTempDir(async (dir) => {
    // Kubelet: SafeMakeDir(subPath, volumePath, GetMode(volumePath)), then chmod.
    await Deno.mkdir(`${dir}/vol`);
    await Deno.chmod(`${dir}/vol`, 0o777);
    const real = await Deno.realPath(`${dir}/vol`);
    assert.equal(await resolveSubPath("data", `${dir}/vol`, "a/b", true), `${real}/a/b`);
    assert.equal(await modeOf(`${dir}/vol/a`), 0o777);
    assert.equal(await modeOf(`${dir}/vol/a/b`), 0o777);

    await Deno.mkdir(`${dir}/strict`);
    await Deno.chmod(`${dir}/strict`, 0o2750);
    await resolveSubPath("data", `${dir}/strict`, "x/y", true);
    assert.equal(await modeOf(`${dir}/strict/x/y`), 0o2750);
  });
});

Deno.test("a missing subPath is not created when create is false", async () => {
  await inTempDir(async (dir) => {
    const real = await Deno.realPath(dir);
    assert.equal(await resolveSubPath("data", dir, "a/b", false), `${real}/a/b`);
    assert.equal(await exists(`${dir}/a`), false);
  });
});

Deno.test("an absolute subPath is rejected", async () => {
  await inTempDir(async (dir) => {
    await rejectsWith(
      resolveSubPath("data", dir, "/etc", true),
      "data",
      `Volume "data": subPath "/etc" must be a relative path: remove the leading "/"`,
    );
  });
});

Deno.test('a subPath whose ".." leaves the volume is rejected', async () => {
  await inTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/vol`);
    for (const subPath of ["..", "../x", "a/../../x", "a/b/../../../vol/x"]) {
      await rejectsWith(
        resolveSubPath("data", `${dir}/vol`, subPath, true),
        "data",
        `Volume "data": subPath "${subPath}" must stay inside the volume, but its ".." leaves it`,
      );
    }
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir), (e) => e.name), ["vol"]);
  });
});

Deno.test("a subPath through a symlink pointing outside the volume is rejected", async () => {
  await inTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/vol`);
    await Deno.mkdir(`${dir}/outside`);
    await Deno.symlink(`${dir}/outside`, `${dir}/vol/escape`);
    await Deno.symlink("../outside", `${dir}/vol/relative`);
    const real = await Deno.realPath(dir);
    for (const link of ["escape", "relative"]) {
      await rejectsWith(
        resolveSubPath("data", `${dir}/vol`, `${link}/made`, true),
        "data",
        `Volume "data": subPath "${link}/made" escapes the volume: "${link}" is a symlink to "${real}/outside", outside "${real}/vol"`,
      );
    }
    assert.deepEqual(await Array.fromAsync(Deno.readDir(`${dir}/outside`)), []);
  });
});

Deno.test("a subPath through a symlink inside the volume resolves to its target", async () => {
  await inTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/vol/real`, { recursive: true });
    await Deno.symlink("real", `${dir}/vol/link`);
    const real = await Deno.realPath(`${dir}/vol`);
    assert.equal(await resolveSubPath("data", `${dir}/vol`, "link/x", true), `${real}/real/x`);
    assert.ok((await Deno.lstat(`${dir}/vol/real/x`)).isDirectory);
  });
});

Deno.test("a subPath through a dangling symlink is rejected", async () => {
  await inTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/vol`);
    await Deno.symlink(`${dir}/gone`, `${dir}/vol/dangling`);
    await rejectsWith(
      resolveSubPath("data", `${dir}/vol`, "dangling/x", true),
      "data",
      `Volume "data": subPath "dangling/x" goes through "dangling", a symlink to "${dir}/gone" that cannot be resolved: point it at a directory inside the volume`,
    );
    assert.equal(await exists(`${dir}/gone`), false);
  });
});

// --- subPath bind mounts ---

Deno.test(needsRoot("a subPath is pinned by a bind mount at kubelet's path, once", async () => {
  await inTempDir(async (dir) => {
    const base = `${dir}/vol`;
    await Deno.mkdir(`${base}/conf`, { recursive: true });
    await Deno.writeTextFile(`${base}/conf/app.ini`, "x=1\n");
    const podDir = `${dir}/pod`;
    const target = subPathTarget(podDir, "vol", "app", 2);
    assert.equal(target, `${podDir}/volume-subpaths/vol/app/2`);
    await bindSubPath("vol", base, "conf/app.ini", target);
    await bindSubPath("vol", base, "conf/app.ini", target);
    assert.equal(await Deno.readTextFile(target), "x=1\n");
    const mounts = await mountsUnder(podDir);
    assert.deepEqual(mounts.map((m) => m.mountPoint), [await Deno.realPath(target)]);
    await releaseVolumes(podDir);
    assert.deepEqual(await mountsUnder(podDir), []);
    await Deno.remove(podDir, { recursive: true });
    assert.equal(
      await Deno.readTextFile(`${base}/conf/app.ini`),
      "x=1\n",
      "the volume is untouched",
    );
  });
}));

Deno.test(
  needsRoot("a subPath that is a symlink out of the volume is refused, not mounted", async () => {
    await inTempDir(async (dir) => {
      const base = `${dir}/vol`;
      await Deno.mkdir(base, { recursive: true });
      await Deno.mkdir(`${dir}/secret`);
      await Deno.symlink(`${dir}/secret`, `${base}/escape`);
      const podDir = `${dir}/pod`;
      await assert.rejects(
        bindSubPath("vol", base, "escape", subPathTarget(podDir, "vol", "app", 0)),
        VolumeError,
      );
      assert.deepEqual(await mountsUnder(dir), []);
    });
  }),
);
