import assert from "node:assert/strict";
import {
  type ContainerLog,
  DEFAULT_ROTATION,
  parseLogSize,
  removeLogFiles,
  rotateLogs,
  type RotationPolicy,
} from "../lib/node/log_rotation.ts";
import { QuantityError } from "../lib/manifest/quantity.ts";

// Rotated names worked out by hand from kubelet's format "20060102-150405" in UTC:
//   2026-03-04T05:06:07Z → ".20260304-050607"
//   2026-03-04T05:06:07.999+02:00 is 03:06:07 UTC → ".20260304-030607"
const NOW = new Date("2026-03-04T05:06:07Z");
const STAMP = "20260304-050607";
const POLICY: RotationPolicy = { maxSizeBytes: 100, maxFiles: 3 };

// --- helpers ---

/** Runs `fn` in a fresh temp dir and removes it afterwards. */
async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-logs-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes a CRI-format log of at least `bytes` bytes. */
async function writeLog(path: string, bytes: number): Promise<void> {
  const line = "2026-03-04T05:06:06.123456789Z stdout F hello\n";
  await Deno.writeTextFile(path, line.repeat(Math.ceil(bytes / line.length)));
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** The file names in `dir`, sorted. */
async function namesIn(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

/**
 * A fake runtime's `ReopenContainerLog`: records the call and, like containerd,
 * creates the empty log file, unless the container is in `failing`.
 */
function fakeReopen(paths: Record<string, string>, failing: string[] = []) {
  const calls: string[] = [];
  const reopen = async (containerId: string): Promise<void> => {
    calls.push(containerId);
    if (failing.includes(containerId)) {
      throw new Error(`container "${containerId}" is not running`);
    }
    const path = paths[containerId];
    assert.ok(path !== undefined, `unknown container "${containerId}"`);
    await Deno.writeTextFile(path, "", { createNew: true });
  };
  return { calls, reopen };
}

// --- rotateLogs ---

Deno.test("the default policy is kubelet's: 10Mi and 5 files", () => {
  assert.deepEqual(DEFAULT_ROTATION, { maxSizeBytes: 10485760, maxFiles: 5 });
});

Deno.test("a log under the limit is left alone", async () => {
  await inTempDir(async (dir) => {
    const log = `${dir}/0.log`;
    await Deno.writeTextFile(log, "x".repeat(99));
    const { calls, reopen } = fakeReopen({ c1: log });
    const result = await rotateLogs([{ containerId: "c1", logPath: log }], POLICY, reopen, NOW);
    assert.deepEqual(result, { rotated: [], errors: [] });
    assert.deepEqual(calls, []);
    assert.deepEqual(await namesIn(dir), ["0.log"]);
  });
});

Deno.test("a log over the limit is renamed with the UTC timestamp and reopened by the runtime", async () => {
  await inTempDir(async (dir) => {
    const log = `${dir}/0.log`;
    await writeLog(log, 150);
    const before = await Deno.readTextFile(log);
    const { calls, reopen } = fakeReopen({ c1: log });
    const result = await rotateLogs([{ containerId: "c1", logPath: log }], POLICY, reopen, NOW);
    assert.deepEqual(result, {
      rotated: [{ containerId: "c1", rotatedTo: `${log}.${STAMP}`, removed: [] }],
      errors: [],
    });
    assert.deepEqual(calls, ["c1"]);
    assert.equal(await Deno.readTextFile(`${log}.${STAMP}`), before);
    // The fresh file is the one the fake runtime created: empty.
    assert.equal(await Deno.readTextFile(log), "");
    assert.deepEqual(await namesIn(dir), ["0.log", `0.log.${STAMP}`]);
  });
});

Deno.test("tinylet does not create the fresh log itself; the runtime does", async () => {
  await inTempDir(async (dir) => {
    const log = `${dir}/0.log`;
    await writeLog(log, 150);
    const calls: string[] = [];
    const reopen = (containerId: string) => {
      calls.push(containerId);
      return Promise.resolve();
    };
    const result = await rotateLogs([{ containerId: "c1", logPath: log }], POLICY, reopen, NOW);
    assert.equal(result.rotated.length, 1);
    assert.deepEqual(calls, ["c1"]);
    assert.equal(await exists(log), false);
  });
});

Deno.test("a log exactly at the limit is rotated, as kubelet does", async () => {
  await inTempDir(async (dir) => {
    const log = `${dir}/0.log`;
    await Deno.writeTextFile(log, "x".repeat(100));
    const { calls, reopen } = fakeReopen({ c1: log });
    const result = await rotateLogs([{ containerId: "c1", logPath: log }], POLICY, reopen, NOW);
    assert.equal(result.rotated.length, 1);
    assert.deepEqual(calls, ["c1"]);
  });
});

Deno.test("the timestamp is taken in UTC whatever the offset of now", async () => {
  await inTempDir(async (dir) => {
    const log = `${dir}/0.log`;
    await writeLog(log, 150);
    const { reopen } = fakeReopen({ c1: log });
    const now = new Date("2026-03-04T05:06:07.999+02:00");
    const result = await rotateLogs([{ containerId: "c1", logPath: log }], POLICY, reopen, now);
    assert.equal(result.rotated[0]?.rotatedTo, `${log}.20260304-030607`);
  });
});

Deno.test("at most maxFiles - 1 rotated files remain, the oldest deleted", async () => {
  await inTempDir(async (dir) => {
    const log = `${dir}/0.log`;
    // Another container's log beside it shares no prefix and must survive.
    await Deno.writeTextFile(`${dir}/1.log.20200101-000000`, "other");
    await Deno.writeTextFile(`${log}.20260101-000000`, "oldest");
    await Deno.writeTextFile(`${log}.20260201-000000`, "older");
    await Deno.writeTextFile(`${log}.20260301-000000`, "old");
    await writeLog(log, 150);
    const { reopen } = fakeReopen({ c1: log });
    // maxFiles 3: the current file and 2 rotated ones.
    const result = await rotateLogs([{ containerId: "c1", logPath: log }], POLICY, reopen, NOW);
    assert.deepEqual(result, {
      rotated: [{
        containerId: "c1",
        rotatedTo: `${log}.${STAMP}`,
        removed: [`${log}.20260101-000000`, `${log}.20260201-000000`],
      }],
      errors: [],
    });
    assert.deepEqual(await namesIn(dir), [
      "0.log",
      "0.log.20260301-000000",
      `0.log.${STAMP}`,
      "1.log.20200101-000000",
    ]);
  });
});

Deno.test("a failing reopen renames the file back and another container still rotates", async () => {
  await inTempDir(async (dir) => {
    const bad = `${dir}/bad.log`;
    const good = `${dir}/good.log`;
    await Deno.writeTextFile(`${bad}.20260101-000000`, "old rotated");
    await writeLog(bad, 150);
    await writeLog(good, 150);
    const before = await Deno.readTextFile(bad);
    const { calls, reopen } = fakeReopen({ bad, good }, ["bad"]);
    const logs: ContainerLog[] = [
      { containerId: "bad", logPath: bad },
      { containerId: "good", logPath: good },
    ];
    const result = await rotateLogs(logs, { maxSizeBytes: 100, maxFiles: 2 }, reopen, NOW);

    assert.deepEqual(calls, ["bad", "good"]);
    assert.deepEqual(result.rotated, [
      { containerId: "good", rotatedTo: `${good}.${STAMP}`, removed: [] },
    ]);
    assert.equal(result.errors.length, 1);
    const [failure] = result.errors;
    assert.equal(failure?.containerId, "bad");
    assert.match(failure?.error.message ?? "", /^Check the container runtime/);
    assert.match(failure?.error.message ?? "", new RegExp(`renamed back to "${bad}"`));
    assert.equal((failure?.error.cause as Error).message, `container "bad" is not running`);
    // The bad log is back in place, whole, and its old rotated file was not pruned.
    assert.equal(await Deno.readTextFile(bad), before);
    assert.deepEqual(await namesIn(dir), [
      "bad.log",
      "bad.log.20260101-000000",
      "good.log",
      `good.log.${STAMP}`,
    ]);
  });
});

Deno.test("a missing log file is skipped", async () => {
  await inTempDir(async (dir) => {
    const missing = `${dir}/missing.log`;
    const empty = "";
    const { calls, reopen } = fakeReopen({});
    const result = await rotateLogs(
      [{ containerId: "c1", logPath: missing }, { containerId: "c2", logPath: empty }],
      POLICY,
      reopen,
      NOW,
    );
    assert.deepEqual(result, { rotated: [], errors: [] });
    assert.deepEqual(calls, []);
    assert.deepEqual(await namesIn(dir), []);
  });
});

Deno.test("a log rotated earlier in the same second is left for the next pass", async () => {
  await inTempDir(async (dir) => {
    const log = `${dir}/0.log`;
    await Deno.writeTextFile(`${log}.${STAMP}`, "rotated a moment ago");
    await writeLog(log, 150);
    const { calls, reopen } = fakeReopen({ c1: log });
    const result = await rotateLogs([{ containerId: "c1", logPath: log }], POLICY, reopen, NOW);
    assert.deepEqual(result, { rotated: [], errors: [] });
    assert.deepEqual(calls, []);
    assert.equal(await Deno.readTextFile(`${log}.${STAMP}`), "rotated a moment ago");

    const later = new Date(NOW.getTime() + 1000);
    const next = await rotateLogs([{ containerId: "c1", logPath: log }], POLICY, reopen, later);
    assert.equal(next.rotated[0]?.rotatedTo, `${log}.20260304-050608`);
  });
});

Deno.test("a log path that is a directory is reported and the next container still rotates", async () => {
  await inTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/odd.log`);
    const log = `${dir}/0.log`;
    await writeLog(log, 150);
    const { calls, reopen } = fakeReopen({ c2: log });
    const result = await rotateLogs(
      [{ containerId: "c1", logPath: `${dir}/odd.log` }, { containerId: "c2", logPath: log }],
      POLICY,
      reopen,
      NOW,
    );
    assert.deepEqual(calls, ["c2"]);
    assert.equal(result.rotated[0]?.containerId, "c2");
    assert.equal(result.errors[0]?.containerId, "c1");
    assert.match(result.errors[0]?.error.message ?? "", /^Remove or replace ".*odd\.log"/);
  });
});

Deno.test("an invalid policy is refused before any file is touched", async () => {
  const { reopen } = fakeReopen({});
  await assert.rejects(
    rotateLogs([], { maxSizeBytes: 100, maxFiles: 1 }, reopen, NOW),
    {
      name: "RangeError",
      message: `Set maxFiles to 2 or more, the current file counting as one: got "1"`,
    },
  );
  await assert.rejects(
    rotateLogs([], { maxSizeBytes: 0, maxFiles: 5 }, reopen, NOW),
    { name: "RangeError", message: /^Set maxSizeBytes/ },
  );
  await assert.rejects(rotateLogs([], POLICY, reopen, new Date("nope")), RangeError);
});

// --- removeLogFiles ---

Deno.test("removeLogFiles removes current and rotated files and only those", async () => {
  await inTempDir(async (dir) => {
    const log = `${dir}/0.log`;
    await writeLog(log, 10);
    await Deno.writeTextFile(`${log}.20260101-000000`, "a");
    await Deno.writeTextFile(`${log}.20260101-000000.gz`, "b");
    await Deno.writeTextFile(`${dir}/1.log`, "other container");
    await Deno.writeTextFile(`${dir}/0.logs`, "no dot after the name");
    await removeLogFiles(log);
    assert.deepEqual(await namesIn(dir), ["0.logs", "1.log"]);
  });
});

Deno.test("removeLogFiles ignores a missing log, missing rotated files and a missing directory", async () => {
  await inTempDir(async (dir) => {
    const log = `${dir}/0.log`;
    await Deno.writeTextFile(`${log}.20260101-000000`, "a");
    await removeLogFiles(log);
    assert.deepEqual(await namesIn(dir), []);
    await removeLogFiles(log);
    await removeLogFiles(`${dir}/gone/0.log`);
    await removeLogFiles("");
  });
});

// --- parseLogSize ---

const sizes: { text: string; want: number }[] = [
  { text: "10Mi", want: 10485760 }, // 10 × 1024 × 1024
  { text: "10M", want: 10000000 }, // 10 × 1000 × 1000
  { text: "512Ki", want: 524288 }, // 512 × 1024
  { text: "1048576", want: 1048576 }, // bytes
  { text: "1Ki", want: 1024 }, // the smallest allowed
  { text: "1.5Ki", want: 1536 }, // a fraction of a Ki that is a whole byte count
];

for (const { text, want } of sizes) {
  Deno.test(`parseLogSize reads "${text}" as ${want} bytes`, () => {
    assert.equal(parseLogSize(text), want);
  });
}

const badSizes: { text: string; message: string }[] = [
  {
    text: "ten",
    message: `Give the log size as a byte count or a quantity such as "10Mi" or "10M": ` +
      `"ten" has no digits`,
  },
  {
    text: "-1",
    message: `Give the log size as a byte count or a quantity such as "10Mi" or "10M": ` +
      `"-1" is negative`,
  },
  { text: "0", message: `Give a log size of at least "1Ki" (1024 bytes): "0" is 0 bytes` },
  { text: "1023", message: `Give a log size of at least "1Ki" (1024 bytes): "1023" is 1023 bytes` },
  {
    text: "10 Mi",
    message: `Give the log size as a byte count or a quantity such as "10Mi" or "10M": ` +
      `"10 Mi" contains a space`,
  },
  {
    text: "2048.5",
    message: `Give the log size as a byte count or a quantity such as "10Mi" or "10M": ` +
      `"2048.5" is not a whole number of bytes`,
  },
  {
    text: "",
    message: `Give the log size as a byte count or a quantity such as "10Mi" or "10M": ` +
      `the value is empty`,
  },
];

for (const { text, message } of badSizes) {
  Deno.test(`parseLogSize refuses "${text}" with a clear message`, () => {
    assert.throws(() => parseLogSize(text), (error: unknown) => {
      assert.ok(error instanceof QuantityError, `not a QuantityError: ${error}`);
      assert.equal(error.message, message);
      return true;
    });
  });
}
