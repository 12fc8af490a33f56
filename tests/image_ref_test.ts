/**
 * Image references: the verdicts of the distribution reference package's own
 * tables (`normalize_test.go`, `reference_test.go`, read through
 * `ParseNormalizedNamed`, which kubelet uses), plus what kubelet users write.
 */
import assert from "node:assert/strict";
import { imageReferenceError } from "../lib/manifest/image_ref.ts";

const F64 = "f".repeat(64);
const HEX64 = "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c";

/** Valid under Docker Hub normalisation. */
const VALID = [
  // What users write.
  "busybox",
  "busybox:1.36",
  "library/busybox:1.36",
  "docker.io/library/busybox:1.36",
  "registry.k8s.io/etcd:3.5.15-0",
  "localhost/x",
  "localhost:5000/x",
  "[::1]:5000/x",
  `x@sha256:${F64}`,
  `busybox:latest@sha256:${"86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"}`,
  `x@sha384:${"a".repeat(96)}`,
  `x@sha512:${"a".repeat(128)}`,
  // TestValidateReferenceName, valid.
  "docker/docker",
  "library/debian",
  "debian",
  "docker.io/docker/docker",
  "docker.io/library/debian",
  "docker.io/debian",
  "index.docker.io/docker/docker",
  "index.docker.io/library/debian",
  "index.docker.io/debian",
  "127.0.0.1:5000/docker/docker",
  "127.0.0.1:5000/library/debian",
  "127.0.0.1:5000/debian",
  "192.168.0.1",
  "192.168.0.1:80",
  "192.168.0.1:8/debian",
  "192.168.0.2:25000/debian",
  "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
  "[fc00::1]:5000/docker",
  "[fc00::1]:5000/docker/docker",
  "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
  `docker.io/${HEX64.slice(0, 63)}a`,
  "Docker/docker",
  "DOCKER/docker",
  // TestValidateRemoteName, valid.
  "docker-rules/docker",
  "docker---rules/docker",
  "doc/docker",
  "d/docker",
  "jess/t",
  "dock__er/docker",
  // TestReferenceParse cases that stay valid once normalised.
  "test_com",
  "test.com:tag",
  "test.com:5000",
  "test.com/repo:tag",
  "test:5000/repo",
  "test:5000/repo:tag",
  `test:5000/repo@sha256:${F64}`,
  `test:5000/repo:tag@sha256:${F64}`,
  "lowercase:Uppercase",
  `${"a/".repeat(127)}a:tag-puts-this-over-max`,
  "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
  "b.gcr.io/test.example.com/my-app:test.example.com",
  "xn--n3h.com/myimage:xn--n3h.com",
  `xn--7o8h.com/myimage:xn--7o8h.com@sha512:${"f".repeat(128)}`,
  "foo_bar.com:8080",
  "foo/foo_bar.com:8080",
  "192.168.1.1:5000/repo:5050",
  "[2001:db8::1]/repo",
  "[2001:db8:1:2:3:4:5:6]/repo:tag",
  `[2001:db8::1]:5000/repo:tag@sha256:${F64}`,
  "[2001:db8::]:5000/repo",
  // TestParseRepositoryInfo and TestParseAnyReference names.
  "Foo/bar",
  "FOO/bar",
  "store/foo/bar",
  "library/foo/bar",
  "127.0.0.1:8000/private/moonbase",
  "example.com:8000/privatebasee",
  "ubuntu-12.04-base",
  `redis@sha256:${HEX64}`,
  `${HEX64.slice(0, 63)}`,
  "dbcc1",
  // A 128-character tag is the longest.
  `x:${"t".repeat(128)}`,
];

