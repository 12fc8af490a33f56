import assert from "node:assert/strict";
import { join } from "node:path";
import { formatLogLine, type LogLine, parseCriLog } from "../lib/node/container_log_format.ts";
import { readCriLog } from "../lib/node/container_log.ts";
import { followCriLog } from "../lib/node/container_log_follow.ts";
import { waitFor } from "../testing/wait.ts";

const T1 = "2026-03-04T05:06:07.000000001Z";
const T2 = "2026-03-04T05:06:07.000000002Z";
const T3 = "2026-03-04T05:06:07.000000003Z";
const T4 = "2026-03-04T05:06:07.000000004Z";

// --- helpers ---

/** Runs `fn` in a fresh temp dir and removes it afterwards. */
async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-cri-log-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function stdout(time: string, text: string): LogLine {
  return { time, stream: "stdout", text };
}

function stderr(time: string, text: string): LogLine {
  return { time, stream: "stderr", text };
}

async function append(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text, { append: true });
}

/** A full stdout record of `text` at T1, with its newline. */
function full(text: string): string {
  return `${T1} stdout F ${text}\n`;
}

/**
 * Follows `path` and waits until the follower is surely reading it: it starts at
 * the end of the file at some point after the call, so lines are appended until
 * it sees one, then one more ("synced") so every earlier one is read. `lines`
 * starts empty after that.
 */
async function follow(path: string): Promise<{ lines: LogLine[]; stop: () => Promise<void> }> {
  const lines: LogLine[] = [];
  const controller = new AbortController();
  const done = followCriLog(path, (line) => lines.push(line), controller.signal);
  const stop = async () => {
    controller.abort();
    await done;
  };
  try {
    await waitFor("the follower to see an appended line", async () => {
      await append(path, full("ready"));
      return lines.length > 0;
    });
    await append(path, full("synced"));
    await waitFor('the follower to see "synced"', () => lines.at(-1)?.text === "synced");
  } catch (error) {
    await stop();
    throw error;
  }
  lines.length = 0;
  return { lines, stop };
}

/** Waits until `lines` has `count` lines and returns their texts. */
async function texts(lines: LogLine[], count: number): Promise<string[]> {
  await waitFor(() => `${count} lines, got ${JSON.stringify(lines)}`, () => lines.length >= count);
  return lines.map((line) => line.text);
}

// --- parseCriLog ---

Deno.test("parseCriLog returns one line per full record with its time and stream", () => {
  const text = `${T1} stdout F hello\n${T2} stderr F oops\n${T3} stdout F bye\n`;
  assert.deepEqual(parseCriLog(text), {
    lines: [stdout(T1, "hello"), stderr(T2, "oops"), stdout(T3, "bye")],
    rest: "",
  });
});

Deno.test("parseCriLog joins partial records with the next records of the stream up to the full one", () => {
  const text = `${T1} stdout P hel\n${T2} stdout P lo, \n${T3} stdout F world\n`;
  assert.deepEqual(parseCriLog(text).lines, [stdout(T1, "hello, world")]);
});

Deno.test("parseCriLog emits a full stderr line on its own while a stdout line is partial", () => {
  const text = [
    `${T1} stdout P start `,
    `${T2} stderr F warning`,
    `${T3} stdout P middle `,
    `${T4} stdout F end`,
    "",
  ].join("\n");
  assert.deepEqual(parseCriLog(text).lines, [
    stderr(T2, "warning"),
    stdout(T1, "start middle end"),
  ]);
});

Deno.test("parseCriLog reads an empty full record as an empty line", () => {
  const text = `${T1} stdout F \n${T2} stderr F\n${T3} stdout F after\n`;
  assert.deepEqual(parseCriLog(text).lines, [
    stdout(T1, ""),
    stderr(T2, ""),
    stdout(T3, "after"),
  ]);
});

Deno.test("parseCriLog keeps spaces, tabs and carriage returns in the text exactly", () => {
  const text = `${T1} stdout F   two leading\ttab  double\t \n${T2} stdout F a\rb\r\n`;
  assert.deepEqual(parseCriLog(text).lines, [
    stdout(T1, "  two leading\ttab  double\t "),
    stdout(T2, "a\rb\r"),
  ]);
});

Deno.test("parseCriLog accepts more tags after the P or F tag and times with an offset", () => {
  const text = `2026-03-04T07:06:07+02:00 stdout P:x a\n${T2} stdout F:y:z b\n`;
  assert.deepEqual(parseCriLog(text).lines, [stdout("2026-03-04T07:06:07+02:00", "ab")]);
});

