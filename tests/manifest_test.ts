import assert from "node:assert/strict";
import {
  formatProblem,
  type Manifest,
  parseManifest,
  type Problem,
} from "../lib/manifest/parse.ts";
import type { Severity } from "../lib/manifest/checker.ts";
import { type Pod, specHash } from "../lib/manifest/pod.ts";

const FILE = "/etc/tinylet/manifests/web.yaml";

/** Replaces the one occurrence of `from` in `text`; fails if it is not there exactly once. */
function edit(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) {
    throw new Error(`fixture must contain ${JSON.stringify(from)} exactly once`);
  }
  return text.slice(0, at) + to + text.slice(at + from.length);
}

// The short form. Line numbers and columns in the cases below are counted
// by hand in this text (1-based).
const SHORT = [
  "name: web", //                                  1
  "namespace: shop", //                            2
  "containers:", //                                3
  "  - name: app", //                              4  (item and its keys at column 5)
  "    image: docker.io/library/busybox:1.36", //  5
  '    command: ["sleep", "3600"]', //             6  (items at columns 15 and 24)
  "    args:", //                                  7
  '      - "--verbose"', //                        8  (item at column 9)
  "",
].join("\n");

// The apiVersion: v1 / kind: Pod form.
const V1 = [
  "apiVersion: v1", //                             1
  "kind: Pod", //                                  2
  "metadata:", //                                  3
  "  name: web", //                                4
  "  namespace: shop", //                          5
  "  labels:", //                                  6
  "    app: web", //                               7
  "  annotations:", //                             8
  "    note: hello world", //                      9
  "spec:", //                                      10
  "  terminationGracePeriodSeconds: 5", //         11
  "  containers:", //                              12
  "    - name: app", //                            13 (item and its keys at column 7)
  "      image: docker.io/library/busybox:1.36", // 14
  '      command: ["sleep", "3600"]', //           15
  "",
].join("\n");

/** What we expect of one problem; `message` is a pattern or a substring. */
interface ExpectedProblem {
  severity: Severity;
  line: number;
  column: number;
  field: string;
  message: RegExp | string;
}

interface ProblemCase {
  name: string;
  text: string;
  valid: boolean;
  problems: ExpectedProblem[];
}

function error(
  line: number,
  column: number,
  field: string,
  message: RegExp | string,
): ExpectedProblem {
  return { severity: "error", line, column, field, message };
}

function warning(
  line: number,
  column: number,
  field: string,
  message: RegExp | string,
): ExpectedProblem {
  return { severity: "warning", line, column, field, message };
}

function assertProblems(m: Manifest, expected: ExpectedProblem[]): void {
  const where = (p: Omit<Problem, "message" | "file"> | ExpectedProblem) => ({
    severity: p.severity,
    line: p.line,
    column: p.column,
    field: p.field,
  });
  assert.deepEqual(
    m.problems.map(where),
    expected.map(where),
    `problems were:\n${m.problems.map(formatProblem).join("\n")}`,
  );
  m.problems.forEach((p, i) => {
    const want = expected[i]!.message;
    assert.equal(p.file, FILE);
    if (typeof want === "string") {
      assert.ok(
        p.message.includes(want),
        `message ${JSON.stringify(p.message)} should contain ${JSON.stringify(want)}`,
      );
    } else {
      assert.match(p.message, want);
    }
  });
}

const LONG_LABEL = "a".repeat(63);
// 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 characters.
const NAME_253 = `${LONG_LABEL}.${LONG_LABEL}.${LONG_LABEL}.${"b".repeat(61)}`;
// 63 + 1 + 63 + 1 + 63 + 1 + 62 = 254 characters.
const NAME_254 = `${LONG_LABEL}.${LONG_LABEL}.${LONG_LABEL}.${"b".repeat(62)}`;

