import assert from "node:assert/strict";
import { parseManifest } from "../lib/manifest/parse.ts";
import {
  canonicalJson,
  containerHash,
  type Pod,
  POD_UID_LENGTH,
  podLogDirName,
  podUid,
  specHash,
} from "../lib/manifest/pod.ts";
import { podLogDirectory } from "../lib/node/paths.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SPEC_HASH = /^v1:[0-9a-f]{64}$/;

/** Hex SHA-256 of `text`, computed here, independently of lib/pod.ts. */
async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

/** The one pod of a manifest text; fails on any problem. */
function onlyPod(text: string, file = "/m/web.yaml"): Pod {
  const m = parseManifest(file, text);
  assert.deepEqual(m.problems, [], `problems in ${JSON.stringify(text)}`);
  assert.equal(m.pods.length, 1);
  return m.pods[0]!.pod;
}

// The base manifest: the short form.
const BASE = [
  "name: web",
  "namespace: shop",
  "containers:",
  "  - name: app",
  "    image: docker.io/library/busybox:1.36",
  '    command: ["sleep", "3600"]',
  "    args:",
  '      - "--verbose"',
  "",
].join("\n");

/** Texts that declare exactly the base pod, written differently. */
const SAME_POD_CASES: { name: string; text: string; file?: string }[] = [
  {
    name: "comments",
    text: [
      "# the web pod",
      "name: web # its name",
      "namespace: shop",
      "containers: # one",
      "  # the app",
      "  - name: app",
      "    image: docker.io/library/busybox:1.36",
      '    command: ["sleep", "3600"]',
      "    args:",
      '      - "--verbose" # loud',
      "# the end",
      "",
    ].join("\n"),
  },
  {
    name: "whitespace and flow style",
    text: [
      "",
      "name:    web",
      "",
      "namespace: shop   ",
      "containers:",
      "- {name: app,   image: docker.io/library/busybox:1.36,",
      "   command: [ sleep , '3600' ], args: [--verbose]}",
      "",
      "",
    ].join("\n"),
  },
  {
    name: "key order",
    text: [
      "containers:",
      "  - args:",
      '      - "--verbose"',
      '    command: ["sleep", "3600"]',
      "    image: docker.io/library/busybox:1.36",
      "    name: app",
      "namespace: shop",
      "name: web",
      "",
    ].join("\n"),
  },
  {
    name: "quoting",
    text: [
      "'name': \"web\"",
      "namespace: 'shop'",
      '"containers":',
      "  - name: 'app'",
      '    image: "docker.io/library/busybox:1.36"',
      "    command: [sleep, '3600']",
      "    args:",
      "      - --verbose",
      "",
    ].join("\n"),
  },
  {
    name: "a leading document marker",
    text: "---\n" + BASE,
  },
  {
    name: "JSON",
    file: "/m/web.json",
    text: JSON.stringify({
      name: "web",
      namespace: "shop",
      containers: [{
        name: "app",
        image: "docker.io/library/busybox:1.36",
        command: ["sleep", "3600"],
        args: ["--verbose"],
      }],
    }),
  },
  {
    name: "the written-out v1 form",
    text: [
      "apiVersion: v1",
      "kind: Pod",
      "metadata:",
      "  name: web",
      "  namespace: shop",
      "spec:",
      "  containers:",
      "    - name: app",
      "      image: docker.io/library/busybox:1.36",
      '      command: ["sleep", "3600"]',
      '      args: ["--verbose"]',
      "",
    ].join("\n"),
  },
  {
    name: "the written-out v1 form in JSON, keys reordered",
    file: "/m/web.json",
    text: JSON.stringify(
      {
        spec: {
          containers: [{
            args: ["--verbose"],
            command: ["sleep", "3600"],
            image: "docker.io/library/busybox:1.36",
            name: "app",
          }],
        },
        metadata: { namespace: "shop", name: "web" },
        kind: "Pod",
        apiVersion: "v1",
      },
      null,
      2,
    ),
  },
];

for (const c of SAME_POD_CASES) {
  Deno.test(`specHash does not change with ${c.name}`, async () => {
    const base = await specHash(onlyPod(BASE));
    const other = await specHash(onlyPod(c.text, c.file));
    assert.equal(other, base);
  });
}

Deno.test("specHash does not change with metadata an API server sets", async () => {
  const text = [
    "apiVersion: v1",
    "kind: Pod",
    "metadata:",
    "  name: web",
    "  namespace: shop",
    "  uid: 0b8e7c1e-0000-4000-8000-000000000000",
    "  resourceVersion: '42'",
    "spec:",
    "  containers:",
    "    - name: app",
    "      image: docker.io/library/busybox:1.36",
    '      command: ["sleep", "3600"]',
    '      args: ["--verbose"]',
    "status:",
    "  phase: Running",
    "",
  ].join("\n");
  const m = parseManifest("/m/web.yaml", text);
  assert.equal(m.valid, true);
  assert.equal(
    await specHash(m.pods[0]!.pod),
    await specHash(onlyPod(BASE)),
  );
});