Deno.test("parseCriLog keeps a malformed record as a stdout line of its raw text", () => {
  const text = [
    `${T1} stdout P part `,
    "plain text without a header",
    `yesterday stdout F bad time`,
    `${T2} stdin F bad stream`,
    `${T2} stderr X bad tag`,
    `${T2} stderr`,
    "",
    `${T3} stdout F one`,
    "",
  ].join("\n");
  assert.deepEqual(parseCriLog(text).lines, [
    stdout("", "plain text without a header"),
    stdout("", "yesterday stdout F bad time"),
    stdout("", `${T2} stdin F bad stream`),
    stdout("", `${T2} stderr X bad tag`),
    stdout("", `${T2} stderr`),
    stdout("", ""),
    stdout(T1, "part one"),
  ]);
});

Deno.test("parseCriLog holds back a trailing partial line and an unterminated record unless final", () => {
  const text = [
    `${T1} stdout P held `,
    `${T2} stderr F done`,
    `${T3} stdout P still held `,
    `${T4} stderr F not yet ended`,
  ].join("\n");
  assert.deepEqual(parseCriLog(text), {
    lines: [stderr(T2, "done")],
    rest: `${T1} stdout P held \n${T3} stdout P still held \n${T4} stderr F not yet ended`,
  });
  assert.deepEqual(parseCriLog(text, true), {
    lines: [
      stderr(T2, "done"),
      stderr(T4, "not yet ended"),
      stdout(T1, "held still held "),
    ],
    rest: "",
  });
});

Deno.test("parseCriLog gives the same lines when the rest is prepended to the next chunk", () => {
  const first = `${T1} stdout P a\n${T2} stderr F x\n${T3} stdout P b\n${T4} std`;
  const second = `out F c\n${T4} stderr F y\n`;
  const one = parseCriLog(first);
  assert.deepEqual(one.lines, [stderr(T2, "x")]);
  const two = parseCriLog(one.rest + second);
  assert.deepEqual(two, { lines: [stdout(T1, "abc"), stderr(T4, "y")], rest: "" });
});

Deno.test("parseCriLog returns nothing for empty text", () => {
  assert.deepEqual(parseCriLog(""), { lines: [], rest: "" });
  assert.deepEqual(parseCriLog("", true), { lines: [], rest: "" });
});

// --- formatLogLine ---

Deno.test("formatLogLine prints the text, or the time as written and the text with timestamps", () => {
  const line = stdout("2026-03-04T05:06:07.5+02:00", "  hi\there");
  assert.equal(formatLogLine(line, false), "  hi\there");
  assert.equal(formatLogLine(line, true), "2026-03-04T05:06:07.5+02:00   hi\there");
});

Deno.test("formatLogLine prints a malformed line as its text alone even with timestamps", () => {
  assert.equal(formatLogLine(stdout("", "raw text"), true), "raw text");
});

// --- readCriLog ---

Deno.test("readCriLog gives no lines for a missing file", async () => {
  await inTempDir(async (dir) => {
    assert.deepEqual(await readCriLog(join(dir, "0.log")), []);
    assert.deepEqual(await readCriLog(join(dir, "0.log"), { tail: 3, includeRotated: true }), []);
    assert.deepEqual(await readCriLog(join(dir, "missing", "0.log"), { includeRotated: true }), []);
  });
});

Deno.test("readCriLog reads every line and returns a partial line at the end", async () => {
  await inTempDir(async (dir) => {
    const path = join(dir, "0.log");
    await Deno.writeTextFile(path, `${T1} stdout F one\n${T2} stderr F two\n${T3} stdout P thr`);
    assert.deepEqual(await readCriLog(path), [
      stdout(T1, "one"),
      stderr(T2, "two"),
      stdout(T3, "thr"),
    ]);
  });
});

