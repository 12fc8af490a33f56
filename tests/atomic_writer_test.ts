import { exists } from "../testing/in_container.ts";
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import {
  type FileProjection,
  type Payload,
  PayloadError,
  payloadPathError,
  writePayload,
} from "../lib/node/atomic_writer.ts";
import { waitFor } from "../testing/wait.ts";

// --- helpers ---

const encoder = new TextEncoder();

/** A file of `text` with `mode` (0644 unless given). */
function file(text: string, mode = 0o644): FileProjection {
  return { data: encoder.encode(text), mode };
}

/** A payload from path → text or file. */
function payloadOf(entries: Record<string, string | FileProjection>): Payload {
  return new Map(
    Object.entries(entries).map(([path, v]) => [path, typeof v === "string" ? file(v) : v]),
  );
}

/** Runs `fn` in a fresh temp dir, removed afterwards. */
async function inTempDir(fn: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "tinylet-atomic-writer-" });
  try {
    await fn(tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** The permission bits of `path` itself (links not followed). */
async function modeOf(path: string): Promise<number> {
  return (await Deno.lstat(path)).mode! & 0o7777;
}

/** The names in `dir`, sorted. */
async function namesIn(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

/** Every entry under `dir` as `path kind mode [link target | text]`, sorted: what "nothing changed" compares. */
async function tree(dir: string, rel = ""): Promise<string[]> {
  const lines: string[] = [];
  for (const name of await namesIn(join(dir, rel))) {
    const path = rel === "" ? name : `${rel}/${name}`;
    const info = await Deno.lstat(join(dir, path));
    const mode = (info.mode! & 0o7777).toString(8);
    if (info.isSymlink) {
      lines.push(`${path} link -> ${await Deno.readLink(join(dir, path))}`);
    } else if (info.isDirectory) {
      lines.push(`${path} dir ${mode}`, ...await tree(dir, path));
    } else {
      lines.push(`${path} file ${mode} ${await Deno.readTextFile(join(dir, path))}`);
    }
  }
  return lines;
}

/** The names in `dir` with the timestamped directory's name replaced by `<data>`. */
async function visibleLayout(dir: string): Promise<string[]> {
  const data = await Deno.readLink(join(dir, "..data"));
  return (await namesIn(dir)).map((name) => name === data ? "<data>" : name);
}

/** The timestamped directory's name pattern for 2026-03-04T05:06:07Z. */
const STAMPED = /^\.\.2026_03_04_05_06_07\.[^/]+$/;
const NOW = () => new Date(Date.UTC(2026, 2, 4, 5, 6, 7));

// --- payloadPathError ---

Deno.test("payloadPathError accepts relative paths inside the volume", () => {
  const good = [
    "a",
    "a/b/c",
    ".a",
    "a..b",
    "a/..b",
    "x".repeat(255),
    "é".repeat(127) + "a", // 255 bytes
  ];
  for (const path of good) assert.equal(payloadPathError(path), undefined, path);
});

Deno.test("payloadPathError says what is wrong with a path it refuses, naming it", () => {
  const cases: [string, string][] = [
    ["", "Name a file: a payload path is empty"],
    ["/etc/passwd", 'Make payload path "/etc/passwd" relative to the volume: it starts with "/"'],
    [
      "a/../b",
      'Remove the ".." component from payload path "a/../b": paths name files inside the volume',
    ],
    ["..", 'Remove the ".." component from payload path "..": paths name files inside the volume'],
    [
      "../a",
      'Remove the ".." component from payload path "../a": paths name files inside the volume',
    ],
    ["..a", `Rename payload path "..a": names starting with ".." are the volume's own (..data)`],
    [
      "..data/x",
      `Rename payload path "..data/x": names starting with ".." are the volume's own (..data)`,
    ],
    ["a//b", 'Remove the empty component from payload path "a//b"'],
    ["a/", 'Remove the empty component from payload path "a/"'],
    ["./a", 'Remove the "." component from payload path "./a": paths name files inside the volume'],
    [
      "x".repeat(256),
      `Shorten payload path "${"x".repeat(256)}": a component is 256 bytes, over the limit of 255`,
    ],
    [
      "d/" + "é".repeat(128),
      `Shorten payload path "d/${
        "é".repeat(128)
      }": a component is 256 bytes, over the limit of 255`,
    ],
    [
      "a/".repeat(2048) + "b",
      `Shorten payload path "${"a/".repeat(2048)}b": it is 4097 bytes, over the limit of 4096`,
    ],
    ["a\0b", 'Remove the NUL byte from payload path "a\\u0000b"'],
  ];
  for (const [path, message] of cases) assert.equal(payloadPathError(path), message, path);
});

// --- writing ---

Deno.test("a first write makes the files visible through ..data with their exact modes", async () => {
  await inTempDir(async (tmp) => {
    const dir = join(tmp, "vol");
    const payload = payloadOf({
      "app.conf": "hello\n",
      "secret.key": file("s3cr3t", 0o400),
      "run.sh": file("#!/bin/sh\n", 0o777),
      "a/b/c": "deep",
      "a/d": "shallow",
    });
    const umask = Deno.umask(0o077); // what chmod must undo
    let result;
    try {
      result = await writePayload(dir, payload, { now: NOW });
    } finally {
      Deno.umask(umask);
    }
    assert.deepEqual(result, { changed: true });

    assert.equal(await Deno.readTextFile(join(dir, "app.conf")), "hello\n");
    assert.equal(await Deno.readTextFile(join(dir, "secret.key")), "s3cr3t");
    assert.equal(await Deno.readTextFile(join(dir, "a/b/c")), "deep");
    assert.equal(await Deno.readTextFile(join(dir, "a/d")), "shallow");

    const data = await Deno.readLink(join(dir, "..data"));
    assert.match(data, STAMPED);
    assert.ok((await Deno.lstat(join(dir, data))).isDirectory);
    assert.equal(await Deno.readLink(join(dir, "app.conf")), "..data/app.conf");
    assert.equal(await Deno.readLink(join(dir, "a")), "..data/a");
    assert.deepEqual(await visibleLayout(dir), [
      "<data>",
      "..data",
      "a",
      "app.conf",
      "run.sh",
      "secret.key",
    ]);

    assert.equal(await modeOf(dir), 0o755);
    assert.equal(await modeOf(join(dir, data)), 0o755);
    assert.equal(await modeOf(join(dir, data, "a")), 0o755);
    assert.equal(await modeOf(join(dir, data, "a/b")), 0o755);
    assert.equal(await modeOf(join(dir, data, "app.conf")), 0o644);
    assert.equal(await modeOf(join(dir, data, "secret.key")), 0o400);
    assert.equal(await modeOf(join(dir, data, "run.sh")), 0o777);
    assert.equal(await modeOf(join(dir, data, "a/b/c")), 0o644);
  });
});

Deno.test("an identical payload writes nothing and keeps the ..data target", async () => {
  await inTempDir(async (dir) => {
    const entries = { "app.conf": "hello\n", "key": file("k", 0o400), "a/b/c": "deep" };
    await writePayload(dir, payloadOf(entries), { now: NOW });
    const before = await tree(dir);
    const target = await Deno.readLink(join(dir, "..data"));

    const result = await writePayload(dir, payloadOf(entries)); // new Map, new byte arrays
    assert.deepEqual(result, { changed: false });
    assert.equal(await Deno.readLink(join(dir, "..data")), target);
    assert.deepEqual(await tree(dir), before);
  });
});

Deno.test("an update switches ..data, removes the old directory and the keys it lost", async () => {
  await inTempDir(async (dir) => {
    await writePayload(dir, payloadOf({ keep: "1", gone: "1", "sub/x": "1", "old/y": "1" }));
    const oldTarget = await Deno.readLink(join(dir, "..data"));

    const result = await writePayload(
      dir,
      payloadOf({ keep: "2", added: "2", "sub/z": "2" }),
      { now: NOW },
    );
    assert.deepEqual(result, { changed: true });
    const newTarget = await Deno.readLink(join(dir, "..data"));
    assert.notEqual(newTarget, oldTarget);
    assert.match(newTarget, STAMPED);
    assert.equal(await exists(join(dir, oldTarget)), false);

    assert.equal(await Deno.readTextFile(join(dir, "keep")), "2");
    assert.equal(await Deno.readTextFile(join(dir, "added")), "2");
    assert.equal(await Deno.readTextFile(join(dir, "sub/z")), "2");
    assert.equal(await exists(join(dir, "gone")), false);
    assert.equal(await exists(join(dir, "old")), false);
    assert.equal(await exists(join(dir, "sub/x")), false);
    assert.deepEqual(await visibleLayout(dir), ["<data>", "..data", "added", "keep", "sub"]);
  });
});

Deno.test("a change of bytes alone, or of mode alone, is an update", async () => {
  await inTempDir(async (dir) => {
    await writePayload(dir, payloadOf({ key: file("same", 0o644) }));
    const bytes = await writePayload(dir, payloadOf({ key: file("SAME", 0o644) }));
    assert.deepEqual(bytes, { changed: true });
    assert.equal(await Deno.readTextFile(join(dir, "key")), "SAME");
    const mode = await writePayload(dir, payloadOf({ key: file("SAME", 0o600) }));
    assert.deepEqual(mode, { changed: true });
    assert.equal(await modeOf(join(dir, "..data", "key")), 0o600);
  });
});

Deno.test("an identical payload makes a removed visible link again", async () => {
  await inTempDir(async (dir) => {
    const entries = { "app.conf": "hello\n", "a/b": "x" };
    await writePayload(dir, payloadOf(entries));
    const target = await Deno.readLink(join(dir, "..data"));
    await Deno.remove(join(dir, "app.conf"));
    await Deno.remove(join(dir, "a"));

    assert.deepEqual(await writePayload(dir, payloadOf(entries)), { changed: false });
    assert.equal(await Deno.readLink(join(dir, "..data")), target);
    assert.equal(await Deno.readLink(join(dir, "app.conf")), "..data/app.conf");
    assert.equal(await Deno.readTextFile(join(dir, "a/b")), "x");
  });
});

Deno.test("an empty payload (an optional object that is missing) is an empty ..data", async () => {
  await inTempDir(async (dir) => {
    assert.deepEqual(await writePayload(dir, new Map(), { now: NOW }), { changed: true });
    const data = await Deno.readLink(join(dir, "..data"));
    assert.match(data, STAMPED);
    assert.deepEqual(await visibleLayout(dir), ["<data>", "..data"]);
    assert.deepEqual(await namesIn(join(dir, data)), []);
    assert.deepEqual(await writePayload(dir, new Map()), { changed: false });
    assert.equal(await Deno.readLink(join(dir, "..data")), data);
  });
});

Deno.test("going from files to an empty payload removes every file and link", async () => {
  await inTempDir(async (dir) => {
    await writePayload(dir, payloadOf({ "app.conf": "1", "sub/x": "1" }));
    const old = await Deno.readLink(join(dir, "..data"));
    assert.deepEqual(await writePayload(dir, new Map(), { now: NOW }), { changed: true });
    const data = await Deno.readLink(join(dir, "..data"));
    assert.notEqual(data, old);
    assert.match(data, STAMPED);
    assert.deepEqual(await visibleLayout(dir), ["<data>", "..data"]);
    assert.deepEqual(await namesIn(join(dir, data)), []);
  });
});

Deno.test("a mode-0400 file is kept when unchanged and replaced when its bytes change", async () => {
  await inTempDir(async (dir) => {
    await writePayload(dir, payloadOf({ "tls.key": file("key one", 0o400) }));
    const first = await Deno.readLink(join(dir, "..data"));
    const same = await writePayload(dir, payloadOf({ "tls.key": file("key one", 0o400) }));
    assert.deepEqual(same, { changed: false });
    assert.equal(await Deno.readLink(join(dir, "..data")), first);
    const next = await writePayload(dir, payloadOf({ "tls.key": file("key two", 0o400) }));
    assert.deepEqual(next, { changed: true });
    assert.notEqual(await Deno.readLink(join(dir, "..data")), first);
    assert.equal(await Deno.readTextFile(join(dir, "tls.key")), "key two");
    assert.equal(await modeOf(join(dir, "..data", "tls.key")), 0o400);
  });
});

/**
 * A script that writes `payload` (path → [text, mode]) to the directory in its first argument
 * with the module under test and prints `{ changed }` as JSON, first checking that it cannot
 * read the file named in its second argument (mode 0000), so a run that can read everything
 * fails instead of proving nothing.
 */
const UNPRIVILEGED_WRITE = `
import { writePayload } from ${
  JSON.stringify(new URL("../lib/node/atomic_writer.ts", import.meta.url).href)
};
const [dir, unreadable, json] = Deno.args;
try {
  await Deno.readFile(unreadable);
  throw new Error("the file is readable: the process can read files of mode 0000");
} catch (error) {
  if (!(error instanceof Deno.errors.PermissionDenied)) throw error;
}
const entries = Object.entries(JSON.parse(json));
const payload = new Map(entries.map(([p, [text, mode]]) => [p, { data: new TextEncoder().encode(text), mode }]));
console.log(JSON.stringify(await writePayload(dir, payload)));
`;

Deno.test("a file of the current version that cannot be read counts as changed", async () => {
  await inTempDir(async (tmp) => {
    const dir = join(tmp, "vol");
    const entries = { sealed: ["no one reads this", 0o000], open: ["hello", 0o644] };
    const payload = new Map(
      Object.entries(entries).map(([p, [text, mode]]) => [p, file(String(text), Number(mode))]),
    );
    await writePayload(dir, payload);
    const old = await Deno.readLink(join(dir, "..data"));
    const script = join(tmp, "write.ts");
    await Deno.writeTextFile(script, UNPRIVILEGED_WRITE);
    const args = [
      "run",
      "--allow-read",
      "--allow-write",
      script,
      dir,
      join(dir, old, "sealed"),
      JSON.stringify(entries),
    ];
    // root reads every file: drop the capabilities that let it, so mode 0000 means unreadable.
    const caps = "-dac_override,-dac_read_search";
    const command = Deno.uid() === 0
      ? new Deno.Command("setpriv", {
        args: [`--inh-caps=${caps}`, `--bounding-set=${caps}`, Deno.execPath(), ...args],
      })
      : new Deno.Command(Deno.execPath(), { args });
    const out = await command.output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), { changed: true });
    assert.notEqual(await Deno.readLink(join(dir, "..data")), old);
    assert.equal(await exists(join(dir, old)), false);
    assert.equal(await Deno.readTextFile(join(dir, "open")), "hello");
    assert.equal(await modeOf(join(dir, "..data", "sealed")), 0o000);
  });
});

Deno.test("concurrent writes to one directory run one after another; the last payload stays", async () => {
  await inTempDir(async (dir) => {
    await writePayload(dir, payloadOf({ first: "0", shared: "0" }));
    const rounds = [1, 2, 3, 4, 5];
    const bad = payloadOf({ "../out": "x" });
    const calls = rounds.map((n) => {
      // The same directory spelled two ways: one queue.
      const where = n % 2 === 0 ? join(dir, ".", "") + "/" : dir;
      return writePayload(where, payloadOf({ [`only-${n}`]: String(n), shared: String(n) }));
    });
    const failing = writePayload(dir, bad); // queued after round 5: fails alone
    const last = writePayload(dir, payloadOf({ "only-6": "6", shared: "6", "sub/x": "6" }));
    const results = await Promise.allSettled([...calls, failing, last]);
    assert.deepEqual(
      results.map((r) => r.status === "fulfilled" ? r.value : (r.reason as Error).name),
      [...rounds.map(() => ({ changed: true })), "PayloadError", { changed: true }],
    );
    assert.deepEqual(await visibleLayout(dir), ["<data>", "..data", "only-6", "shared", "sub"]);
    assert.equal(await Deno.readTextFile(join(dir, "shared")), "6");
    assert.equal(await Deno.readTextFile(join(dir, "sub/x")), "6");
  });
});

// --- refusals ---

Deno.test("a payload with a bad path is refused and nothing is written", async () => {
  await inTempDir(async (tmp) => {
    const fresh = join(tmp, "fresh");
    const bad = payloadOf({ ok: "1", "../escape": "1" });
    const error = await writePayload(fresh, bad).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof PayloadError);
    assert.equal(error.path, "../escape");
    assert.equal(
      error.message,
      'Remove the ".." component from payload path "../escape": paths name files inside the volume; nothing was written',
    );
    assert.equal(await exists(fresh), false);
    assert.equal(await exists(join(tmp, "escape")), false);

    const vol = join(tmp, "vol");
    await writePayload(vol, payloadOf({ ok: "1" }));
    const before = await tree(vol);
    for (const path of ["/abs", "..data", "a//b", ""]) {
      await assert.rejects(writePayload(vol, payloadOf({ ok: "2", [path]: "2" })), PayloadError);
    }
    assert.deepEqual(await tree(vol), before);
  });
});