const SHORT_FORM_CASES: ProblemCase[] = [
  {
    name: "accepts the base short form without problems",
    text: SHORT,
    valid: true,
    problems: [],
  },
  {
    name: "reports a missing image at the container item, where the field belongs",
    text: edit(SHORT, "    image: docker.io/library/busybox:1.36\n", ""),
    valid: false,
    problems: [error(4, 5, "containers[0].image", 'required field "image"')],
  },
  {
    name: "reports an empty image at its key",
    text: edit(
      SHORT,
      "image: docker.io/library/busybox:1.36",
      'image: ""',
    ),
    valid: false,
    problems: [error(5, 5, "containers[0].image", /"image".*empty/)],
  },
  {
    name: "rejects a container name that is not a DNS-1123 label",
    text: edit(SHORT, "- name: app", "- name: App_1"),
    valid: false,
    problems: [error(4, 5, "containers[0].name", '"App_1"')],
  },
  {
    name: "rejects a container name with a dot, since it is a label",
    text: edit(SHORT, "- name: app", "- name: app.v1"),
    valid: false,
    problems: [error(4, 5, "containers[0].name", '"app.v1"')],
  },
  {
    name: "accepts a container name of 63 characters",
    text: edit(SHORT, "- name: app", `- name: ${LONG_LABEL}`),
    valid: true,
    problems: [],
  },
  {
    name: "rejects a container name of 64 characters",
    text: edit(SHORT, "- name: app", `- name: ${LONG_LABEL}x`),
    valid: false,
    problems: [error(4, 5, "containers[0].name", "64")],
  },
  {
    name: "rejects a pod name that is not a DNS-1123 subdomain",
    text: edit(SHORT, "name: web\n", "name: Web_1\n"),
    valid: false,
    problems: [error(1, 1, "name", '"Web_1"')],
  },
  {
    name: "accepts a pod name with dots",
    text: edit(SHORT, "name: web\n", "name: web.shop.example\n"),
    valid: true,
    problems: [],
  },
  {
    // shop_<name>_<uid>: 4 + 1 + 213 + 1 + 36 = 255 bytes, the most a file name may have.
    name: "accepts a pod name whose log directory name is exactly 255 bytes",
    text: edit(SHORT, "name: web\n", `name: ${"a".repeat(213)}\n`),
    valid: true,
    problems: [],
  },
  {
    // 4 + 1 + 214 + 1 + 36 = 256 bytes: mkdir fails with "File name too long".
    name: "rejects a pod name whose log directory name would be 256 bytes",
    text: edit(SHORT, "name: web\n", `name: ${"a".repeat(214)}\n`),
    valid: false,
    problems: [
      error(
        1,
        1,
        "name",
        'Shorten the pod name to at most 213 characters in namespace "shop": its log directory <namespace>_<name>_<uid> would be a file name of 256 bytes, more than the 255 Linux allows (File name too long)',
      ),
    ],
  },
  {
    // default_<name>_<uid>: 7 + 1 + 211 + 1 + 36 = 256.
    name: "counts the default namespace in the log directory of a pod that names none",
    text: edit(edit(SHORT, "name: web\n", `name: ${"a".repeat(211)}\n`), "namespace: shop\n", ""),
    valid: false,
    problems: [error(1, 1, "name", /at most 210 characters in namespace "default".* 256 bytes/)],
  },
  {
    // A valid DNS-1123 subdomain, but 4 + 1 + 253 + 1 + 36 = 295 bytes of directory name.
    name: "rejects a pod name of 253 characters, valid as a name, for its log directory",
    text: edit(SHORT, "name: web\n", `name: ${NAME_253}\n`),
    valid: false,
    problems: [error(1, 1, "name", /295 bytes/)],
  },
  {
    name: "rejects a pod name of 254 characters",
    text: edit(SHORT, "name: web\n", `name: ${NAME_254}\n`),
    valid: false,
    problems: [error(1, 1, "name", "254")],
  },
  {
    name: "rejects a missing pod name, located at the document start",
    text: edit(SHORT, "name: web\n", ""),
    valid: false,
    problems: [error(1, 1, "name", 'required field "name"')],
  },
  {
    name: "rejects a namespace that is not a DNS-1123 label",
    text: edit(SHORT, "namespace: shop", "namespace: shop.eu"),
    valid: false,
    problems: [error(2, 1, "namespace", '"shop.eu"')],
  },
  {
    name: "rejects a control character in the pod name, showing it JSON-quoted",
    text: edit(SHORT, "name: web\n", 'name: "we\\u0007b"\n'),
    valid: false,
    problems: [error(1, 1, "name", '"we\\u0007b"')],
  },
  {
    name: "rejects a newline in a container name, showing it JSON-quoted",
    text: edit(SHORT, "- name: app", '- name: "a\\nb"'),
    valid: false,
    problems: [error(4, 5, "containers[0].name", '"a\\nb"')],
  },
  {
    name: "rejects the second of two containers with the same name",
    text: SHORT + "  - name: app\n    image: busybox\n",
    valid: false,
    problems: [error(9, 5, "containers[1].name", "containers[0]")],
  },
  {
    name: "warns about an unknown container field and keeps the file valid",
    text: edit(
      SHORT,
      "    command:",
      "    imagePulPolicy: Always\n    command:",
    ),
    valid: true,
    problems: [
      warning(6, 5, "containers[0].imagePulPolicy", '"imagePulPolicy"'),
    ],
  },
  {
    name: "warns about an unknown numeric container key at that key",
    text: edit(SHORT, "    command:", "    8080: http\n    command:"),
    valid: true,
    problems: [warning(6, 5, "containers[0].8080", '"8080"')],
  },
  {
    name: "warns about an unknown top-level field of the short form and keeps the file valid",
    text: edit(SHORT, "containers:\n", "labels: {app: web}\ncontainers:\n"),
    valid: true,
    problems: [warning(3, 1, "labels", '"labels"')],
  },
  {
    name: "rejects a command written as a string instead of a list",
    text: edit(SHORT, 'command: ["sleep", "3600"]', "command: sleep 3600"),
    valid: false,
    problems: [error(6, 5, "containers[0].command", /list/)],
  },
  {
    name: "rejects a number in the command list, pointing at the item",
    text: edit(SHORT, '"3600"]', "3600]"),
    valid: false,
    problems: [error(6, 24, "containers[0].command[1]", "Quote 3600")],
  },
  {
    name: "rejects a boolean in the args list, pointing at the item",
    text: edit(SHORT, '- "--verbose"', "- true"),
    valid: false,
    problems: [error(8, 9, "containers[0].args[0]", "Quote true")],
  },
  {
    name: "rejects a mapping in the args list, pointing at the item",
    text: edit(SHORT, '- "--verbose"', "- {a: b}"),
    valid: false,
    problems: [error(8, 9, "containers[0].args[0]", /mapping/)],
  },
  {
    name: "rejects an empty list of containers",
    text: "name: web\ncontainers: []\n",
    valid: false,
    problems: [error(2, 1, "containers", /at least one container/)],
  },
  {
    name: "rejects a document that is a list, not a mapping",
    text: "- name: web\n",
    valid: false,
    problems: [error(1, 1, "", /mapping/)],
  },
  {
    name: "reports a YAML syntax error at the offending character",
    text: edit(SHORT, "namespace: shop", "namespace: @shop"),
    valid: false,
    problems: [error(2, 12, "namespace", /syntax.*@/)],
  },
  {
    name: "rejects a duplicate key, naming the repeated field",
    text: edit(SHORT, "namespace: shop\n", "namespace: shop\nname: web2\n"),
    valid: false,
    problems: [error(3, 1, "name", /unique|duplicate|twice/i)],
  },
  {
    name: "rejects a duplicate key inside a container, naming its field path",
    text: edit(
      SHORT,
      "    command:",
      "    image: busybox\n    command:",
    ),
    valid: false,
    problems: [
      error(6, 5, "containers[0].image", /unique|duplicate|twice/i),
    ],
  },
];

