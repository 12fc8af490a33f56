import assert from "node:assert/strict";
import { formatProblem, type Manifest, parseManifest } from "../lib/manifest/parse.ts";

const FILE = "/etc/tinylet/manifests/app.yaml";

/** Each problem as `line:column severity field: message`, for one readable comparison. */
function problems(m: Manifest): string[] {
  return m.problems.map((p) => `${p.line}:${p.column} ${p.severity} ${p.field}: ${p.message}`);
}

/** The bytes of ASCII text, for the expected values of a Secret. */
function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (ch) => ch.charCodeAt(0));
}

// Line numbers below are counted by hand in this text (1-based).
const MIXED = [
  "apiVersion: v1", //            1  the ConfigMap starts here
  "kind: ConfigMap", //           2
  "metadata:", //                 3
  "  name: app-config", //        4
  "data:", //                     5
  "  mode: fast", //              6
  "---", //                       7
  "apiVersion: v1", //            8  the Secret starts here
  "kind: Secret", //              9
  "metadata:", //                 10
  "  name: db", //                11
  "  namespace: shop", //         12
  "type: Opaque", //              13
  "data:", //                     14
  "  password: aHVudGVyMg==", //  15 ("hunter2")
  "stringData:", //               16
  "  user: admin", //             17
  "---", //                       18
  "name: web", //                 19 the short-form pod starts here
  "containers:", //               20
  "  - name: app", //             21
  "    image: busybox", //        22
  "",
].join("\n");

Deno.test("parseManifest routes ConfigMaps and Secrets to objects and pods to pods, each with where its document starts", () => {
  const m = parseManifest(FILE, MIXED);
  assert.deepEqual(problems(m), []);
  assert.equal(m.valid, true);
  assert.deepEqual(m.objects, [
    {
      line: 1,
      column: 1,
      object: {
        kind: "ConfigMap",
        name: "app-config",
        namespace: "default",
        data: { mode: "fast" },
        binaryData: {},
        immutable: false,
      },
    },
    {
      line: 8,
      column: 1,
      object: {
        kind: "Secret",
        name: "db",
        namespace: "shop",
        type: "Opaque",
        data: { password: ascii("hunter2"), user: ascii("admin") },
        immutable: false,
      },
    },
  ]);
  assert.deepEqual(m.pods, [{
    line: 19,
    column: 1,
    pod: {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "web" },
      spec: { containers: [{ name: "app", image: "busybox" }] },
    },
  }]);
});

