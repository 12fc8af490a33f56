/**
 * Terminal control characters in what tinylet prints for people: the one
 * escaping function, the log lines, JSON and YAML output. Expected strings
 * are written out by hand.
 */
import assert from "node:assert/strict";
import { convertCommand } from "../lib/cmd/check.ts";
import {
  hasControl,
  logfmtValue,
  printable,
  printableIo,
  terminalJson,
  terminalYaml,
} from "../lib/base/escape.ts";
import { createLogger } from "../lib/base/log.ts";
import { formatProblem, parseManifest } from "../lib/manifest/parse.ts";
import { toYaml } from "../lib/manifest/yaml.ts";
import { parse as parseYaml } from "yaml";

/** ESC, BEL, CSI (C1), DEL, NUL, CR and a tab, as an attacker would mix them. */
const HOSTILE = "a\x1b]0;pwned\x07b\u009b2Jc\x7fd\x00e\rf\tg";

const PRINTABLE_CASES: { name: string; text: string; want: string }[] = [
  { name: "ESC is \\x1b", text: "\x1b[31mred", want: "\\x1b[31mred" },
  { name: "BEL is \\x07", text: "ding\x07", want: "ding\\x07" },
  { name: "NUL is \\x00", text: "a\x00b", want: "a\\x00b" },
  { name: "DEL is \\x7f", text: "a\x7fb", want: "a\\x7fb" },
  { name: "CSI (U+009B) is \\u009b", text: "\u009b2J", want: "\\u009b2J" },
  { name: "the first C1 character is \\u0080", text: "\u0080", want: "\\u0080" },
  { name: "NEL (U+0085) is \\u0085", text: "a\u0085b", want: "a\\u0085b" },
  { name: "the last C1 character is \\u009f", text: "\u009f", want: "\\u009f" },
  { name: "a tab is \\t", text: "a\tb", want: "a\\tb" },
  { name: "a newline is \\n", text: "one\ntwo", want: "one\\ntwo" },
  { name: "a carriage return is \\r", text: "ok\rno", want: "ok\\rno" },
  { name: "the unit separator is \\x1f", text: "\x1f", want: "\\x1f" },
  {
    name: "everything mixed",
    text: HOSTILE,
    want: "a\\x1b]0;pwned\\x07b\\u009b2Jc\\x7fd\\x00e\\rf\\tg",
  },
  {
    name: "printable text, backslashes and non-ASCII letters stay",
    text: 'C:\\path "q" é ü 日本 \u00a0 ~ 🙂',
    want: 'C:\\path "q" é ü 日本 \u00a0 ~ 🙂',
  },
  { name: "an empty string stays empty", text: "", want: "" },
];

for (const c of PRINTABLE_CASES) {
  Deno.test(`printable: ${c.name}`, () => {
    assert.equal(printable(c.text), c.want);
  });
}

Deno.test("printable leaves no C0, DEL or C1 character, and only those are changed", () => {
  for (let code = 0; code <= 0x2fff; code++) {
    const ch = String.fromCharCode(code);
    const control = code < 0x20 || (code >= 0x7f && code <= 0x9f);
    const out = printable(ch);
    if (control) {
      assert.notEqual(out, ch, `U+${code.toString(16)} is escaped`);
      assert.match(out, /^\\([trn]|x[0-9a-f]{2}|u00[89][0-9a-f])$/, `U+${code.toString(16)}`);
    } else {
      assert.equal(out, ch, `U+${code.toString(16)} is left as it is`);
    }
  }
});

Deno.test("printable is not applied twice: escaped text (its own, or JSON-quoted) stays as it is", () => {
  const once = printable(HOSTILE);
  assert.equal(printable(once), once);
  assert.equal(hasControl(once), false);
  // A manifest problem quotes values with JSON, which escapes C0 but not C1: only C1 is left to do.
  const quoted = JSON.stringify("we\x07b\u009b");
  assert.equal(printable(quoted), '"we\\u0007b\\u009b"');
  assert.equal(printable(printable(quoted)), '"we\\u0007b\\u009b"');
});