const V1_CASES: ProblemCase[] = [
  {
    name: "accepts the base v1 pod without problems",
    text: V1,
    valid: true,
    problems: [],
  },
  {
    name: "rejects the reserved label key tinylet",
    text: edit(V1, "    app: web", '    tinylet: "true"'),
    valid: false,
    problems: [error(7, 5, "metadata.labels.tinylet", /reserved/)],
  },
  {
    name: "rejects a reserved label key under tinylet/",
    text: edit(V1, "    app: web", "    tinylet/x: web"),
    valid: false,
    problems: [error(7, 5, "metadata.labels.tinylet/x", /reserved/)],
  },
  {
    name: "rejects a reserved label key under io.kubernetes.",
    text: edit(V1, "    app: web", "    io.kubernetes.x: web"),
    valid: false,
    problems: [error(7, 5, "metadata.labels.io.kubernetes.x", /reserved/)],
  },
  {
    name: "rejects a reserved annotation key",
    text: edit(V1, "    note: hello world", "    tinylet/spec-hash: abc"),
    valid: false,
    problems: [
      error(9, 5, "metadata.annotations.tinylet/spec-hash", /reserved/),
    ],
  },
  ...["Tinylet/spec-hash", "TINYLET", "IO.Kubernetes.pod.uid"].map((key) => ({
    name: `rejects the reserved annotation key ${key} written in another case`,
    text: edit(V1, "    note: hello world", `    ${key}: abc`),
    valid: false,
    problems: [error(9, 5, `metadata.annotations.${key}`, /reserved/)],
  })),
  {
    name: "accepts a label key that only looks like a reserved one",
    text: edit(V1, "    app: web", "    tinylet.example.com/role: web"),
    valid: true,
    problems: [],
  },
  {
    name: "rejects a number as a label value",
    text: edit(V1, "    app: web", "    app: 1"),
    valid: false,
    problems: [error(7, 5, "metadata.labels.app", /Quote the value of "app"/)],
  },
  {
    name: "rejects a boolean as a label value",
    text: edit(V1, "    app: web", "    app: true"),
    valid: false,
    problems: [error(7, 5, "metadata.labels.app", /Quote the value of "app"/)],
  },
  {
    name: "rejects a number as an annotation value",
    text: edit(V1, "    note: hello world", "    note: 5"),
    valid: false,
    problems: [
      error(9, 5, "metadata.annotations.note", /Quote the value of "note"/),
    ],
  },
  {
    name: "rejects a label value with a space",
    text: edit(V1, "    app: web", "    app: hello world"),
    valid: false,
    problems: [error(7, 5, "metadata.labels.app", '"hello world"')],
  },
  {
    name: "rejects a missing image in a v1 container",
    text: edit(V1, "      image: docker.io/library/busybox:1.36\n", ""),
    valid: false,
    problems: [
      error(13, 7, "spec.containers[0].image", 'required field "image"'),
    ],
  },
  {
    name: "rejects an image with a terminal escape sequence, escaped in the message",
    text: edit(
      V1,
      "image: docker.io/library/busybox:1.36",
      'image: "busybox\\e]0;owned\\a"',
    ),
    valid: false,
    problems: [
      error(
        14,
        7,
        "spec.containers[0].image",
        'Fix the image reference "busybox\\u001b]0;owned\\u0007": it contains the control character U+001B; write it as',
      ),
    ],
  },
  {
    name: "rejects an upper-case repository in an image",
    text: edit(V1, "image: docker.io/library/busybox:1.36", "image: docker.io/library/BusyBox"),
    valid: false,
    problems: [error(14, 7, "spec.containers[0].image", /"library\/BusyBox" must be lower-case/)],
  },
  {
    name: "rejects an init container's image that is not a valid reference",
    text: edit(
      V1,
      "spec:\n",
      "spec:\n  initContainers:\n    - name: init\n      image: busybox@sha256:abc\n",
    ),
    valid: false,
    problems: [
      error(13, 7, "spec.initContainers[0].image", /digest "sha256:abc" is not an algorithm/),
    ],
  },
  {
    name: "accepts images Docker Hub normalisation allows: short, with a port, IPv6, by digest",
    text: edit(
      V1,
      "spec:\n",
      [
        "spec:",
        "  initContainers:",
        "    - {name: a, image: busybox}",
        "    - {name: b, image: 'library/busybox:1.36'}",
        "    - {name: c, image: 'localhost:5000/x'}",
        "    - {name: d, image: '[::1]:5000/x'}",
        `    - {name: e, image: 'x@sha256:${"0".repeat(64)}'}`,
        "",
      ].join("\n"),
    ),
    valid: true,
    problems: [],
  },
  {
    // <63>_<154>_<36 uid>: 63 + 1 + 154 + 1 + 36 = 255.
    name: "accepts a 154-character name in a 63-character namespace: a 255-byte log directory",
    text: edit(
      edit(V1, "  name: web\n", `  name: ${"a".repeat(154)}\n`),
      "namespace: shop",
      `namespace: ${"n".repeat(63)}`,
    ),
    valid: true,
    problems: [],
  },
  {
    // What the agent failed on with "File name too long": 63 + 1 + 253 + 1 + 36 = 354.
    name: "rejects a 253-character name in a 63-character namespace at metadata.name",
    text: edit(
      edit(V1, "  name: web\n", `  name: ${NAME_253}\n`),
      "namespace: shop",
      `namespace: ${"n".repeat(63)}`,
    ),
    valid: false,
    problems: [
      error(4, 3, "metadata.name", /at most 154 characters in namespace "n{63}".* 354 bytes/),
    ],
  },
  {
    name: "rejects a missing metadata name, located at metadata",
    text: edit(V1, "  name: web\n", ""),
    valid: false,
    problems: [error(3, 1, "metadata.name", 'required field "name"')],
  },
  {
    name: "rejects an apiVersion other than v1 for kind Pod",
    text: edit(V1, "apiVersion: v1", "apiVersion: v2"),
    valid: false,
    problems: [error(1, 1, "apiVersion", '"v2"')],
  },
  {
    name: "rejects a document with apiVersion but no kind instead of skipping it",
    text: edit(V1, "kind: Pod\n", ""),
    valid: false,
    problems: [error(1, 1, "kind", /kind/)],
  },
  {
    name: "rejects a negative grace period",
    text: edit(
      V1,
      "terminationGracePeriodSeconds: 5",
      "terminationGracePeriodSeconds: -1",
    ),
    valid: false,
    problems: [error(11, 3, "spec.terminationGracePeriodSeconds", "-1")],
  },
  {
    name: "warns about an unknown spec field and keeps the file valid",
    text: edit(V1, "spec:\n", "spec:\n  hostNetwrk: true\n"),
    valid: true,
    problems: [warning(11, 3, "spec.hostNetwrk", '"hostNetwrk"')],
  },
  {
    name: "warns about an unknown top-level field and keeps the file valid",
    text: V1 + "extra: 1\n",
    valid: true,
    problems: [warning(16, 1, "extra", '"extra"')],
  },
  {
    name: "warns about metadata an API server sets and keeps the file valid",
    text: edit(V1, "  namespace: shop\n", "  namespace: shop\n  uid: abc\n"),
    valid: true,
    problems: [warning(6, 3, "metadata.uid", /API server/)],
  },
  {
    name: "warns about status and keeps the file valid",
    text: V1 + "status:\n  phase: Running\n",
    valid: true,
    problems: [warning(16, 1, "status", '"status"')],
  },
];

