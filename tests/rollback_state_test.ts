/**
 * The rollback state store: a state written reads back, whole; writes go through one temp file
 * and leave none; a temp file a crash left changes nothing; modes; a bad file reads as no state
 * with a warning; bad keys are refused; the keys are listed.
 */
import assert from "node:assert/strict";
import {
  rollbackFileName,
  type RollbackState,
  RollbackStateError,
  rollbackStateProblem,
  RollbackStore,
  rollbackTempPath,
} from "../lib/node/rollback_state.ts";
import { UnsafePathError } from "../lib/node/paths.ts";

const POD_V1 = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "web", namespace: "default" },
  spec: { containers: [{ name: "app", image: "busybox:1.36" }] },
};

const FULL: RollbackState = {
  lastGood: { hash: "aaa111", pod: POD_V1, since: "2026-11-29T14:00:00.000Z" },
  rolledBack: {
    hash: "bbb222",
    cause: 'container "app" exited with code 1 (Error)',
    at: "2026-11-29T14:05:00.000Z",
    from: "bbb222",
  },
  watching: { hash: "ccc333", startedAt: 1_796_000_000_000, windowMs: 60_000 },
};

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "tinylet-rollback-" });
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

const modeOf = async (path: string) => (await Deno.lstat(path)).mode! & 0o7777;

Deno.test("a written state reads back whole, and the file names the pod", async () => {
  await withRoot(async (root) => {
    const store = new RollbackStore(root);
    await store.write("default/web", FULL);
    assert.deepEqual(await store.read("default/web"), FULL);
    assert.deepEqual(await store.load("default/web"), { state: FULL });
    const file = `${root}/rollback/default_web.json`;
    assert.equal(store.path("default/web"), file);
    const onDisk = JSON.parse(await Deno.readTextFile(file));
    assert.deepEqual(onDisk, { version: 1, key: "default/web", ...FULL });
  });
});

Deno.test("each part of the state is optional, and a new write replaces the old", async () => {
  await withRoot(async (root) => {
    const store = new RollbackStore(root);
    await store.write("default/web", FULL);
    const watching: RollbackState = {
      watching: { hash: "ddd444", startedAt: 5, windowMs: 1 },
    };
    await store.write("default/web", watching);
    assert.deepEqual(await store.read("default/web"), watching);
    await store.write("default/web", {});
    assert.deepEqual(await store.read("default/web"), {});
  });
});

Deno.test("fields the state does not know are not written", async () => {
  await withRoot(async (root) => {
    const store = new RollbackStore(root);
    const extra = {
      lastGood: { hash: "aaa111", pod: POD_V1, since: "2026-11-29T14:00:00.000Z", note: "x" },
      other: 1,
    } as unknown as RollbackState;
    await store.write("default/web", extra);
    const onDisk = JSON.parse(await Deno.readTextFile(`${root}/rollback/default_web.json`));
    assert.deepEqual(onDisk, {
      version: 1,
      key: "default/web",
      lastGood: { hash: "aaa111", pod: POD_V1, since: "2026-11-29T14:00:00.000Z" },
    });
  });
});

Deno.test("a pod without a file has no state and no warning", async () => {
  await withRoot(async (root) => {
    const warnings: string[] = [];
    const store = new RollbackStore(root, { onWarning: (m) => warnings.push(m) });
    assert.equal(await store.read("default/web"), undefined);
    assert.deepEqual(await store.load("default/web"), { state: undefined });
    assert.deepEqual(warnings, []);
  });
});

Deno.test("a write leaves no temp file behind", async () => {
  await withRoot(async (root) => {
    const store = new RollbackStore(root);
    await store.write("default/web", FULL);
    await store.write("default/web", { watching: FULL.watching! });
    await store.write("kube-system/dns.v2", FULL);
    assert.deepEqual(await entries(`${root}/rollback`), [
      "default_web.json",
      "kube-system_dns.v2.json",
    ]);
  });
});