Deno.test("a payload with a bad mode or a path that is a file and a directory is refused", async () => {
  await inTempDir(async (dir) => {
    await assert.rejects(
      writePayload(dir, payloadOf({ k: file("x", 0o1777) })),
      (e: unknown) =>
        e instanceof PayloadError &&
        e.message ===
          'Give payload file "k" a mode from 0o0 to 0o777: got 0o1777; nothing was written',
    );
    await assert.rejects(writePayload(dir, payloadOf({ k: file("x", -1) })), {
      message: 'Give payload file "k" a mode from 0o0 to 0o777: got -0o1; nothing was written',
    });
    await assert.rejects(writePayload(dir, payloadOf({ k: file("x", 1.5) })), PayloadError);
    await assert.rejects(
      writePayload(dir, payloadOf({ a: "x", "a/b": "y" })),
      (e: unknown) =>
        e instanceof PayloadError && e.path === "a/b" &&
        e.message ===
          'Rename payload path "a" or "a/b": "a" cannot be a file and a directory; nothing was written',
    );
    assert.deepEqual(await namesIn(dir), []);
  });
});

Deno.test("errors name the path and what was being done", async () => {
  await inTempDir(async (tmp) => {
    const plain = join(tmp, "plain");
    await Deno.writeTextFile(plain, "not a dir");
    await assert.rejects(writePayload(plain, payloadOf({ k: "1" })), {
      message: `Remove "${plain}" or choose another volume directory: it is not a directory`,
    });
    await assert.rejects(
      writePayload(join(plain, "vol"), payloadOf({ k: "1" })),
      (e: unknown) =>
        e instanceof Error && e.cause instanceof Error &&
        e.message.startsWith(`Cannot inspect the volume directory "${join(plain, "vol")}": `),
    );

    const taken = join(tmp, "taken");
    await Deno.mkdir(join(taken, "k"), { recursive: true });
    await Deno.writeTextFile(join(taken, "k", "mine"), "keep me");
    await Deno.chmod(join(taken, "k"), 0o755);
    await Deno.chmod(join(taken, "k", "mine"), 0o644);
    await assert.rejects(writePayload(taken, payloadOf({ k: "1" })), {
      message:
        `Remove "${taken}/k": the payload's "k" is to be a link to ..data/k, but a directory is there; nothing was written`,
    });
    assert.deepEqual(await tree(taken), ["k dir 755", "k/mine file 644 keep me"]);

    const dataDir = join(tmp, "data-dir");
    await Deno.mkdir(join(dataDir, "..data"), { recursive: true });
    await assert.rejects(writePayload(dataDir, payloadOf({ k: "1" })), {
      message: `Remove "${dataDir}/..data": it is the volume's data link, but not a symlink`,
    });
  });
});