Deno.test("readCriLog tail counts joined lines, not records", async () => {
  await inTempDir(async (dir) => {
    const path = join(dir, "0.log");
    await Deno.writeTextFile(
      path,
      [
        `${T1} stdout F first`,
        `${T1} stdout P sec`,
        `${T2} stdout P o`,
        `${T2} stdout F nd`,
        `${T3} stderr P thi`,
        `${T4} stderr F rd`,
        "",
      ].join("\n"),
    );
    assert.deepEqual(await readCriLog(path, { tail: 2 }), [
      stdout(T1, "second"),
      stderr(T3, "third"),
    ]);
    assert.deepEqual(await readCriLog(path, { tail: 1 }), [stderr(T3, "third")]);
    assert.deepEqual(await readCriLog(path, { tail: 0 }), []);
    assert.deepEqual(await readCriLog(path, { tail: 10 }), [
      stdout(T1, "first"),
      stdout(T1, "second"),
      stderr(T3, "third"),
    ]);
  });
});

Deno.test("readCriLog tail of a big file reads lines that cross its chunks whole", async () => {
  await inTempDir(async (dir) => {
    const path = join(dir, "0.log");
    // 4000 lines "line 0000" … "line 3999", each in two records: 4000 × 88 bytes ≈ 344 KiB.
    let text = "";
    for (let i = 0; i < 4000; i++) {
      const n = String(i).padStart(4, "0");
      text += `${T1} stdout P line \n${T2} stdout F ${n}\n`;
    }
    await Deno.writeTextFile(path, text);
    const last3 = await readCriLog(path, { tail: 3 });
    assert.deepEqual(last3, [
      stdout(T1, "line 3997"),
      stdout(T1, "line 3998"),
      stdout(T1, "line 3999"),
    ]);
    // 1500 lines take 132000 bytes: more than the first 64 KiB chunk.
    const last1500 = await readCriLog(path, { tail: 1500 });
    assert.equal(last1500.length, 1500);
    assert.deepEqual(last1500[0], stdout(T1, "line 2500"));
    assert.deepEqual(last1500.at(-1), stdout(T1, "line 3999"));
    assert.deepEqual(await readCriLog(path, { tail: 5000 }).then((l) => l.length), 4000);
  });
});

Deno.test("readCriLog tail finds the start of a partial line far before the end", async () => {
  await inTempDir(async (dir) => {
    const path = join(dir, "0.log");
    // The stdout line starts before 3000 stderr lines (about 120 KiB) and ends last.
    const text = `${T1} stdout F before\n${T1} stdout P start \n` +
      `${T2} stderr F noise\n`.repeat(3000) + `${T3} stdout F end\n`;
    await Deno.writeTextFile(path, text);
    assert.deepEqual(await readCriLog(path, { tail: 2 }), [
      stderr(T2, "noise"),
      stdout(T1, "start end"),
    ]);
  });
});

Deno.test("readCriLog refuses a tail that is not a whole number of 0 or more", async () => {
  for (const tail of [-1, 1.5, Number.NaN]) {
    await assert.rejects(readCriLog("/nonexistent/0.log", { tail }), RangeError);
  }
});

Deno.test("readCriLog reads the rotated files first, oldest first, with includeRotated", async () => {
  await inTempDir(async (dir) => {
    const path = join(dir, "0.log");
    // Written out of order: the names, not the creation order, give the age.
    await Deno.writeTextFile(`${path}.20260304-050607`, `${T2} stdout F second\n`);
    await Deno.writeTextFile(`${path}.20260303-120000`, `${T1} stdout F first\n`);
    // A line split by the rotation, and a file that is not a rotated log.
    await Deno.writeTextFile(`${path}.20260304-060000`, `${T3} stdout P thi`);
    await Deno.writeTextFile(`${path}.tmp`, `${T1} stdout F not a log\n`);
    await Deno.writeTextFile(join(dir, "1.log.20260304-050607"), `${T1} stdout F other\n`);
    await Deno.writeTextFile(path, `${T4} stdout F rd\n${T4} stderr F last\n`);

    assert.deepEqual(await readCriLog(path), [stdout(T4, "rd"), stderr(T4, "last")]);
    const all = [
      stdout(T1, "first"),
      stdout(T2, "second"),
      stdout(T3, "third"),
      stderr(T4, "last"),
    ];
    assert.deepEqual(await readCriLog(path, { includeRotated: true }), all);
    assert.deepEqual(await readCriLog(path, { includeRotated: true, tail: 3 }), all.slice(1));
    assert.deepEqual(await readCriLog(path, { includeRotated: true, tail: 9 }), all);
  });
});