Deno.test("a file of only a ConfigMap is valid, with no pods", () => {
  const m = parseManifest(FILE, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n");
  assert.deepEqual(problems(m), []);
  assert.equal(m.valid, true);
  assert.deepEqual(m.pods, []);
  assert.deepEqual(m.objects.map((o) => [o.object.kind, o.object.name]), [["ConfigMap", "c"]]);
});

Deno.test("a file of only a Secret is valid, with no pods", () => {
  const m = parseManifest(FILE, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n");
  assert.deepEqual(problems(m), []);
  assert.equal(m.valid, true);
  assert.deepEqual(m.pods, []);
  assert.deepEqual(m.objects.map((o) => [o.object.kind, o.object.name]), [["Secret", "s"]]);
});

const POSITIONED = [
  "apiVersion: v1", //            1
  "kind: ConfigMap", //           2
  "metadata:", //                 3
  "  name: cfg", //               4
  "data:", //                     5
  '  "bad key": x', //            6  key at column 3
  "  good: y", //                 7
  "spec: {}", //                  8  unknown field at column 1
  "---", //                       9
  "apiVersion: v1", //            10
  "kind: Secret", //              11
  "metadata:", //                 12
  "  name: s", //                 13
  "data:", //                     14
  '  token: "not base64!"', //    15 key at column 3
  "",
].join("\n");

Deno.test("the findings of a ConfigMap and a Secret are placed at their line and column, and the file gives nothing", () => {
  const m = parseManifest(FILE, POSITIONED);
  assert.deepEqual(problems(m), [
    `6:3 error data.bad key: Rename the key "bad key" in data: it must consist of letters, digits, '-', '_' or '.'`,
    `8:1 warning spec: Ignoring unknown field "spec"`,
    `15:3 error data.token: Encode the value of "token" in data as base64 (e.g. with \`base64 -w0\`), or move it as plain text to stringData: it is not standard base64 with padding (A-Z, a-z, 0-9, '+' and '/', padded with "=" to a multiple of 4 characters; URL-safe base64 is not read)`,
  ]);
  assert.equal(m.valid, false);
  assert.deepEqual(m.objects, []);
  assert.deepEqual(m.pods, []);
  assert.ok(!m.problems.some((p) => p.message.includes("not base64!")));
  assert.equal(
    formatProblem(m.problems[0]!),
    `${FILE}:6:3: error: Rename the key "bad key" in data: it must consist of letters, digits, '-', '_' or '.' (field data.bad key)`,
  );
});

Deno.test("a pod's error makes the whole file invalid: its ConfigMaps are not given either", () => {
  const text = [
    "apiVersion: v1", //        1
    "kind: ConfigMap", //       2
    "metadata: {name: c}", //   3
    "---", //                   4
    "name: web", //             5
    "containers: []", //        6
    "",
  ].join("\n");
  const m = parseManifest(FILE, text);
  assert.deepEqual(problems(m), [
    "6:1 error containers: Add at least one container: the list is empty",
  ]);
  assert.deepEqual(m.objects, []);
});

Deno.test("two ConfigMaps of the same namespace and name in one file are an error naming the first line", () => {
  const text = [
    "apiVersion: v1", //                               1
    "kind: ConfigMap", //                              2
    "metadata: {name: a}", //                          3
    "---", //                                          4
    "apiVersion: v1", //                               5
    "kind: ConfigMap", //                              6
    "metadata: {name: a, namespace: default}", //      7
    "---", //                                          8
    "apiVersion: v1", //                               9
    "kind: ConfigMap", //                              10
    "metadata: {name: a}", //                          11
    "",
  ].join("\n");
  const m = parseManifest(FILE, text);
  assert.deepEqual(problems(m), [
    `5:1 error : Rename one of the ConfigMaps: "default/a" is declared twice in this file (first at line 1)`,
    `9:1 error : Rename one of the ConfigMaps: "default/a" is declared twice in this file (first at line 1)`,
  ]);
  assert.equal(m.valid, false);
  assert.deepEqual(m.objects, []);
});

Deno.test("two Secrets of the same namespace and name in one file are an error naming the first line", () => {
  const text = [
    "apiVersion: v1", //                          1
    "kind: Secret", //                            2
    "metadata: {name: s, namespace: shop}", //    3
    "---", //                                     4
    "apiVersion: v1", //                          5
    "kind: Secret", //                            6
    "metadata: {name: s, namespace: shop}", //    7
    "",
  ].join("\n");
  assert.deepEqual(problems(parseManifest(FILE, text)), [
    `5:1 error : Rename one of the Secrets: "shop/s" is declared twice in this file (first at line 1)`,
  ]);
});

Deno.test("a pod, a ConfigMap and a Secret may share a name, and so may objects of other namespaces", () => {
  const text = [
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}",
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: other}",
    "apiVersion: v1\nkind: Secret\nmetadata: {name: a}",
    "name: a\ncontainers:\n  - name: app\n    image: busybox",
  ].join("\n---\n");
  const m = parseManifest(FILE, text);
  assert.deepEqual(problems(m), []);
  assert.deepEqual(m.objects.map((o) => [o.object.kind, o.object.namespace, o.object.name]), [
    ["ConfigMap", "default", "a"],
    ["ConfigMap", "other", "a"],
    ["Secret", "default", "a"],
  ]);
  assert.deepEqual(m.pods.map((p) => p.pod.metadata.name), ["a"]);
});

Deno.test("a ConfigMap's apiVersion must be v1", () => {
  const m = parseManifest(FILE, "apiVersion: v2\nkind: ConfigMap\nmetadata: {name: c}\n");
  assert.deepEqual(problems(m), [
    `1:1 error apiVersion: Set apiVersion to "v1" for kind: ConfigMap: it is "v2"`,
  ]);
});