Deno.test("a temp file left by a crash before the rename changes nothing, and the next write replaces it", async () => {
  await withRoot(async (root) => {
    const store = new RollbackStore(root);
    await store.write("default/web", FULL);
    const tmp = `${root}/rollback/.default_web.json.tmp`;
    assert.equal(rollbackTempPath(`${root}/rollback/default_web.json`), tmp);
    // The crash: the new content was half written to the temp file, never renamed.
    await Deno.writeTextFile(tmp, '{"version":1,"key":"default/web","watching":{"ha', {
      mode: 0o644,
    });
    assert.deepEqual(await store.read("default/web"), FULL);
    assert.deepEqual(await store.list(), ["default/web"]);
    const next: RollbackState = { lastGood: FULL.lastGood! };
    await store.write("default/web", next);
    assert.deepEqual(await store.read("default/web"), next);
    assert.deepEqual(await entries(`${root}/rollback`), ["default_web.json"]);
  });
});

Deno.test("a write that fails before the rename leaves the old content and says which file", async () => {
  await withRoot(async (root) => {
    const store = new RollbackStore(root);
    await store.write("default/web", FULL);
    // A directory with an entry where the temp file goes: it cannot be cleared or created.
    const tmp = `${root}/rollback/.default_web.json.tmp`;
    await Deno.mkdir(`${tmp}/stuck`, { recursive: true });
    await assert.rejects(
      store.write("default/web", { lastGood: FULL.lastGood! }),
      (err: unknown) => {
        assert.ok(err instanceof RollbackStateError);
        assert.equal(err.path, `${root}/rollback/default_web.json`);
        assert.match(
          err.message,
          /^Cannot write the rollback state file ".*\/rollback\/default_web\.json" of pod "default\/web": /,
        );
        return true;
      },
    );
    assert.deepEqual(await store.read("default/web"), FULL);
  });
});

Deno.test("the file is 0600 and the directory 0700, whatever was there before", async () => {
  await withRoot(async (root) => {
    const store = new RollbackStore(root);
    await store.write("default/web", FULL);
    assert.equal(await modeOf(`${root}/rollback`), 0o700);
    assert.equal(await modeOf(`${root}/rollback/default_web.json`), 0o600);

    await Deno.chmod(`${root}/rollback`, 0o755);
    await Deno.chmod(`${root}/rollback/default_web.json`, 0o644);
    await store.write("default/web", {});
    assert.equal(await modeOf(`${root}/rollback`), 0o700);
    assert.equal(await modeOf(`${root}/rollback/default_web.json`), 0o600);
  });
});

Deno.test("the directory is made below a root that does not exist yet", async () => {
  await withRoot(async (base) => {
    const store = new RollbackStore(`${base}/var/lib/tinylet`);
    await store.write("default/web", FULL);
    assert.deepEqual(await store.read("default/web"), FULL);
    assert.equal(await modeOf(`${base}/var/lib/tinylet/rollback`), 0o700);
  });
});

Deno.test("a symlink in place of the directory is refused, naming it", async () => {
  await withRoot(async (root) => {
    await Deno.mkdir(`${root}/elsewhere`);
    await Deno.symlink(`${root}/elsewhere`, `${root}/rollback`);
    const store = new RollbackStore(root);
    await assert.rejects(
      store.write("default/web", FULL),
      (err: unknown) => {
        assert.ok(err instanceof RollbackStateError);
        assert.equal(
          err.message,
          `Cannot keep rollback state in "${root}/rollback": it is a symlink, not a directory (remove it; the agent makes the directory)`,
        );
        return true;
      },
    );
    assert.deepEqual(await entries(`${root}/elsewhere`), []);
  });
});