/** Texts that declare a different pod than the base: one thing changed. */
const CHANGED_POD_CASES: { name: string; text: string }[] = [
  {
    name: "the image changes",
    text: BASE.replace("busybox:1.36", "busybox:1.37"),
  },
  {
    name: "the command changes",
    text: BASE.replace('"3600"', '"3601"'),
  },
  {
    name: "the args change",
    text: BASE.replace('"--verbose"', '"--quiet"'),
  },
  {
    name: "the container is renamed",
    text: BASE.replace("- name: app", "- name: app2"),
  },
  {
    name: "the pod is renamed",
    text: BASE.replace("name: web", "name: web2"),
  },
  {
    name: "the namespace changes",
    text: BASE.replace("namespace: shop", "namespace: shop2"),
  },
  {
    name: "the default namespace is written out, since no defaults are filled in",
    text: BASE.replace("namespace: shop\n", "").replace(
      "name: web\n",
      "name: web\nnamespace: default\n",
    ),
  },
];

for (const c of CHANGED_POD_CASES) {
  Deno.test(`specHash changes when ${c.name}`, async () => {
    assert.notEqual(c.text, BASE);
    const base = await specHash(onlyPod(BASE));
    const other = await specHash(onlyPod(c.text));
    assert.notEqual(other, base);
  });
}

const V1_WITH_LABELS = [
  "apiVersion: v1",
  "kind: Pod",
  "metadata:",
  "  name: web",
  "  labels:",
  "    app: web",
  "spec:",
  "  containers:",
  "    - name: app",
  "      image: busybox",
  "",
].join("\n");

const LABEL_CASES = [
  {
    name: "a label value changes",
    text: V1_WITH_LABELS.replace("app: web", "app: shop"),
  },
  {
    name: "a label is added",
    text: V1_WITH_LABELS.replace("    app: web", "    app: web\n    tier: a"),
  },
  {
    name: "an annotation is added",
    text: V1_WITH_LABELS.replace(
      "spec:",
      "  annotations:\n    note: hi\nspec:",
    ),
  },
];

for (const c of LABEL_CASES) {
  Deno.test(`specHash changes when ${c.name}`, async () => {
    assert.notEqual(c.text, V1_WITH_LABELS);
    const base = await specHash(onlyPod(V1_WITH_LABELS));
    const other = await specHash(onlyPod(c.text));
    assert.notEqual(other, base);
  });
}

Deno.test("specHash is v1: and 64 hex digits", async () => {
  assert.match(await specHash(onlyPod(BASE)), SPEC_HASH);
});

Deno.test("specHash is the SHA-256 of the canonical JSON of a tiny pod", async () => {
  const pod: Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "a" },
    spec: { containers: [{ name: "c", image: "i" }] },
  };
  // Written by hand: keys sorted at every depth, no whitespace.
  const canonical =
    '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[{"image":"i","name":"c"}]}}';
  assert.equal(await specHash(pod), `v1:${await sha256Hex(canonical)}`);
});

Deno.test("specHash of the tiny short form matches the same hand-written canonical JSON", async () => {
  const pod = onlyPod("name: a\ncontainers:\n- {image: i, name: c}\n");
  const canonical =
    '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[{"image":"i","name":"c"}]}}';
  assert.equal(await specHash(pod), `v1:${await sha256Hex(canonical)}`);
});

Deno.test("specHash reduces metadata to name, namespace, labels and annotations", async () => {
  const metadata = {
    name: "a",
    namespace: "n",
    labels: { x: "1" },
    annotations: { y: "2" },
    uid: "ignored",
    resourceVersion: "7",
  };
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata,
    spec: { containers: [{ name: "c", image: "i" }] },
  } as Pod;
  const canonical =
    '{"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{"y":"2"},"labels":{"x":"1"},"name":"a","namespace":"n"},"spec":{"containers":[{"image":"i","name":"c"}]}}';
  assert.equal(await specHash(pod), `v1:${await sha256Hex(canonical)}`);
});

const HASH_A = `v1:${"a".repeat(64)}`;
const HASH_B = `v1:${"b".repeat(64)}`;

Deno.test("podUid is shaped like a UUID", async () => {
  assert.match(await podUid("default", "web", HASH_A), UUID);
});

Deno.test("podUid is stable for the same inputs", async () => {
  assert.equal(
    await podUid("default", "web", HASH_A),
    await podUid("default", "web", HASH_A),
  );
});