/** Invalid: kubelet refuses them with InvalidImageName. */
const INVALID = [
  // The report that started it: a terminal escape in the image name.
  "busybox\x1b]0;owned\x07",
  "busybox\n",
  "busy box",
  " busybox",
  "",
  // TestValidateReferenceName, invalid.
  "https://github.com/docker/docker",
  "docker/Docker",
  "-docker",
  "-docker/docker",
  "-docker.io/docker/docker",
  "docker///docker",
  "docker.io/docker/Docker",
  "docker.io/docker///docker",
  "[fc00::1]",
  "[fc00::1]:5000",
  "fc00::1:5000/debian",
  "[fe80::1%eth0]:5000/debian",
  "[2001:db8:3:4::192.0.2.33]:5000/debian",
  HEX64.replace("d", "1"),
  // TestValidateRemoteName, invalid.
  "docker-/docker",
  "-docker-/docker",
  "____/____",
  "_docker/_docker",
  "dock..er/docker",
  "dock_.er/docker",
  "dock-.er/docker",
  "docker/",
  `${"this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_".repeat(4)}/docker`,
  // TestReferenceParse failures, still failures once normalised.
  ":justtag",
  `@sha256:${F64}`,
  `repo@sha256:${"f".repeat(34)}`,
  `validname@invaliddigest:${F64}`,
  "Uppercase:tag",
  "test:5000/Uppercase/lowercase:tag",
  `${"a/".repeat(128)}a:tag`,
  "aa/asdf$$^/aa",
  "[2001:db8::1]:tag",
  "[fe80::1%@invalidzone]:5000/repo",
  // Tags and digests.
  `x:${"t".repeat(129)}`,
  "x:.tag",
  "x:-tag",
  "x:a:b",
  `x@sha256:${"F".repeat(64)}`,
  `x@sha256:${"f".repeat(63)}`,
  `x@md5:${"f".repeat(32)}`,
  "x@sha256:abc",
  `x@sha256:${F64}@sha256:${F64}`,
  "x@",
  "x:",
];

for (const image of VALID) {
  Deno.test(`imageReferenceError accepts ${JSON.stringify(image)}`, () => {
    assert.equal(imageReferenceError(image), undefined);
  });
}

for (const image of INVALID) {
  Deno.test(`imageReferenceError rejects ${JSON.stringify(image)}`, () => {
    const why = imageReferenceError(image);
    assert.equal(typeof why, "string");
    // The reason never echoes a raw control character.
    const raw = [...why!].filter((c) => c.charCodeAt(0) < 0x20 || (c >= "\x7f" && c <= "\x9f"));
    assert.deepEqual(raw, []);
  });
}

Deno.test("imageReferenceError accepts a normalised repository path of exactly 255 characters", () => {
  // docker.io/ + 255 characters of path: the path is what the limit counts.
  const path = `${"a/".repeat(127)}a`;
  assert.equal(path.length, 255);
  assert.equal(imageReferenceError(`docker.io/${path}`), undefined);
  assert.match(imageReferenceError(`docker.io/${path}b`)!, /256 characters, more than 255/);
});

Deno.test("imageReferenceError counts library/ in the path of a one-component Docker Hub name", () => {
  // "library/" (8) + 247 = 255: valid; one more is 256.
  assert.equal(imageReferenceError("a".repeat(247)), undefined);
  assert.match(imageReferenceError("a".repeat(248))!, /256 characters/);
  // Under a registry host, the host is not part of the path.
  assert.equal(imageReferenceError(`example.com/${"a".repeat(255)}`), undefined);
});

Deno.test("imageReferenceError names the control character it found", () => {
  assert.equal(
    imageReferenceError("busybox\x1b]0;x\x07"),
    "it contains the control character U+001B",
  );
  assert.equal(imageReferenceError("busybox\u009b"), "it contains the control character U+009B");
  assert.equal(imageReferenceError("busy box"), "it contains white space");
});

Deno.test("imageReferenceError says what is wrong with a digest", () => {
  assert.match(imageReferenceError(`x@md5:${"f".repeat(32)}`)!, /"md5" is not supported/);
  assert.match(
    imageReferenceError(`x@sha256:${"f".repeat(63)}`)!,
    /64 hex digits, this one has 63/,
  );
  assert.match(imageReferenceError(`x@sha256:${"F".repeat(64)}`)!, /lower case/);
});

Deno.test("imageReferenceError rejects upper case in the repository, not in the tag", () => {
  assert.match(imageReferenceError("docker/Docker")!, /"docker\/Docker" must be lower-case/);
  assert.equal(imageReferenceError("busybox:LATEST"), undefined);
});

/**
 * The child script of {@linkcode countBacktracks}. It wraps `RegExp.prototype.exec` (which
 * `test`, `match` and the other pattern methods call) so that each run, before it goes on,
 * is repeated by a twin pattern that V8 stops after `limit` backtracks (`limit` is twice the
 * length of the case being checked). The twin always matches unless stopped: an anchored
 * pattern `^X` becomes `(?:^X)|`, any other `X` becomes `^[^]*?(?:X)|`, which scans the start
 * positions as the search does. A stopped twin is reported and the run is refused, so an
 * exponential pattern never runs for real.
 */