const KIND_CASES: { name: string; text: string; problems: string[] }[] = [
  {
    name: "a kind spelled in another case is an error naming the right spelling",
    text: "apiVersion: v1\nkind: configmap\nmetadata: {name: c}\n",
    problems: ['2:1 error kind: Write the kind as "ConfigMap": it is "configmap"'],
  },
  {
    name: "a Secret spelled in capitals is an error naming the right spelling",
    text: "apiVersion: v1\nkind: SECRET\nmetadata: {name: s}\n",
    problems: ['2:1 error kind: Write the kind as "Secret": it is "SECRET"'],
  },
  {
    name: "a kind tinylet does not read is skipped, naming the three it reads",
    text: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
    problems: [
      '2:1 warning kind: Skipping this document: kind "Deployment" is not read by tinylet (only kind: Pod, ConfigMap and Secret)',
    ],
  },
  {
    name: "a document with apiVersion and no kind is told the kinds",
    text: "apiVersion: v1\nmetadata: {name: d}\n",
    problems: [
      '1:1 error kind: Add "kind: Pod" (or ConfigMap, or Secret): a document with "apiVersion" must say its kind',
    ],
  },
  {
    name: "a document that is not a mapping is told the kinds",
    text: "just text\n",
    problems: [
      "1:1 error : Write the document as a mapping (a pod, ConfigMap or Secret): it is a string",
    ],
  },
  {
    name: "an empty file is told it may declare a ConfigMap or Secret",
    text: "# nothing yet\n",
    problems: [
      "1:1 error : Declare a pod, ConfigMap or Secret, or delete the file: it is empty or only comments (its running pods are kept until then)",
    ],
  },
];

for (const c of KIND_CASES) {
  Deno.test(`parseManifest: ${c.name}`, () => {
    const m = parseManifest(FILE, c.text);
    assert.deepEqual(problems(m), c.problems);
    assert.deepEqual(m.objects, []);
  });
}

// A pod first, so the Secret's document is not at line 1.
const WITH_SECRET = [
  "name: web", //                 1
  "containers:", //               2
  "  - name: app", //             3
  "    image: busybox", //        4
  "---", //                       5
  "apiVersion: v1", //            6  the Secret starts here
  "kind: Secret", //              7
  "metadata: {name: db}", //      8
  "stringData: {password: hunter2}", // 9
  "",
].join("\n");

const REGULAR = 0o100000;

const ACCESS_CASES: { mode: number; insecure: boolean; problems: string[] }[] = [
  { mode: REGULAR | 0o600, insecure: false, problems: [] },
  { mode: REGULAR | 0o400, insecure: false, problems: [] },
  { mode: REGULAR | 0o700, insecure: false, problems: [] },
  {
    mode: REGULAR | 0o644,
    insecure: false,
    problems: [
      `6:1 error : Make the file readable by its owner only: it holds a Secret and is readable by its group and others (mode 0644), and a Secret file must not be readable by group or others. Run "chmod go-rwx ${FILE}", or pass --insecure-manifest-permissions`,
    ],
  },
  {
    mode: REGULAR | 0o640,
    insecure: false,
    problems: [
      `6:1 error : Make the file readable by its owner only: it holds a Secret and is readable by its group (mode 0640), and a Secret file must not be readable by group or others. Run "chmod go-rwx ${FILE}", or pass --insecure-manifest-permissions`,
    ],
  },
  {
    mode: REGULAR | 0o604,
    insecure: false,
    problems: [
      `6:1 error : Make the file readable by its owner only: it holds a Secret and is readable by others (mode 0604), and a Secret file must not be readable by group or others. Run "chmod go-rwx ${FILE}", or pass --insecure-manifest-permissions`,
    ],
  },
  {
    mode: REGULAR | 0o644,
    insecure: true,
    problems: [
      `6:1 warning : Make the file readable by its owner only: it holds a Secret and is readable by its group and others (mode 0644), and a Secret file must not be readable by group or others. Run "chmod go-rwx ${FILE}"`,
    ],
  },
];