Deno.test("formatProblem escapes the file, the message and the field, and a quoted value once", () => {
  const m = parseManifest(
    "/m/bad\u009b\x07.yaml",
    'name: "Bad\\u009b\\u0007"\ncontainers: [{name: c, image: busybox:1.35}]\n',
  );
  const name = m.problems.find((p) => p.field === "name");
  assert.ok(name, JSON.stringify(m.problems));
  assert.equal(
    formatProblem(name),
    `/m/bad\\u009b\\x07.yaml:1:1: error: Rename the pod "Bad\\u009b\\u0007": the name must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (field name)`,
  );
  assert.equal(
    formatProblem({
      file: "f\r.yaml",
      line: 2,
      column: 3,
      severity: "warning",
      field: "x\x1b",
      message: "m\n",
    }),
    "f\\r.yaml:2:3: warning: m\\n (field x\\x1b)",
  );
});

const LOGFMT_CASES: { name: string; text: string; want: string }[] = [
  { name: "a plain value is bare", text: "/etc/tinylet/web.yaml", want: "/etc/tinylet/web.yaml" },
  { name: "an empty value is quoted", text: "", want: '""' },
  { name: "a space is quoted", text: "a b", want: '"a b"' },
  { name: "an equals sign is quoted", text: "a=b", want: '"a=b"' },
  { name: "a quote is quoted and escaped", text: 'say "hi"', want: '"say \\"hi\\""' },
  { name: "a backslash is quoted and escaped", text: "a\\x1b", want: '"a\\\\x1b"' },
  {
    name: "ESC with no whitespace is quoted and escaped",
    text: "/m/web\x1b[8m.yaml",
    want: '"/m/web\\x1b[8m.yaml"',
  },
  { name: "CSI is quoted and escaped", text: "\u009b2J", want: '"\\u009b2J"' },
  { name: "NEL (whitespace to a regexp) is escaped", text: "a\u0085b", want: '"a\\u0085b"' },
  {
    name: "everything mixed",
    text: HOSTILE,
    want: '"a\\x1b]0;pwned\\x07b\\u009b2Jc\\x7fd\\x00e\\rf\\tg"',
  },
];

for (const c of LOGFMT_CASES) {
  Deno.test(`logfmtValue: ${c.name}`, () => {
    assert.equal(logfmtValue(c.text), c.want);
  });
}

const TIME = new Date("2026-11-29T07:00:00.000Z");

Deno.test("the text log escapes a file= field with an escape sequence and no whitespace", () => {
  const lines: string[] = [];
  const log = createLogger({ write: (l) => lines.push(l), now: () => TIME });
  log.info("Started pod default/web", { pod: "default/web", file: "/m/web\x1b]0;x\x07.yaml" });
  log.warn("Probe said \x1b[2J\u009b31mred\x7f", { output: "a\x00b", error: new Error("e\rf") });
  log.error("Two\nlines", { file: "/m/plain.yaml", note: "tab\there" });
  assert.deepEqual(lines, [
    '2026-11-29T07:00:00.000Z INFO  Started pod default/web pod=default/web file="/m/web\\x1b]0;x\\x07.yaml"',
    '2026-11-29T07:00:00.000Z WARN  Probe said \\x1b[2J\\u009b31mred\\x7f output="a\\x00b" error="e\\rf"',
    '2026-11-29T07:00:00.000Z ERROR Two\\nlines file=/m/plain.yaml note="tab\\there"',
  ]);
});

