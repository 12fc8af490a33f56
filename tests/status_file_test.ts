/**
 * The status file's mode and its atomic write: directly, and as the agent (`main.ts` in a child
 * process, on the fake runtime served over gRPC) writes it.
 */
import assert from "node:assert/strict";
import {
  readStatusFile,
  type StatusFile,
  StatusFileError,
  statusFilePath,
  statusTempPath,
  writeStatusFile,
} from "../lib/agent/status_file.ts";
import { startAgent } from "../testing/agent_process.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { serveCri } from "../testing/fake_cri_server.ts";
import { waitFor } from "../testing/wait.ts";

function status(note: string): StatusFile {
  return {
    version: 1,
    agent: {
      pid: 1,
      instance: "default",
      socket: "/run/containerd/containerd.sock",
      manifests: "/etc/tinylet/manifests",
      updatedAt: new Date(0).toISOString(),
      stoppedAt: null,
      runtime: "unreachable",
      runtimeError: note,
    },
    pods: [],
    events: {},
  };
}

const modeOf = async (path: string) => (await Deno.lstat(path)).mode! & 0o7777;

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("writeStatusFile creates the status file with mode 0600 and no temp file left", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = statusFilePath(`${dir}/root`);
    await writeStatusFile(file, status("first"));
    assert.equal((await modeOf(file)).toString(8), "600");
    assert.equal((await readStatusFile(file))?.agent.runtimeError, "first");
    assert.deepEqual(await names(`${dir}/root`), ["status.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeStatusFile makes a 0644 status file of an older agent 0600 on the next write", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = statusFilePath(dir);
    await Deno.writeTextFile(file, JSON.stringify(status("old")));
    await Deno.chmod(file, 0o644);
    // An older agent's temp file, left by a crash, readable by all.
    await Deno.writeTextFile(`${file}.tmp`, "probe output");
    await Deno.chmod(`${file}.tmp`, 0o644);
    await writeStatusFile(file, status("new"));
    assert.equal((await modeOf(file)).toString(8), "600");
    assert.equal((await readStatusFile(file))?.agent.runtimeError, "new");
    assert.deepEqual(await names(dir), ["status.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeStatusFile never writes through a symlink planted at the temp file name", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = statusFilePath(`${dir}/root`);
    await Deno.mkdir(`${dir}/root`);
    await Deno.writeTextFile(`${dir}/victim`, "untouched\n");
    await Deno.chmod(`${dir}/victim`, 0o644);
    await Deno.symlink(`${dir}/victim`, statusTempPath(file));
    await writeStatusFile(file, status("x"));
    assert.equal(await Deno.readTextFile(`${dir}/victim`), "untouched\n");
    assert.equal((await modeOf(`${dir}/victim`)).toString(8), "644");
    assert.ok((await Deno.lstat(file)).isFile);
    assert.equal((await modeOf(file)).toString(8), "600");
    assert.deepEqual(await names(`${dir}/root`), ["status.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeStatusFile: concurrent writes all land whole, and one of them wins", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = statusFilePath(dir);
    const notes = Array.from({ length: 20 }, (_, i) => `write ${i}`);
    await Promise.all(notes.map((n) => writeStatusFile(file, status(n))));
    const got = await readStatusFile(file);
    assert.ok(got && notes.includes(got.agent.runtimeError!), `got ${got?.agent.runtimeError}`);
    assert.equal((await modeOf(file)).toString(8), "600");
    assert.deepEqual(await names(dir), ["status.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the agent writes status.json 0600 under a 022 umask, over an older agent's 0644 one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-status-" });
  const fake = new FakeCri();
  await using server = await serveCri(fake, `${dir}/cri.sock`);
  await Deno.mkdir(`${dir}/m`);
  await Deno.mkdir(`${dir}/root`);
  const file = statusFilePath(`${dir}/root`);
  await Deno.writeTextFile(file, JSON.stringify(status("an older agent's")));
  await Deno.chmod(file, 0o644);
  const previous = Deno.umask(0o022);
  let agent;
  try {
    agent = startAgent([
      "--socket",
      server.socketPath,
      "--manifests",
      `${dir}/m`,
      "--root",
      `${dir}/root`,
      "--pod-log-root",
      `${dir}/logs`,
    ]);
  } finally {
    Deno.umask(previous);
  }
  try {
    const written = await waitFor("the agent's status file", async () => {
      const s = await readStatusFile(file);
      return s?.agent.pid !== 1 && s;
    });
    assert.equal(written.agent.runtime, "reachable");
    assert.equal((await modeOf(file)).toString(8), "600");
    assert.equal(await agent.stop("SIGTERM"), 0);
    const stopped = await readStatusFile(file);
    assert.ok(stopped?.agent.stoppedAt, "stoppedAt is written");
    assert.equal((await modeOf(file)).toString(8), "600");
    assert.deepEqual(await names(`${dir}/root`), ["status.json"]);
  } finally {
    await agent[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeStatusFile: writes land in the order they were called, the last one last", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = statusFilePath(dir);
    for (let round = 0; round < 5; round++) {
      const notes = Array.from({ length: 20 }, (_, i) => `round ${round} write ${i}`);
      // Each write checks, as it lands, that the one called before it has landed already.
      let landed = -1;
      await Promise.all(notes.map(async (n, i) => {
        await writeStatusFile(file, status(n));
        assert.equal(landed, i - 1, `write ${i} landed after write ${landed}`);
        landed = i;
      }));
      assert.equal((await readStatusFile(file))?.agent.runtimeError, notes.at(-1));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeStatusFile: a failed write does not stop the next one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = statusFilePath(`${dir}/root`);
    await Deno.writeTextFile(`${dir}/root`, "a file where the directory should be");
    const failed = writeStatusFile(file, status("first"));
    const next = writeStatusFile(file, status("second"));
    await assert.rejects(failed);
    await assert.rejects(next);
    await Deno.remove(`${dir}/root`);
    await writeStatusFile(file, status("third"));
    assert.equal((await readStatusFile(file))?.agent.runtimeError, "third");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a writer killed mid-write leaves at most the one 0600 temp file, which the next write replaces", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-status-" });
  try {
    const file = statusFilePath(dir);
    // A child writes a large status file (probe output in the events) again and again, until
    // it is killed while a temp file is there: as an agent killed, or exiting, mid-write.
    const module = new URL("../lib/agent/status_file.ts", import.meta.url).href;
    const big = status("x".repeat(4 << 20));
    await Deno.writeTextFile(`${dir}/big.json`, JSON.stringify(big));
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--no-check",
        `import { writeStatusFile } from "${module}";
const big = JSON.parse(await Deno.readTextFile("${dir}/big.json"));
for (;;) await writeStatusFile("${file}", big);`,
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const temps = async () => (await names(dir)).filter((n) => n.endsWith(".tmp"));
    try {
      await waitFor("a temp file being written", async () => (await temps()).length > 0, {
        timeoutMs: 20_000,
      });
    } finally {
      child.kill("SIGKILL");
      await child.output();
    }
    await Deno.remove(`${dir}/big.json`);
    for (const t of await temps()) {
      assert.equal(`${dir}/${t}`, statusTempPath(file), `a temp file of another name: ${t}`);
      assert.equal((await modeOf(`${dir}/${t}`)).toString(8), "600");
    }
    await writeStatusFile(file, status("after the kill"));
    assert.deepEqual(await names(dir), ["status.json"]);
    assert.equal((await readStatusFile(file))?.agent.runtimeError, "after the kill");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readStatusFile: undefined only when there is no file; otherwise it says what is wrong", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = statusFilePath(dir);
    assert.equal(await readStatusFile(file), undefined);
    const fails = async (pattern: RegExp) => {
      const err = await readStatusFile(file).then(() => undefined, (e) => e);
      assert.ok(err instanceof StatusFileError, `got ${err}`);
      assert.match(err.message, pattern);
      assert.equal(err.file, file);
    };
    await Deno.mkdir(file);
    await fails(/^Cannot read the status file ".*\/status\.json": is a directory$/);
    await Deno.remove(file);
    await Deno.writeTextFile(file, "{not json");
    await fails(/^Cannot read the status file ".*": it is not JSON \(.+\)$/);
    await Deno.writeTextFile(file, JSON.stringify({ ...status("x"), version: 2 }));
    await fails(/: its version is 2, not 1 \(written by another version of tinylet\?\)$/);
    await Deno.writeTextFile(file, "null");
    await fails(/: its version is missing, not 1/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