for (const c of ACCESS_CASES) {
  const mode = (c.mode & 0o777).toString(8);
  Deno.test(
    `a file holding a Secret at mode ${mode}${c.insecure ? " (insecure)" : ""} is ${
      c.problems.length === 0 ? "accepted" : c.problems[0]!.includes("error") ? "refused" : "warned"
    } at the Secret's document`,
    () => {
      const m = parseManifest(FILE, WITH_SECRET, { mode: c.mode, insecure: c.insecure });
      assert.deepEqual(problems(m), c.problems);
      const valid = !c.problems.some((p) => p.includes(" error "));
      assert.equal(m.valid, valid);
      assert.equal(m.objects.length, valid ? 1 : 0);
      assert.equal(m.pods.length, valid ? 1 : 0);
      assert.ok(!m.problems.some((p) => p.message.includes("hunter2")));
    },
  );
}

Deno.test("a file without a Secret may be readable by anyone, and without a mode no rule applies", () => {
  const configMap = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
  assert.deepEqual(
    problems(parseManifest(FILE, configMap, { mode: 0o100644, insecure: false })),
    [],
  );
  assert.deepEqual(problems(parseManifest(FILE, WITH_SECRET)), []);
});

Deno.test("a Secret with errors in a readable file gets both errors, the permissions once", () => {
  const text = [
    "apiVersion: v1", //                  1
    "kind: Secret", //                    2
    "metadata: {name: a}", //             3
    "data: {k: '!!'}", //                 4
    "---", //                             5
    "apiVersion: v1", //                  6
    "kind: Secret", //                    7
    "metadata: {name: b}", //             8
    "",
  ].join("\n");
  const m = parseManifest(FILE, text, { mode: 0o100660, insecure: false });
  assert.deepEqual(problems(m).map((p) => p.slice(0, p.indexOf(":", 5))), [
    "1:1 error ",
    "4:8 error data.k",
  ]);
  assert.match(
    m.problems[0]!.message,
    /^Make the file readable by its owner only: .*\(mode 0660\)/,
  );
});

// The short form and the v1 form, as before ConfigMaps and Secrets were read.
const SHORT = [
  "name: web",
  "namespace: shop",
  "containers:",
  "  - name: app",
  "    image: docker.io/library/busybox:1.36",
  '    command: ["sleep", "3600"]',
  "",
].join("\n");

const V1 = [
  "apiVersion: v1",
  "kind: Pod",
  "metadata:",
  "  name: web",
  "  labels: {app: web}",
  "spec:",
  "  terminationGracePeriodSeconds: 5",
  "  containers:",
  "    - name: app",
  "      image: busybox",
  "",
].join("\n");

Deno.test("the short form still parses exactly as before, with no objects", () => {
  for (const access of [undefined, { mode: 0o100644, insecure: false }]) {
    assert.deepEqual(parseManifest(FILE, SHORT, access), {
      file: FILE,
      pods: [{
        line: 1,
        column: 1,
        pod: {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "web", namespace: "shop" },
          spec: {
            containers: [{
              name: "app",
              image: "docker.io/library/busybox:1.36",
              command: ["sleep", "3600"],
            }],
          },
        },
      }],
      objects: [],
      problems: [],
      valid: true,
    });
  }
});

Deno.test("a v1 Pod still parses exactly as before, with no objects", () => {
  assert.deepEqual(parseManifest(FILE, V1), {
    file: FILE,
    pods: [{
      line: 1,
      column: 1,
      pod: {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "web", labels: { app: "web" } },
        spec: {
          terminationGracePeriodSeconds: 5,
          containers: [{ name: "app", image: "busybox" }],
        },
      },
    }],
    objects: [],
    problems: [],
    valid: true,
  });
});

Deno.test("two pods of the same name still name the first line, and a third names it too", () => {
  const pod = "name: web\ncontainers:\n  - name: app\n    image: busybox";
  const m = parseManifest(FILE, [pod, pod, pod].join("\n---\n"));
  assert.deepEqual(problems(m), [
    `6:1 error : Rename one of the pods: "default/web" is declared twice in this file (first at line 1)`,
    `11:1 error : Rename one of the pods: "default/web" is declared twice in this file (first at line 1)`,
  ]);
});