Deno.test("readCriLog does not join a rotated file cut short mid-record with the next", async () => {
  await inTempDir(async (dir) => {
    const path = join(dir, "0.log");
    await Deno.writeTextFile(`${path}.20260304-050607`, `${T1} stdout F cut sho`);
    await Deno.writeTextFile(path, `${T2} stdout F next\n`);
    const expected = [stdout(T1, "cut sho"), stdout(T2, "next")];
    assert.deepEqual(await readCriLog(path, { includeRotated: true }), expected);
    assert.deepEqual(await readCriLog(path, { includeRotated: true, tail: 2 }), expected);
  });
});

Deno.test("readCriLog reads the rotated files when the log itself is missing", async () => {
  await inTempDir(async (dir) => {
    const path = join(dir, "0.log");
    await Deno.writeTextFile(`${path}.20260304-050607`, `${T1} stdout F old\n`);
    assert.deepEqual(await readCriLog(path), []);
    assert.deepEqual(await readCriLog(path, { includeRotated: true, tail: 1 }), [
      stdout(T1, "old"),
    ]);
  });
});

// --- followCriLog ---

Deno.test("followCriLog sees appended lines and not the ones already there", async () => {
  await inTempDir(async (dir) => {
    const path = join(dir, "0.log");
    await Deno.writeTextFile(path, full("already there"));
    const { lines, stop } = await follow(path);
    try {
      await append(path, `${T2} stdout P hel`);
      await append(path, `lo\n${T3} stderr F err\n${T4} stdout F  world\n`);
      await waitFor("two lines", () => lines.length >= 2);
      assert.deepEqual(lines, [stderr(T3, "err"), stdout(T2, "hello world")]);
    } finally {
      await stop();
    }
  });
});

Deno.test("followCriLog finishes the old file and reads the new one after a rotation", async () => {
  await inTempDir(async (dir) => {
    const path = join(dir, "0.log");
    await Deno.writeTextFile(path, "");
    const { lines, stop } = await follow(path);
    try {
      await append(path, full("before"));
      assert.deepEqual(await texts(lines, 1), ["before"]);
      const rotated = `${path}.20260304-050607`;
      await Deno.rename(path, rotated);
      // The runtime may still write to the old file until it reopens the log.
      await append(rotated, `${full("late")}${T2} stdout P split `);
      await Deno.writeTextFile(path, `${T3} stdout F line\n`);
      await append(path, full("after"));
      assert.deepEqual(await texts(lines, 4), ["before", "late", "split line", "after"]);
      // And again, with the new file: it is followed too.
      await Deno.rename(path, `${path}.20260304-050608`);
      await Deno.writeTextFile(path, full("third file"));
      assert.deepEqual((await texts(lines, 5)).at(-1), "third file");
    } finally {
      await stop();
    }
  });
});

Deno.test("followCriLog reads a log truncated in place again from its start", async () => {
  await inTempDir(async (dir) => {
    const path = join(dir, "0.log");
    await Deno.writeTextFile(path, "");
    const { lines, stop } = await follow(path);
    try {
      await Deno.truncate(path, 0);
      await append(path, `${T2} stdout F x\n`); // shorter than what was read before
      assert.deepEqual(await texts(lines, 1), ["x"]);
    } finally {
      await stop();
    }
  });
});

Deno.test("followCriLog stops when the signal aborts and leaves nothing open", async () => {
  await inTempDir(async (dir) => {
    const path = join(dir, "0.log");
    await Deno.writeTextFile(path, "");
    const { lines, stop } = await follow(path);
    await stop(); // resolves; the test sanitizers check the file and timer are gone
    await append(path, full("after the end"));
    assert.deepEqual(lines, []);
  });
});

Deno.test("followCriLog returns at once for a signal already aborted", async () => {
  const seen: LogLine[] = [];
  await followCriLog("/nonexistent/0.log", (line) => seen.push(line), AbortSignal.abort());
  assert.deepEqual(seen, []);
});

Deno.test("followCriLog rethrows an error from onLine and closes the file", async () => {
  await inTempDir(async (dir) => {
    const path = join(dir, "0.log");
    await Deno.writeTextFile(path, "");
    const controller = new AbortController();
    let failure: unknown;
    const done = followCriLog(path, () => {
      throw new Error("onLine failed");
    }, controller.signal).catch((error) => {
      failure = error;
    });
    try {
      await waitFor("followCriLog to fail", async () => {
        await append(path, full("boom"));
        return failure !== undefined;
      });
    } finally {
      controller.abort();
      await done;
    }
    assert.ok(failure instanceof Error);
    assert.equal(failure.message, "onLine failed");
  });
});