const COUNTING_SCRIPT = String.raw`
const [moduleUrl] = Deno.args;
const withLimit = new Function("source", "flags", "limit",
  "return %NewRegExpWithBacktrackLimit(source, flags, limit)");
const MEGABYTE = 1 << 20;
const cases = [
  "a".repeat(MEGABYTE) + "-",
  "a-".repeat(MEGABYTE / 2) + "-",
  "a.".repeat(MEGABYTE / 2) + "/",
  "a".repeat(MEGABYTE) + "-.com/x",
  "x:" + "t".repeat(MEGABYTE),
  "x@sha256:" + "f".repeat(MEGABYTE),
];

/** Whether the pattern matches only at the start: '^' first, no top-level '|', no 'm' flag. */
function anchored(re) {
  if (re.multiline || !re.source.startsWith("^")) return false;
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < re.source.length; i++) {
    const c = re.source[i];
    if (c === "\\") i++;
    else if (inClass) inClass = c !== "]";
    else if (c === "[") inClass = true;
    else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "|" && depth === 0) return false;
  }
  return true;
}

const realExec = RegExp.prototype.exec;
let limit = 0;
let twins = new WeakMap();
let megabyteRuns = 0;
let overLimit = [];
RegExp.prototype.exec = function (input) {
  const text = String(input);
  if (this.global || this.sticky) {
    throw new Error("cannot count /" + this.source + "/" + this.flags + ": it is global or sticky");
  }
  let twin = twins.get(this);
  if (twin === undefined) {
    const source = anchored(this) ? "(?:" + this.source + ")|" : "^[^]*?(?:" + this.source + ")|";
    twin = withLimit(source, this.flags, limit);
    twins.set(this, twin);
  }
  if (realExec.call(twin, text) === null) {
    const what = "/" + this.source + "/ on " + text.length + " characters";
    overLimit.push(what);
    throw new Error("past " + limit + " backtracks: " + what);
  }
  if (text.length >= MEGABYTE) megabyteRuns++;
  return realExec.call(this, text);
};

/** Runs f with a limit of twice the length of text; returns its verdict and its counted runs. */
function counted(text, f) {
  limit = 2 * text.length;
  twins = new WeakMap();
  megabyteRuns = 0;
  overLimit = [];
  let verdict;
  try {
    verdict = typeof f(text);
  } catch (err) {
    verdict = "stopped: " + err.message;
  }
  return { verdict, megabyteRuns, overLimit };
}

const { imageReferenceError } = await import(moduleUrl);
const results = cases.map((c) => counted(c, imageReferenceError));
const control = counted("a".repeat(40) + "!", (t) => /^(?:a|a)*$/.test(t));
console.log("RESULT " + JSON.stringify({ results, control }));
`;

/**
 * Checks six near-valid megabyte references in a Deno process that counts the backtracks of
 * every regular expression run, whatever its constructs, and refuses a run past twice the
 * reference's length of them (see {@linkcode COUNTING_SCRIPT}); it also runs a pattern that
 * backtracks exponentially, which must be refused. Returns, for each case and the control, the
 * verdict (the type of the result, or why it was stopped), the number of runs on a megabyte or
 * more, and the runs refused.
 */
async function countBacktracks() {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-image-ref-" });
  try {
    const script = `${dir}/cases.js`;
    await Deno.writeTextFile(script, COUNTING_SCRIPT);
    const moduleUrl = new URL("../lib/manifest/image_ref.ts", import.meta.url).href;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-config",
        "--allow-read",
        "--v8-flags=--allow-natives-syntax",
        script,
        moduleUrl,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, stdout + new TextDecoder().decode(out.stderr));
    const result = /^RESULT (.*)$/m.exec(stdout)?.[1];
    assert.ok(result, stdout);
    type Counted = { verdict: string; megabyteRuns: number; overLimit: string[] };
    return JSON.parse(result) as { results: Counted[]; control: Counted };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("imageReferenceError takes linear time on a megabyte of near-valid text", async () => {
  // Work counted, not timed: no pattern run backtracks more than twice per character.
  const { results, control } = await countBacktracks();
  results.forEach((r, i) => {
    assert.deepEqual(r.overLimit, [], `case ${i + 1}: runs past the limit`);
    assert.equal(r.verdict, "string", `case ${i + 1} is refused`);
    assert.ok(r.megabyteRuns > 0, `case ${i + 1}: no run on the megabyte was counted`);
  });
  assert.deepEqual(control.overLimit, ["/^(?:a|a)*$/ on 41 characters"]);
  assert.match(
    control.verdict,
    /^stopped: past 82 backtracks/,
    "the exponential control is stopped",
  );
});