Deno.test("a failed switch removes the directory it wrote and leaves the old version", async () => {
  await inTempDir(async (dir) => {
    await writePayload(dir, payloadOf({ k: "1" }));
    const before = await tree(dir);
    await Deno.mkdir(join(dir, "..data_tmp")); // not a link: the switch cannot use the name
    await assert.rejects(writePayload(dir, payloadOf({ k: "2" })), {
      message: `Remove "${dir}/..data_tmp": it is the writer's own name, not a link`,
    });
    await Deno.remove(join(dir, "..data_tmp"));
    assert.deepEqual(await tree(dir), before);
  });
});

// --- never outside the volume ---

Deno.test("links planted in the volume are removed as links, never followed out", async () => {
  await inTempDir(async (tmp) => {
    const outside = join(tmp, "outside");
    await Deno.mkdir(outside);
    await Deno.writeTextFile(join(outside, "precious"), "keep me");
    await Deno.chmod(join(outside, "precious"), 0o644);
    const dir = join(tmp, "vol");

    // A link inside the old data directory: the directory goes, what it points to stays.
    await writePayload(dir, payloadOf({ k: "1" }));
    const old = await Deno.readLink(join(dir, "..data"));
    await Deno.symlink(outside, join(dir, old, "escape"));
    // A visible name of the payload that points out, and a stray link that is not the writer's.
    await Deno.remove(join(dir, "k"));
    await Deno.symlink(outside, join(dir, "k"));
    await Deno.symlink(outside, join(dir, "stray"));
    await writePayload(dir, payloadOf({ k: "2" }));
    assert.equal(await exists(join(dir, old)), false);
    assert.equal(await Deno.readLink(join(dir, "k")), "..data/k");
    assert.equal(await Deno.readTextFile(join(dir, "k")), "2");
    assert.equal(await Deno.readLink(join(dir, "stray")), outside);

    // ..data pointing out of the volume: replaced, and what it pointed to is left alone.
    for (const target of [outside, "../outside"]) {
      await Deno.remove(join(dir, "..data"));
      await Deno.symlink(target, join(dir, "..data"));
      assert.deepEqual(await writePayload(dir, payloadOf({ k: "3" })), { changed: true });
      assert.match(await Deno.readLink(join(dir, "..data")), /^\.\.\d{4}_/);
    }
    assert.deepEqual(await tree(outside), ["precious file 644 keep me"]);
  });
});