for (const c of [...SHORT_FORM_CASES, ...V1_CASES]) {
  Deno.test(`parseManifest ${c.name}`, () => {
    const m = parseManifest(FILE, c.text);
    assert.equal(m.file, FILE);
    assertProblems(m, c.problems);
    assert.equal(m.valid, c.valid);
    if (c.valid) assert.equal(m.pods.length, 1);
    else assert.deepEqual(m.pods, []);
  });
}

Deno.test("parseManifest converts the short form to a v1 Pod with no defaults filled in", () => {
  const m = parseManifest(FILE, SHORT);
  const expected: Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "shop" },
    spec: {
      containers: [{
        name: "app",
        image: "docker.io/library/busybox:1.36",
        command: ["sleep", "3600"],
        args: ["--verbose"],
      }],
    },
  };
  assert.deepEqual(m.pods, [{ pod: expected, line: 1, column: 1 }]);
});

Deno.test("parseManifest leaves the namespace out when the short form omits it", () => {
  const m = parseManifest(
    FILE,
    "name: web\ncontainers:\n  - name: app\n    image: busybox\n",
  );
  assert.deepEqual(m.pods.map((p) => p.pod), [{
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web" },
    spec: { containers: [{ name: "app", image: "busybox" }] },
  }]);
});

Deno.test("parseManifest reads the v1 form with labels, annotations and grace period", () => {
  const m = parseManifest(FILE, V1);
  const expected: Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "web",
      namespace: "shop",
      labels: { app: "web" },
      annotations: { note: "hello world" },
    },
    spec: {
      terminationGracePeriodSeconds: 5,
      containers: [{
        name: "app",
        image: "docker.io/library/busybox:1.36",
        command: ["sleep", "3600"],
      }],
    },
  };
  assert.deepEqual(m.problems, []);
  assert.deepEqual(m.pods, [{ pod: expected, line: 1, column: 1 }]);
});