const BAD_FILES: [string, (file: string) => Promise<void>, string][] = [
  ["not JSON", (f) => Deno.writeTextFile(f, "{ nope"), "it is not JSON ("],
  ["JSON but not an object", (f) => Deno.writeTextFile(f, "[1,2]"), "it is not an object;"],
  [
    "another version",
    (f) => Deno.writeTextFile(f, '{"version":3,"key":"default/web"}'),
    "its version is 3, not 1 or 2 (written by a newer agent?);",
  ],
  [
    "no version",
    (f) => Deno.writeTextFile(f, '{"key":"default/web"}'),
    "its version is missing, not 1 or 2 (written by a newer agent?);",
  ],
  [
    "another pod's state",
    (f) => Deno.writeTextFile(f, '{"version":1,"key":"default/api"}'),
    'it is about pod "default/api";',
  ],
  [
    "a time that is not one",
    (f) =>
      Deno.writeTextFile(
        f,
        '{"version":1,"key":"default/web","lastGood":{"hash":"a","pod":{},"since":"yesterday"}}',
      ),
    "lastGood.since is not an ISO 8601 time;",
  ],
  [
    "a window that is not positive",
    (f) =>
      Deno.writeTextFile(
        f,
        '{"version":1,"key":"default/web","watching":{"hash":"a","startedAt":1,"windowMs":0}}',
      ),
    "watching.windowMs is not a positive number;",
  ],
  [
    "a part that is not an object",
    (f) => Deno.writeTextFile(f, '{"version":1,"key":"default/web","rolledBack":"x"}'),
    "rolledBack is not an object;",
  ],
  ["a directory", (f) => Deno.mkdir(f), "it is a directory, not a regular file;"],
  [
    "a symlink",
    (f) => Deno.symlink("/etc/hostname", f),
    "it is a symlink, not a regular file;",
  ],
  [
    "not UTF-8",
    (f) => Deno.writeFile(f, new Uint8Array([0x7b, 0xff, 0x7d])),
    "it is not JSON (",
  ],
];

for (const [what, make, why] of BAD_FILES) {
  Deno.test(`a file holding ${what} reads as no state, with a warning naming it`, async () => {
    await withRoot(async (root) => {
      const warnings: string[] = [];
      const store = new RollbackStore(root, { onWarning: (m) => warnings.push(m) });
      await Deno.mkdir(`${root}/rollback`, { mode: 0o700 });
      const file = `${root}/rollback/default_web.json`;
      await make(file);
      const r = await store.load("default/web");
      assert.equal(r.state, undefined);
      assert.ok(r.warning, "a warning");
      assert.ok(
        r.warning.startsWith(`Ignoring the rollback state file "${file}" of pod "default/web": `),
        r.warning,
      );
      assert.ok(r.warning.includes(why), r.warning);
      assert.ok(
        r.warning.endsWith(
          "; remove it to start the pod's rollback history afresh (its next replacement that runs its window whole is kept as its last good spec)",
        ),
        r.warning,
      );
      assert.deepEqual(warnings, [], "load returns the warning, it does not tell it");
      assert.equal(await store.read("default/web"), undefined);
      assert.deepEqual(warnings, [r.warning]);
    });
  });
}

Deno.test("a bad file is replaced by the next write", async () => {
  await withRoot(async (root) => {
    const store = new RollbackStore(root);
    await Deno.mkdir(`${root}/rollback`, { mode: 0o700 });
    await Deno.writeTextFile(`${root}/rollback/default_web.json`, "garbage");
    await store.write("default/web", FULL);
    assert.deepEqual(await store.load("default/web"), { state: FULL });
  });
});

const BAD_KEYS: [string, string][] = [
  ["web", `"web": a pod key is "<namespace>/<name>", with one '/'`],
  ["default/web/x", `"default/web/x": a pod key is "<namespace>/<name>", with one '/'`],
  ["../etc", `"../etc": its namespace ".." must be a DNS-1123 label`],
  ["default/..", `"default/..": its name ".." must be a DNS-1123 subdomain`],
  ["Default/web", `"Default/web": its namespace "Default" must be a DNS-1123 label`],
  ["default/web_1", `"default/web_1": its name "web_1" must be a DNS-1123 subdomain`],
  ["default/", `"default/": its name "" must be a DNS-1123 subdomain`],
  ["/web", `"/web": its namespace "" must be a DNS-1123 label`],
  [
    `${"n".repeat(63)}/${"a".repeat(190)}`,
    `: its temp file name would have 264 bytes, more than the 255 Linux allows`,
  ],
];