Deno.test("JSON log lines escape DEL and C1 too, and read back as the same values", () => {
  const lines: string[] = [];
  const log = createLogger({ format: "json", write: (l) => lines.push(l), now: () => TIME });
  log.warn(HOSTILE, { file: "/m/web\u009b.yaml" });
  assert.equal(lines.length, 1);
  assert.equal(hasControl(lines[0]!), false);
  assert.equal(
    lines[0],
    '{"time":"2026-11-29T07:00:00.000Z","level":"warn","msg":"a\\u001b]0;pwned\\u0007b\\u009b2Jc\\u007fd\\u0000e\\rf\\tg","file":"/m/web\\u009b.yaml"}',
  );
  assert.deepEqual(JSON.parse(lines[0]!), {
    time: "2026-11-29T07:00:00.000Z",
    level: "warn",
    msg: HOSTILE,
    file: "/m/web\u009b.yaml",
  });
});

Deno.test("terminalJson escapes what JSON.stringify leaves raw, and parses back to the same value", () => {
  const value = { s: HOSTILE, all: "\x7f\u0080\u0085\u009b\u009f", nested: [{ k: "\u009b" }] };
  assert.ok(/[\u007f-\u009f]/.test(JSON.stringify(value)), "JSON.stringify leaves them raw");
  const json = terminalJson(value, 2);
  assert.equal(hasControl(json.replaceAll("\n", "")), false);
  assert.ok(json.includes('"all": "\\u007f\\u0080\\u0085\\u009b\\u009f"'), json);
  assert.deepEqual(JSON.parse(json), value);
});

Deno.test("tinylet convert prints C1 and DEL escaped, and its YAML reads back to the same pod", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-escape-" });
  try {
    const args = ["\u009b2J", "x\x7fy", "nel\u0085", "l1\nl2\u009b"];
    await Deno.writeTextFile(
      `${dir}/p.yaml`,
      `name: p\ncontainers:\n  - name: c\n    image: busybox:1.35\n    args: ${
        JSON.stringify(args)
      }\n`,
    );
    const out: string[] = [];
    const err: string[] = [];
    const code = await convertCommand([`${dir}/p.yaml`], {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
    });
    assert.equal(code, 0, err.join("\n"));
    assert.equal(out.length, 1);
    const yaml = out[0]!;
    assert.equal(hasControl(yaml.replaceAll("\n", "")), false, yaml);
    assert.ok(yaml.includes('- "\\x9b2J"'), yaml);
    assert.ok(yaml.includes('- "x\\x7fy"'), yaml);
    assert.ok(yaml.includes('- "nel\\x85"'), yaml);
    assert.ok(yaml.includes('- "l1\\nl2\\x9b"'), yaml);
    const back = parseManifest("back.yaml", yaml);
    assert.deepEqual(back.problems, []);
    assert.deepEqual(back.pods[0]?.pod.spec.containers[0]?.args, args);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("terminalYaml relies on the YAML writer double-quoting every string with DEL or C1", () => {
  for (
    const s of [
      "\u009b",
      "plain\u0085",
      "a: \u009b",
      "# \x7f",
      "l1\nl2\u0080",
      "x".repeat(200) + "\u009f",
    ]
  ) {
    const yaml = toYaml({ [s]: s, list: [s] });
    const safe = terminalYaml(yaml);
    assert.equal(hasControl(safe.replaceAll("\n", "")), false, safe);
    assert.deepEqual(parseYaml(safe), { [s]: s, list: [s] }, safe);
  }
});

Deno.test("printableIo escapes lines and passes bytes through", () => {
  const seen: (string | Uint8Array)[] = [];
  const raw = {
    out: (l: string) => seen.push(`out:${l}`),
    err: (l: string) => seen.push(`err:${l}`),
    outBytes: (b: Uint8Array) => seen.push(b),
  };
  const io = printableIo(raw);
  io.out("a\x1bb");
  io.err("c\u009bd");
  io.outBytes(new Uint8Array([0x1b, 0x5b]));
  assert.deepEqual(seen, ["out:a\\x1bb", "err:c\\u009bd", new Uint8Array([0x1b, 0x5b])]);
});