Deno.test("parseManifest reads a JSON file and locates its problems", () => {
  const text = [
    "{", //                                                   1
    '  "apiVersion": "v1",', //                               2
    '  "kind": "Pod",', //                                    3
    '  "metadata": {"name": "web"},', //                      4
    '  "spec": {', //                                         5
    '    "containers": [', //                                 6
    '      {"name": "app", "image": "busybox", "cmd": ["x"]}', // 7: "cmd" at column 43
    "    ]",
    "  }",
    "}",
    "",
  ].join("\n");
  const m = parseManifest("/m/web.json", text);
  assert.deepEqual(m.problems.map(formatProblem), [
    '/m/web.json:7:43: warning: Ignoring unknown field "cmd" (field spec.containers[0].cmd)',
  ]);
  assert.equal(m.valid, true);
  assert.deepEqual(m.pods.map((p) => p.pod.metadata), [{ name: "web" }]);
  assert.equal(m.pods[0]?.pod.spec.containers[0]?.image, "busybox");
});

Deno.test("parseManifest reads the short form written as JSON", () => {
  const m = parseManifest(
    "/m/web.json",
    '{"name": "web", "containers": [{"name": "app", "image": "busybox", "args": ["-v"]}]}',
  );
  assert.deepEqual(m.problems, []);
  assert.deepEqual(m.pods, [{
    pod: {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "web" },
      spec: { containers: [{ name: "app", image: "busybox", args: ["-v"] }] },
    },
    line: 1,
    column: 1,
  }]);
});

const WEB = "name: web\ncontainers:\n  - name: app\n    image: busybox\n";

Deno.test("parseManifest reads several documents separated by ---, each with its start line", () => {
  const text = [
    "name: web", //          1
    "containers:",
    "  - name: app",
    "    image: busybox",
    "---", //                5
    "# the database", //     6
    "apiVersion: v1", //     7
    "kind: Pod",
    "metadata:",
    "  name: db",
    "spec:",
    "  containers:",
    "    - name: pg",
    "      image: postgres",
    "",
  ].join("\n");
  const m = parseManifest(FILE, text);
  assert.deepEqual(m.problems, []);
  assert.equal(m.valid, true);
  assert.deepEqual(
    m.pods.map((p) => [p.pod.metadata.name, p.line, p.column]),
    [["web", 1, 1], ["db", 7, 1]],
  );
});