for (const [key, message] of BAD_KEYS) {
  Deno.test(`the key ${JSON.stringify(key.slice(0, 20))} is refused, naming it`, async () => {
    await withRoot(async (root) => {
      const store = new RollbackStore(root);
      const check = (err: unknown) => {
        assert.ok(err instanceof UnsafePathError);
        assert.ok(
          err.message.startsWith(
            `Cannot name the rollback state file of pod ${JSON.stringify(key)}`,
          ),
          err.message,
        );
        assert.ok(err.message.includes(message), err.message);
        return true;
      };
      assert.throws(() => rollbackFileName(key), check);
      await assert.rejects(store.read(key), check);
      await assert.rejects(store.load(key), check);
      await assert.rejects(store.write(key, FULL), check);
      await assert.rejects(store.remove(key), check);
      assert.deepEqual(await entries(root), [], "nothing is made");
    });
  });
}

Deno.test("the longest key that fits is accepted", async () => {
  await withRoot(async (root) => {
    const key = `${"n".repeat(63)}/${"a".repeat(181)}`; // ".<63>_<181>.json.tmp": 255 bytes
    const store = new RollbackStore(root);
    await store.write(key, FULL);
    assert.deepEqual(await store.read(key), FULL);
    assert.deepEqual(await store.list(), [key]);
  });
});

Deno.test("a state that would not read back is not written", async () => {
  await withRoot(async (root) => {
    const store = new RollbackStore(root);
    const bad = { lastGood: { hash: "a", since: "2026-11-29T14:00:00.000Z" } } as RollbackState;
    await assert.rejects(store.write("default/web", bad), {
      name: "TypeError",
      message:
        'Cannot write the rollback state of pod "default/web": lastGood.pod is not an object (a v1 Pod)',
    });
    assert.deepEqual(await entries(root), []);
    assert.equal(
      rollbackStateProblem({ watching: { hash: "h", startedAt: Number.NaN, windowMs: 1 } }),
      "watching.startedAt is not a number",
    );
    assert.equal(rollbackStateProblem(FULL), undefined);
  });
});

Deno.test("list names each pod with a file, sorted, and nothing else", async () => {
  await withRoot(async (root) => {
    const store = new RollbackStore(root);
    assert.deepEqual(await store.list(), [], "no directory yet");
    await store.write("web/front", FULL);
    await store.write("default/web", FULL);
    await store.write("default/api.v1", {});
    const dir = `${root}/rollback`;
    await Deno.writeTextFile(`${dir}/.default_db.json.tmp`, "{}");
    await Deno.writeTextFile(`${dir}/notes.txt`, "");
    await Deno.writeTextFile(`${dir}/Bad_Name.json`, "{}");
    await Deno.writeTextFile(`${dir}/a_b_c.json`, "{}");
    await Deno.mkdir(`${dir}/x_y.json`);
    assert.deepEqual(await store.list(), ["default/api.v1", "default/web", "web/front"]);
    await store.remove("default/web");
    assert.deepEqual(await store.list(), ["default/api.v1", "web/front"]);
  });
});

Deno.test("remove takes the file and a temp file left of it, and a pod without one is fine", async () => {
  await withRoot(async (root) => {
    const store = new RollbackStore(root);
    await store.remove("default/web"); // no directory yet
    await store.write("default/web", FULL);
    await store.write("default/api", FULL);
    await Deno.writeTextFile(`${root}/rollback/.default_web.json.tmp`, "{");
    await store.remove("default/web");
    await store.remove("default/web");
    assert.equal(await store.read("default/web"), undefined);
    assert.deepEqual(await entries(`${root}/rollback`), ["default_api.json"]);
  });
});

Deno.test("writes and removals of one pod land in the order they were called", async () => {
  await withRoot(async (root) => {
    const store = new RollbackStore(root);
    const writes: Promise<void>[] = [];
    for (let i = 1; i <= 20; i++) {
      writes.push(
        store.write("default/web", { watching: { hash: `h${i}`, startedAt: i, windowMs: 1000 } }),
      );
    }
    writes.push(store.remove("default/web"));
    writes.push(
      store.write("default/web", { watching: { hash: "last", startedAt: 99, windowMs: 1000 } }),
    );
    await Promise.all(writes);
    assert.deepEqual(await store.read("default/web"), {
      watching: { hash: "last", startedAt: 99, windowMs: 1000 },
    });
    assert.deepEqual(await entries(`${root}/rollback`), ["default_web.json"]);
  });
});
