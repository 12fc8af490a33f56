import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { convertCommand } from "../lib/cmd/check.ts";
import { parseCommandLine, UsageError } from "../lib/cmd/cli.ts";
import { parseManifest } from "../lib/manifest/parse.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

// "hunter2" is aHVudGVyMg== in base64, "admin" is YWRtaW4=.
const SECRET = [
  "apiVersion: v1",
  "kind: Secret",
  "metadata:",
  "  name: db",
  "  namespace: shop",
  "  labels: {app: web}",
  "type: kubernetes.io/basic-auth",
  "data:",
  "  password: aHVudGVyMg==",
  "stringData:",
  "  username: admin",
  "",
].join("\n");

/** Every form of the Secret's values that must never be printed without --show-secrets. */
const LEAKS = ["hunter2", "aHVudGVyMg==", "aHVudGVy", "admin", "YWRtaW4="];

const REDACTED_SECRET = [
  "# The values of this Secret are redacted: each key is kept with an empty value and its size",
  "# in bytes. Run tinylet convert with --show-secrets to print them.",
  "apiVersion: v1",
  "kind: Secret",
  "metadata:",
  "  name: db",
  "  namespace: shop",
  "  labels:",
  "    app: web",
  "type: kubernetes.io/basic-auth",
  "data:",
  '  password: "" # 7 bytes',
  '  username: "" # 5 bytes',
].join("\n");

const SHOWN_SECRET = [
  "apiVersion: v1",
  "kind: Secret",
  "metadata:",
  "  name: db",
  "  namespace: shop",
  "  labels:",
  "    app: web",
  "type: kubernetes.io/basic-auth",
  "data:",
  "  password: aHVudGVyMg==",
  "  username: YWRtaW4=",
].join("\n");

// binaryData AAEC/w== is the bytes 0, 1, 2, 255.
const CONFIG_MAP = [
  "apiVersion: v1",
  "kind: ConfigMap",
  "metadata:",
  "  name: cfg",
  "data:",
  "  app.conf: |",
  "    x=1",
  "binaryData:",
  "  logo.bin: AAEC/w==",
  "immutable: true",
  "",
].join("\n");

const CONVERTED_CONFIG_MAP = [
  "apiVersion: v1",
  "kind: ConfigMap",
  "metadata:",
  "  name: cfg",
  "  namespace: default",
  "immutable: true",
  "data:",
  "  app.conf: |",
  "    x=1",
  "binaryData:",
  "  logo.bin: AAEC/w==",
].join("\n");

const SHORT_POD = "name: hello\ncontainers:\n  - name: hello\n    image: busybox:1.35\n";

const CONVERTED_POD = [
  "apiVersion: v1",
  "kind: Pod",
  "metadata:",
  "  name: hello",
  "spec:",
  "  containers:",
  "    - name: hello",
  "      image: busybox:1.35",
].join("\n");

/** Runs `fn` with a fresh temp dir, removed afterwards whatever happens. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinylet_convert_objects_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes `text` to `dir/name` at mode 0600 and returns its path. */
async function write(dir: string, name: string, text: string): Promise<string> {
  const file = `${dir}/${name}`;
  await Deno.writeTextFile(file, text, { mode: 0o600 });
  await Deno.chmod(file, 0o600);
  return file;
}

/** Runs `convertCommand` in process, returning its exit code and both streams, joined. */
function convert(files: string[], showSecrets?: boolean) {
  const out: string[] = [];
  const err: string[] = [];
  const code = convertCommand(
    files,
    { out: (l) => out.push(l), err: (l) => err.push(l) },
    showSecrets === undefined ? {} : { showSecrets },
  );
  return { code, out: out.join("\n"), err: err.join("\n") };
}

Deno.test("convert prints a Secret with every value redacted: each key empty with its size, and a note on --show-secrets", async () => {
  await withTempDir(async (dir) => {
    const file = await write(dir, "db.yaml", SECRET);
    for (const r of [convert([file]), convert([file], false)]) {
      assert.deepEqual(r, { code: 0, out: REDACTED_SECRET, err: "" });
      for (const leak of LEAKS) assert.ok(!r.out.includes(leak), `printed ${leak}`);
      // It is valid v1 YAML that tinylet reads back as the same Secret, values aside.
      const back = parseManifest("back.yaml", r.out);
      assert.deepEqual(back.problems, []);
      assert.deepEqual(back.objects.map((o) => o.object), [{
        kind: "Secret",
        name: "db",
        namespace: "shop",
        labels: { app: "web" },
        type: "kubernetes.io/basic-auth",
        data: { password: new Uint8Array(), username: new Uint8Array() },
        immutable: false,
      }]);
    }
  });
});

Deno.test("convert --show-secrets prints the values in base64 under data, stringData folded in", async () => {
  await withTempDir(async (dir) => {
    const file = await write(dir, "db.yaml", SECRET);
    const r = convert([file], true);
    assert.deepEqual(r, { code: 0, out: SHOWN_SECRET, err: "" });
    assert.ok(r.out.includes("aHVudGVyMg=="));
    assert.ok(r.out.includes("YWRtaW4="));
    const back = parseManifest("back.yaml", r.out);
    assert.deepEqual(back.problems, []);
    assert.deepEqual(
      back.objects.map((o) => o.object),
      parseManifest(file, SECRET).objects.map((o) => o.object),
    );
  });
});