Deno.test("parseManifest skips other kinds with a warning and keeps the pods", () => {
  const text = [
    "apiVersion: v1", //     1
    "kind: Service", //      2
    "metadata:",
    "  name: settings",
    "---", //                5
    WEB, //                  6..9
  ].join("\n");
  const m = parseManifest(FILE, text);
  assertProblems(m, [warning(2, 1, "kind", '"Service"')]);
  assert.equal(m.valid, true);
  assert.deepEqual(m.objects, []);
  assert.deepEqual(
    m.pods.map((p) => [p.pod.metadata.name, p.line]),
    [["web", 6]],
  );
});

Deno.test("parseManifest ignores empty documents between pods", () => {
  const m = parseManifest(FILE, `---\n---\n${WEB}---\n`);
  assert.deepEqual(m.problems, []);
  assert.deepEqual(
    m.pods.map((p) => [p.pod.metadata.name, p.line]),
    [["web", 3]],
  );
});

Deno.test("parseManifest makes the whole file invalid when one document has an error", () => {
  const m = parseManifest(
    FILE,
    `${WEB}---\nname: db\ncontainers:\n  - name: pg\n`,
  );
  // The second document starts on line 6; its container item is at 8:5.
  assertProblems(m, [error(8, 5, "containers[0].image", '"image"')]);
  assert.equal(m.valid, false);
  assert.deepEqual(m.pods, []);
});

const DUPLICATE_POD_CASES = [
  {
    name: "rejects the same pod declared twice in one file at the second one",
    second: WEB,
  },
  {
    name: "rejects the same pod twice when one spells out the default namespace",
    second: "namespace: default\n" + WEB,
  },
];

for (const c of DUPLICATE_POD_CASES) {
  Deno.test(`parseManifest ${c.name}`, () => {
    // The first document is lines 1-4, "---" is line 5, the second starts on line 6.
    const m = parseManifest(FILE, `${WEB}---\n${c.second}`);
    assertProblems(m, [error(6, 1, "", /"default\/web".*first at line 1/)]);
    assert.equal(m.valid, false);
    assert.deepEqual(m.pods, []);
  });
}

Deno.test("parseManifest accepts pods of the same name in different namespaces", () => {
  const m = parseManifest(FILE, `${WEB}---\nnamespace: other\n${WEB}`);
  assert.deepEqual(m.problems, []);
  assert.deepEqual(
    m.pods.map((p) => p.pod.metadata.namespace ?? "(none)"),
    ["(none)", "other"],
  );
});

const EMPTY_CASES = [
  { name: "rejects an empty file", text: "" },
  { name: "rejects a file of blank lines", text: "\n\n  \n" },
  { name: "rejects a comment-only file", text: "# no pods yet\n# later\n" },
  { name: "rejects a file of empty documents", text: "---\n# nothing\n---\n" },
];

for (const c of EMPTY_CASES) {
  Deno.test(`parseManifest ${c.name} as invalid, not as zero pods`, () => {
    const m = parseManifest(FILE, c.text);
    assertProblems(m, [error(1, 1, "", /empty or only comments/)]);
    assert.equal(m.valid, false);
    assert.deepEqual(m.pods, []);
  });
}

Deno.test("parseManifest reports an alias bomb instead of expanding it", () => {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  const letters = "abcdefghi";
  for (let i = 1; i < letters.length; i++) {
    const prev = letters[i - 1]!;
    const refs = Array.from({ length: 9 }, () => `*${prev}`).join(",");
    lines.push(`${letters[i]}: &${letters[i]} [${refs}]`);
  }
  const m = parseManifest(FILE, lines.join("\n") + "\n");
  assert.equal(m.valid, false);
  assert.deepEqual(m.pods, []);
  assert.equal(m.problems.length, 1);
  assert.equal(m.problems[0]?.severity, "error");
  assert.match(m.problems[0]!.message, /alias/i);
  // 9^9 strings would take minutes and gigabytes: the parse stopped on its bound on work (the
  // count of nodes reached through aliases), not by expanding until time or memory ran out.
  assert.match(m.problems[0]!.message, /Excessive alias count/);
});

Deno.test("parseManifest accepts a single alias used as intended", () => {
  const m = parseManifest(
    FILE,
    [
      "name: web",
      "containers:",
      "  - name: a",
      "    image: busybox",
      "    command: &cmd [sleep, '60']",
      "  - name: b",
      "    image: busybox",
      "    command: *cmd",
      "",
    ].join("\n"),
  );
  assert.deepEqual(m.problems, []);
  assert.deepEqual(
    m.pods[0]?.pod.spec.containers.map((c) => c.command),
    [["sleep", "60"], ["sleep", "60"]],
  );
});