const UID_CHANGE_CASES: {
  name: string;
  args: [namespace: string, name: string, hash: string];
}[] = [
  { name: "the hash", args: ["default", "web", HASH_B] },
  { name: "the name", args: ["default", "web2", HASH_A] },
  { name: "the namespace", args: ["shop", "web", HASH_A] },
];

for (const c of UID_CHANGE_CASES) {
  Deno.test(`podUid changes with ${c.name}`, async () => {
    assert.notEqual(
      await podUid(...c.args),
      await podUid("default", "web", HASH_A),
    );
  });
}

Deno.test("podUid is the first 128 bits of SHA-256 over namespace, name and hash joined by newlines", async () => {
  const h = await sha256Hex(`default\nweb\n${HASH_A}`);
  const expected = [
    h.slice(0, 8),
    h.slice(8, 12),
    h.slice(12, 16),
    h.slice(16, 20),
    h.slice(20, 32),
  ].join("-");
  assert.equal(await podUid("default", "web", HASH_A), expected);
});

const CANONICAL_CASES: { name: string; value: unknown; json: string }[] = [
  {
    name: "sorts the keys at every depth",
    value: { b: 1, a: { d: [{ z: 1, y: { q: 2, p: 3 } }], c: "x" } },
    json: '{"a":{"c":"x","d":[{"y":{"p":3,"q":2},"z":1}]},"b":1}',
  },
  {
    name: "keeps the order of lists",
    value: { list: ["b", "a", { k: 2, j: 1 }] },
    json: '{"list":["b","a",{"j":1,"k":2}]}',
  },
  {
    name: "keeps white space inside strings but writes none of its own",
    value: { s: "a b\tc", n: null, t: true, e: [] },
    json: '{"e":[],"n":null,"s":"a b\\tc","t":true}',
  },
  {
    name: "leaves out undefined fields",
    value: { a: undefined, b: 1 },
    json: '{"b":1}',
  },
  {
    name: "sorts keys by code unit, upper case first",
    value: { b: 1, B: 2, a: 3, _: 4 },
    json: '{"B":2,"_":4,"a":3,"b":1}',
  },
];

for (const c of CANONICAL_CASES) {
  Deno.test(`canonicalJson ${c.name}`, () => {
    assert.equal(canonicalJson(c.value), c.json);
  });
}

Deno.test("containerHash is 16 hex digits: the first 64 bits of SHA-256 of the canonical container", async () => {
  const expected = (await sha256Hex('{"image":"i","name":"c"}')).slice(0, 16);
  assert.equal(await containerHash({ name: "c", image: "i" }), expected);
});

Deno.test("containerHash does not change with key order", async () => {
  assert.equal(
    await containerHash({ image: "i", name: "c", command: ["x"] }),
    await containerHash({ command: ["x"], name: "c", image: "i" }),
  );
});

const CONTAINER_CHANGE_CASES = [
  { name: "the image", c: { name: "c", image: "j" } },
  { name: "the command", c: { name: "c", image: "i", command: ["sh"] } },
  { name: "the args", c: { name: "c", image: "i", args: ["-v"] } },
  { name: "the name", c: { name: "d", image: "i" } },
];

for (const c of CONTAINER_CHANGE_CASES) {
  Deno.test(`containerHash changes with ${c.name}`, async () => {
    assert.notEqual(
      await containerHash(c.c),
      await containerHash({ name: "c", image: "i" }),
    );
  });
}

Deno.test("a field written as null hashes like the field left out", async () => {
  const a = parseManifest("/m/a.yaml", "name: web\ncontainers:\n  - name: c\n    image: busybox\n");
  const b = parseManifest(
    "/m/b.yaml",
    "name: web\ncontainers:\n  - name: c\n    image: busybox\n    command: ~\n    args:\n",
  );
  assert.deepEqual(b.problems, []);
  assert.equal(await specHash(b.pods[0]!.pod), await specHash(a.pods[0]!.pod));
  assert.deepEqual(b.pods[0]!.pod.spec.containers[0], { name: "c", image: "busybox" });
});

Deno.test("podUid has POD_UID_LENGTH characters, which the log directory limit counts on", async () => {
  for (const name of ["a", "a".repeat(253)]) {
    assert.equal((await podUid("default", name, HASH_A)).length, POD_UID_LENGTH);
  }
  assert.equal(POD_UID_LENGTH, 36);
});

Deno.test("podLogDirName is <namespace>_<name>_<uid>, one path component, as the agent makes it", () => {
  const uid = "0123abcd-0000-0000-0000-000000000000";
  assert.equal(podLogDirName("kube-system", "etcd", uid), `kube-system_etcd_${uid}`);
  assert.equal(
    podLogDirectory("/var/log/pods", "kube-system", "etcd", uid),
    `/var/log/pods/kube-system_etcd_${uid}`,
  );
});