Deno.test("convert prints a ConfigMap as a v1 object: namespace filled in, binaryData in base64", async () => {
  await withTempDir(async (dir) => {
    const file = await write(dir, "cfg.yaml", CONFIG_MAP);
    assert.deepEqual(convert([file]), { code: 0, out: CONVERTED_CONFIG_MAP, err: "" });
    const back = parseManifest("back.yaml", CONVERTED_CONFIG_MAP);
    assert.deepEqual(back.problems, []);
    assert.deepEqual(back.objects.map((o) => o.object), [{
      kind: "ConfigMap",
      name: "cfg",
      namespace: "default",
      data: { "app.conf": "x=1\n" },
      binaryData: { "logo.bin": new Uint8Array([0, 1, 2, 255]) },
      immutable: true,
    }]);
  });
});

Deno.test("convert prints pods exactly as before, and every document of a file in its order", async () => {
  await withTempDir(async (dir) => {
    const pod = await write(dir, "pod.yaml", SHORT_POD);
    assert.deepEqual(convert([pod]), { code: 0, out: CONVERTED_POD, err: "" });
    const mixed = await write(dir, "all.yaml", [SECRET, SHORT_POD, CONFIG_MAP].join("---\n"));
    const r = convert([mixed]);
    assert.deepEqual(r, {
      code: 0,
      out: [REDACTED_SECRET, CONVERTED_POD, CONVERTED_CONFIG_MAP].join("\n---\n"),
      err: "",
    });
    for (const leak of LEAKS) assert.ok(!r.out.includes(leak), `printed ${leak}`);
  });
});

Deno.test("convert redacts a Secret with keys YAML would quote, and one with no keys", async () => {
  await withTempDir(async (dir) => {
    const file = await write(
      dir,
      "odd.yaml",
      [
        "apiVersion: v1\nkind: Secret\nmetadata: {name: odd}\nstringData: {'true': x, '123': yz}",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: none}\n",
      ].join("\n---\n"),
    );
    const r = convert([file]);
    const note = REDACTED_SECRET.split("\n").slice(0, 2).join("\n");
    assert.deepEqual(r, {
      code: 0,
      out: [
        note,
        "apiVersion: v1",
        "kind: Secret",
        "metadata:",
        "  name: odd",
        "  namespace: default",
        "type: Opaque",
        "data:",
        '  "123": "" # 2 bytes',
        '  "true": "" # 1 byte',
        "---",
        note,
        "apiVersion: v1",
        "kind: Secret",
        "metadata:",
        "  name: none",
        "  namespace: default",
        "type: Opaque",
      ].join("\n"),
      err: "",
    });
    const back = parseManifest("back.yaml", r.out);
    assert.deepEqual(back.problems, []);
    assert.deepEqual(back.objects.map((o) => Object.keys(o.object.data)), [["123", "true"], []]);
  });
});

Deno.test("convert of a readable Secret file warns on stderr, prints it redacted, and leaks nothing", async () => {
  await withTempDir(async (dir) => {
    const file = await write(dir, "db.yaml", SECRET);
    await Deno.chmod(file, 0o644);
    const r = convert([file]);
    assert.equal(r.code, 0);
    assert.equal(r.out, REDACTED_SECRET);
    for (const leak of LEAKS) assert.ok(!`${r.out}${r.err}`.includes(leak), `printed ${leak}`);
    assert.equal(
      r.err,
      `${file}:1:1: warning: Make the file readable by its owner only: it holds a Secret and is readable by its group and others (mode 0644), and a Secret file must not be readable by group or others. Run "chmod go-rwx ${file}"`,
    );
  });
});

Deno.test("convert of an invalid Secret prints nothing, and its error names the key, not the value", async () => {
  await withTempDir(async (dir) => {
    const file = await write(
      dir,
      "bad.yaml",
      "apiVersion: v1\nkind: Secret\nmetadata: {name: bad}\ndata:\n  token: hunter2!\n",
    );
    const r = convert([file], true);
    assert.equal(r.code, 1);
    assert.equal(r.out, "");
    assert.match(r.err, /^.*bad\.yaml:5:3: error: Encode the value of "token" in data as base64/);
    assert.ok(!r.err.includes("hunter2"));
  });
});

Deno.test("--show-secrets is a flag of convert only", () => {
  const env = { cwd: "/home/ops", hostname: "node-1" };
  assert.deepEqual(parseCommandLine(["convert", "db.yaml"], env), {
    command: "convert",
    files: ["/home/ops/db.yaml"],
    showSecrets: false,
  });
  assert.deepEqual(parseCommandLine(["convert", "--show-secrets", "db.yaml"], env), {
    command: "convert",
    files: ["/home/ops/db.yaml"],
    showSecrets: true,
  });
  assert.deepEqual(parseCommandLine(["convert", "db.yaml", "-show-secrets"], env), {
    command: "convert",
    files: ["/home/ops/db.yaml"],
    showSecrets: true,
  });
  assert.throws(
    () => parseCommandLine(["check", "--show-secrets"], env),
    new UsageError('--show-secrets is not an option of "tinylet check"'),
  );
});

Deno.test("tinylet convert, run as a program, redacts by default and shows with --show-secrets", async () => {
  await withTempDir(async (dir) => {
    await write(dir, "db.yaml", SECRET);
    const run = async (args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MAIN, "convert", ...args],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
      const dec = new TextDecoder();
      return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
    };
    const redacted = await run(["db.yaml"]);
    assert.deepEqual(redacted, { code: 0, out: `${REDACTED_SECRET}\n`, err: "" });
    for (const leak of LEAKS) assert.ok(!redacted.out.includes(leak), `printed ${leak}`);
    const shown = await run(["--show-secrets", "db.yaml"]);
    assert.deepEqual(shown, { code: 0, out: `${SHOWN_SECRET}\n`, err: "" });
  });
});