Deno.test("formatProblem prints path:line:column: severity: message (field f)", () => {
  const p: Problem = {
    file: "/m/web.yaml",
    line: 4,
    column: 5,
    severity: "error",
    field: "spec.containers[0].image",
    message: 'Add the required field "image"',
  };
  assert.equal(
    formatProblem(p),
    '/m/web.yaml:4:5: error: Add the required field "image" (field spec.containers[0].image)',
  );
});

Deno.test("formatProblem leaves out the field when the problem is about the whole document", () => {
  const p: Problem = {
    file: "/m/web.yaml",
    line: 1,
    column: 1,
    severity: "warning",
    field: "",
    message: "Something about the document",
  };
  assert.equal(
    formatProblem(p),
    "/m/web.yaml:1:1: warning: Something about the document",
  );
});

// --- Annotations: the API server's size limit and key syntax ---

const ANNOTATION_LIMIT = 256 * 1024;

/** A v1 pod whose metadata holds `annotations` (and `labels`), as JSON, which is YAML. */
function podWithMetadata(
  annotations: Record<string, string>,
  labels: Record<string, string> = {},
): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", annotations, labels },
    spec: { containers: [{ name: "app", image: "busybox" }] },
  });
}

/** `severity field` of each problem, for cases where positions do not matter. */
function problemsOf(text: string): string[] {
  return parseManifest(FILE, text).problems.map((p) => `${p.severity} ${p.field}`);
}

const ANNOTATION_SIZE_CASES = [
  // From apimachinery's TestValidateAnnotations: the limit itself is allowed (total > limit fails).
  {
    name: "accepts annotations totalling exactly 262,144 bytes (upstream rejects only > 262,144)",
    annotations: { a: "b".repeat(ANNOTATION_LIMIT - 1) },
    valid: true,
  },
  {
    name: "accepts two annotations totalling 262,142 bytes",
    annotations: {
      a: "b".repeat(ANNOTATION_LIMIT / 2 - 1),
      c: "d".repeat(ANNOTATION_LIMIT / 2 - 1),
    },
    valid: true,
  },
  {
    name: "rejects annotations totalling 262,145 bytes, one more than the limit",
    annotations: { a: "b".repeat(ANNOTATION_LIMIT) },
    valid: false,
  },
  {
    name: "rejects two annotations totalling 262,146 bytes",
    annotations: { a: "b".repeat(ANNOTATION_LIMIT / 2), c: "d".repeat(ANNOTATION_LIMIT / 2) },
    valid: false,
  },
  {
    name: "counts annotation bytes in UTF-8, not characters: 131,073 characters of 262,145 bytes",
    annotations: { a: "é".repeat(ANNOTATION_LIMIT / 2) },
    valid: false,
  },
  {
    name: "counts the keys too: a long key tips 262,144 bytes of values over",
    annotations: { "a": "b".repeat(ANNOTATION_LIMIT - 2), "cd": "" },
    valid: false,
  },
];

for (const c of ANNOTATION_SIZE_CASES) {
  Deno.test(`parseManifest ${c.name}`, () => {
    const m = parseManifest(FILE, podWithMetadata(c.annotations));
    assert.equal(m.valid, c.valid, m.problems.map(formatProblem).join("\n"));
    if (c.valid) {
      assert.deepEqual(m.problems, []);
      assert.deepEqual(m.pods[0]?.pod.metadata.annotations, c.annotations);
    } else {
      assert.deepEqual(m.problems.map((p) => `${p.severity} ${p.field}`), [
        "error metadata.annotations",
      ]);
      const bytes = Object.entries(c.annotations)
        .reduce((n, [k, v]) => n + new TextEncoder().encode(k + v).length, 0);
      assert.equal(
        m.problems[0]!.message,
        `Shrink the annotations: their keys and values total ${bytes} bytes, more than the limit of 262144 (256 KiB)`,
      );
    }
  });
}

