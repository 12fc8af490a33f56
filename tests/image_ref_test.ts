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
 * Checks the near-valid megabyte cases in a Deno process whose V8 counts the backtracks of
 * each regular expression run and reports, on stdout, every run past `limit` of them (the run
 * then goes on in V8's linear-time engine); it also runs a pattern that backtracks
 * exponentially, which must be reported. Patterns that engine cannot run (those with counted
 * repetitions) are not counted. Returns the verdicts and the report.
 */
async function checkCountingBacktracks(limit: number) {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-image-ref-" });
  try {
    const script = `${dir}/cases.ts`;
    await Deno.writeTextFile(
      script,
      `import { imageReferenceError } from ${
        JSON.stringify(new URL("../lib/manifest/image_ref.ts", import.meta.url).href)
      };
const cases = [
  "a".repeat(1 << 20) + "-",
  "a-".repeat(1 << 19) + "-",
  "a.".repeat(1 << 19) + "/",
  \`\${"a".repeat(1 << 20)}-.com/x\`,
  \`x:\${"t".repeat(1 << 20)}\`,
  \`x@sha256:\${"f".repeat(1 << 20)}\`,
];
const verdicts = cases.map((c) => typeof imageReferenceError(c));
const control = /^(?:a|a)*$/.test("a".repeat(40) + "!");
console.log("RESULT " + JSON.stringify({ verdicts, control }));
`,
    );
    const flags = [
      "--enable-experimental-regexp-engine-on-excessive-backtracks",
      `--regexp-backtracks-before-fallback=${limit}`,
      "--trace-experimental-regexp-engine",
    ];
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", `--v8-flags=${flags.join(",")}`, script],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, stdout + new TextDecoder().decode(out.stderr));
    const result = /^RESULT (.*)$/m.exec(stdout)?.[1];
    assert.ok(result, stdout);
    const overLimit = stdout.split("\n").filter((l) => l.startsWith("Experimental execution"));
    return { ...JSON.parse(result) as { verdicts: string[]; control: boolean }, overLimit };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("imageReferenceError takes linear time on a megabyte of near-valid text", async () => {
  // Work counted, not timed: no pattern backtracks more than twice per character of input.
  const { verdicts, control, overLimit } = await checkCountingBacktracks(2 << 20);
  assert.deepEqual(verdicts, Array(6).fill("string"), "each case is refused");
  assert.equal(control, false);
  assert.equal(overLimit.length, 1, `runs past the limit:\n${overLimit.join("\n")}`);
  assert.match(overLimit[0]!, /\^\(\?:a\|a\)\*\$/, "the exponential control is counted");
});