// --- atomicity ---

/** Bytes added to each file so that writing one takes a while. */
const PAD = "x".repeat(64 * 1024);
/** The keys of round `n`: two shapes, alternating. */
function keysOf(n: number): string[] {
  return n % 2 === 0 ? ["one", "two", "three", "sub/four"] : ["one", "two", "three", "only-odd"];
}
/** What file `key` holds in round `n`. */
function textOf(n: number, key: string): string {
  return `round ${n} ${key}\n${PAD}`;
}
/** The payload of round `n`: a `version` file and the round's keys, each naming the round. */
function roundPayload(n: number): Payload {
  const entries: Record<string, string> = { version: String(n) };
  for (const key of keysOf(n)) entries[key] = textOf(n, key);
  return payloadOf(entries);
}

/** What a reader saw while a writer went through the rounds. */
interface ReadLog {
  reads: number;
  retries: number;
  rounds: Set<number>;
  /** The reads that saw a volume half written. */
  torn: string[];
}

/**
 * One read of the whole volume as a program would do it: `..data` resolved once, then every file
 * read from that directory. A read is retried (counted, not judged) when a file vanished because
 * `..data` moved on and its directory was removed; a file missing from the directory `..data`
 * still points to, or a file of another round, is a torn read.
 */
async function readOnce(dir: string, log: ReadLog): Promise<void> {
  const real = await Deno.realPath(join(dir, "..data"));
  const read = async (key: string): Promise<string | undefined> => {
    try {
      return await Deno.readTextFile(join(real, key));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      const now = await Deno.realPath(join(dir, "..data")).catch(() => "");
      if (now !== real) return undefined; // the directory was switched away from and removed
      log.torn.push(`"${key}" is missing from the current "${real}"`);
      return undefined;
    }
  };
  const version = await read("version");
  if (version === undefined) return void log.retries++;
  const n = Number(version);
  for (const key of keysOf(n)) {
    const text = await read(key);
    if (text === undefined) return void log.retries++;
    if (text !== textOf(n, key)) {
      log.torn.push(`round ${n}: "${key}" holds "${text.split("\n")[0]}"`);
      return;
    }
  }
  log.reads++;
  log.rounds.add(n);
}