// Keys from apimachinery's TestIsQualifiedName (labels) and TestValidateAnnotations.
const QUALIFIED_NAMES = [
  "simple",
  "now-with-dashes",
  "1-starts-with-num",
  "1234",
  "simple/simple",
  "now-with-dashes/simple",
  "now-with-dashes/now-with-dashes",
  "now.with.dots/simple",
  "now-with.dashes-and.dots/simple",
  "1-num.2-num/3-num",
  "1234/5678",
  "1.2.3.4/5678",
  "Uppercase_Is_OK_123",
  "example.com/Uppercase_Is_OK_123",
  "requests.storage-foo",
  "a".repeat(63),
  `${"a".repeat(253)}/${"b".repeat(63)}`,
];
const NOT_QUALIFIED_NAMES = [
  "nospecialchars%^=@",
  "cantendwithadash-",
  "-cantstartwithadash-",
  "only/one/slash",
  "example_com/abc",
  "example.com/",
  "/simple",
  "a".repeat(64),
  `${"a".repeat(254)}/abc`,
];

for (const key of QUALIFIED_NAMES) {
  Deno.test(`parseManifest accepts ${JSON.stringify(key)} as a label and an annotation key`, () => {
    assert.deepEqual(problemsOf(podWithMetadata({ [key]: "x" }, { [key]: "x" })), []);
  });
}

for (const key of NOT_QUALIFIED_NAMES) {
  Deno.test(`parseManifest rejects ${JSON.stringify(key)} as a label and an annotation key`, () => {
    // Annotations come first in the JSON text, so their problem is reported first.
    assert.deepEqual(problemsOf(podWithMetadata({ [key]: "x" }, { [key]: "x" })), [
      `error metadata.annotations.${key}`,
      `error metadata.labels.${key}`,
    ]);
  });
}

Deno.test("parseManifest accepts an upper-case prefix in an annotation key but not in a label key, as the API server does", () => {
  // Annotation keys are checked lower-cased ("UpperCase123" in TestValidateAnnotations);
  // label keys as written ("Example.com/abc" fails TestIsQualifiedName).
  assert.deepEqual(
    problemsOf(podWithMetadata({ "Example.com/abc": "x", "UpperCase123": "y" })),
    [],
  );
  assert.deepEqual(problemsOf(podWithMetadata({}, { "Example.com/abc": "x" })), [
    "error metadata.labels.Example.com/abc",
  ]);
});

// --- What kubeadm and `kubectl create --dry-run=client -o yaml` write ---

/** `kubectl run web --image=busybox --dry-run=client -o yaml`, as kubectl prints it. */
const KUBECTL_DRY_RUN = [
  "apiVersion: v1", //             1
  "kind: Pod", //                  2
  "metadata:", //                  3
  "  creationTimestamp: null", //  4
  "  labels:", //                  5
  "    run: web", //               6
  "  name: web", //                7
  "spec:", //                      8
  "  containers:", //              9
  "  - image: busybox", //         10
  "    name: web", //              11
  "    resources: {}", //          12
  "  dnsPolicy: ClusterFirst", //  13
  "  restartPolicy: Always", //    14
  "status: {}", //                 15
  "",
].join("\n");

const EMPTY_SERVER_FIELD_CASES: ProblemCase[] = [
  {
    name: "accepts kubectl's dry-run output, creationTimestamp: null and status: {}, silently",
    text: KUBECTL_DRY_RUN,
    valid: true,
    problems: [],
  },
  {
    name: "accepts a bare status: with no value silently",
    text: edit(KUBECTL_DRY_RUN, "status: {}", "status:"),
    valid: true,
    problems: [],
  },
  {
    name: "accepts other server-set metadata left empty silently",
    text: edit(KUBECTL_DRY_RUN, "  creationTimestamp: null", '  uid: ""\n  managedFields: []'),
    valid: true,
    problems: [],
  },
  {
    name: "warns about a creationTimestamp that carries a time",
    text: edit(
      KUBECTL_DRY_RUN,
      "creationTimestamp: null",
      'creationTimestamp: "2024-05-01T10:00:00Z"',
    ),
    valid: true,
    problems: [warning(4, 3, "metadata.creationTimestamp", /set by an API server/)],
  },
  {
    name: "warns about a status that carries content",
    text: edit(KUBECTL_DRY_RUN, "status: {}", "status: {phase: Running}"),
    valid: true,
    problems: [warning(15, 1, "status", /reported by the agent/)],
  },
];

for (const c of EMPTY_SERVER_FIELD_CASES) {
  Deno.test(`parseManifest ${c.name}`, () => {
    const m = parseManifest(FILE, c.text);
    assertProblems(m, c.problems);
    assert.equal(m.valid, c.valid);
  });
}

Deno.test("parseManifest gives kubectl's dry-run output the spec hash of the same pod without the empty fields", async () => {
  const bare = edit(edit(KUBECTL_DRY_RUN, "  creationTimestamp: null\n", ""), "status: {}\n", "");
  const [a, b] = [KUBECTL_DRY_RUN, bare].map((t) => parseManifest(FILE, t).pods[0]!.pod);
  assert.equal(await specHash(a!), await specHash(b!));
});