/**
 * Writes rounds 2 to 61 with `write` while a reader reads the volume in a loop, each round
 * waiting for one complete read of the one before, and returns what the reader saw.
 */
async function readWhileWriting(
  dir: string,
  write: (dir: string, payload: Payload) => Promise<unknown>,
): Promise<ReadLog> {
  const log: ReadLog = { reads: 0, retries: 0, rounds: new Set(), torn: [] };
  await write(dir, roundPayload(1));
  let writing = true;
  const reader = (async () => {
    while (writing) await readOnce(dir, log);
  })();
  try {
    for (let n = 2; n <= 61; n++) {
      const readsBefore = log.reads;
      await waitFor(`a complete read before round ${n}`, () => log.reads > readsBefore, {
        everyMs: 1,
      });
      await write(dir, roundPayload(n));
    }
  } finally {
    writing = false;
    await reader;
  }
  return log;
}

Deno.test("a reader never sees a half-written volume while it is updated 60 times", async () => {
  await inTempDir(async (dir) => {
    const log = await readWhileWriting(dir, writePayload);
    assert.deepEqual(log.torn, []);
    assert.ok(log.reads >= 60, `only ${log.reads} complete reads`);
    assert.ok(log.rounds.size >= 30, `the reader saw only rounds ${[...log.rounds]}`);
    assert.deepEqual(await visibleLayout(dir), [
      "<data>",
      "..data",
      "one",
      "only-odd",
      "three",
      "two",
      "version",
    ]);
    assert.equal(await Deno.readTextFile(join(dir, "version")), "61");
  });
});

/**
 * The negative control of the reader above: a writer that is not atomic, rewriting the files in
 * place, one after another, in a `..data` directory that never moves.
 */
async function writeInPlace(dir: string, payload: Payload): Promise<void> {
  const data = join(dir, "..data");
  await Deno.mkdir(data, { recursive: true });
  const names = new Set([...payload.keys()].map((path) => path.split("/")[0]));
  for (const name of await namesIn(data)) {
    if (!names.has(name)) await Deno.remove(join(data, name), { recursive: true });
  }
  for (const [path, { data: bytes }] of payload) {
    await Deno.mkdir(dirname(join(data, path)), { recursive: true });
    await Deno.writeFile(join(data, path), bytes);
  }
}

Deno.test("the reader does see torn reads when the writer updates files in place", async () => {
  await inTempDir(async (dir) => {
    const log = await readWhileWriting(dir, writeInPlace);
    assert.ok(log.torn.length > 0, `no torn read in ${log.reads} complete reads`);
  });
});
