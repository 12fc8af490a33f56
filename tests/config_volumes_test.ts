import assert from "node:assert/strict";
import { writePayload } from "../lib/node/atomic_writer.ts";
import type { ConfigLookup } from "../lib/translate/config_lookup.ts";
import {
  type PayloadResult,
  type PodFacts,
  volumePayload,
  volumeReferences,
  type VolumeSource,
} from "../lib/translate/config_volumes.ts";

const POD: PodFacts = {
  name: "web-1",
  namespace: "shop",
  uid: "6f1c7a2e-0b4d-4c55-9e2a-1d3b5f7a9c11",
  labels: { tier: "web", app: "shop", "app.kubernetes.io/name": "store", quote: 'say "hi"\nbye' },
  annotations: { note: 'line one\nline "two"\ttabbed', "example.com/empty": "" },
};

const bytes = (text: string) => new TextEncoder().encode(text);

const CONFIG_MAPS: Record<
  string,
  { data: Record<string, string>; binaryData?: Record<string, Uint8Array> }
> = {
  "shop/app": {
    data: { "b.conf": "two\n", "a.conf": "one\n", both: "from data" },
    binaryData: { "logo.bin": new Uint8Array([0xff, 0x00, 0x10]), both: new Uint8Array([0xfe]) },
  },
  "shop/extra": { data: { "a.conf": "extra a\n", "z.conf": "zed\n" } },
};

const SECRETS: Record<string, { data: Record<string, Uint8Array> }> = {
  "shop/db": {
    data: { password: bytes("hunter2\n"), "tls.key": new Uint8Array([0x00, 0xc3, 0x28, 0xff]) },
  },
};

const LOOKUP: ConfigLookup = {
  configMap: (namespace, name) => CONFIG_MAPS[`${namespace}/${name}`],
  secret: (namespace, name) => SECRETS[`${namespace}/${name}`],
};

/** A file as written in the expectations: path, content (text or bytes), mode in octal. */
type Want = [path: string, content: string | number[], mode: string];

/** The payload's files in the expectations' form; text when the bytes are UTF-8. */
function files(result: PayloadResult): { files: Want[]; memory: boolean } {
  if (!result.ok) assert.fail(`expected a payload, got: ${result.message}`);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const out: Want[] = [];
  for (const [path, { data, mode }] of result.payload) {
    let content: string | number[];
    try {
      content = decoder.decode(data);
    } catch {
      content = [...data];
    }
    out.push([path, content, mode.toString(8)]);
  }
  return { files: out, memory: result.memory };
}

function message(result: PayloadResult): string {
  if (result.ok) assert.fail(`expected a failure, got ${result.payload.size} files`);
  return result.message;
}

const cases: { name: string; source: VolumeSource; want: Want[]; memory: boolean }[] = [
  {
    name:
      "a configMap without items gives every data and binaryData key at its own path, mode 0644",
    source: { configMap: { name: "app" } },
    want: [
      ["a.conf", "one\n", "644"],
      ["b.conf", "two\n", "644"],
      // In both data and binaryData (an invalid object): binaryData's, as kubelet writes it last.
      ["both", [0xfe], "644"],
      ["logo.bin", [0xff, 0x00, 0x10], "644"],
    ],
    memory: false,
  },
  {
    name: "defaultMode applies to every key",
    source: { configMap: { name: "extra", defaultMode: 0o600 } },
    want: [["a.conf", "extra a\n", "600"], ["z.conf", "zed\n", "600"]],
    memory: false,
  },
  {
    name: "items give only their keys, at their paths, with their own mode over defaultMode",
    source: {
      configMap: {
        name: "app",
        defaultMode: 0o440,
        items: [
          { key: "a.conf", path: "etc/first.conf", mode: 0o400 },
          { key: "logo.bin", path: "img/logo" },
          { key: "both", path: "both" },
        ],
      },
    },
    want: [
      // With items, a key in both is data's.
      ["both", "from data", "440"],
      ["etc/first.conf", "one\n", "400"],
      ["img/logo", [0xff, 0x00, 0x10], "440"],
    ],
    memory: false,
  },
  {
    name: "item paths are cleaned as kubelet's writer cleans them: ./k, dir/, a//b",
    source: {
      configMap: {
        name: "app",
        items: [
          { key: "a.conf", path: "./first" },
          { key: "b.conf", path: "conf/" },
          { key: "logo.bin", path: "img//logo" },
        ],
      },
    },
    want: [["conf", "two\n", "644"], ["first", "one\n", "644"], [
      "img/logo",
      [0xff, 0x00, 0x10],
      "644",
    ]],
    memory: false,
  },
  {
    name: "secret item paths are cleaned too",
    source: {
      secret: {
        secretName: "db",
        items: [{ key: "password", path: "./pw/" }, { key: "tls.key", path: "tls/./key" }],
      },
    },
    want: [["pw", "hunter2\n", "644"], ["tls/key", [0x00, 0xc3, 0x28, 0xff], "644"]],
    memory: true,
  },
  {
    name: "an empty items list is no items",
    source: { configMap: { name: "extra", items: [] } },
    want: [["a.conf", "extra a\n", "644"], ["z.conf", "zed\n", "644"]],
    memory: false,
  },
  {
    name: "two items at one path in a configMap volume: the last is written, as kubelet does",
    source: {
      configMap: {
        name: "app",
        items: [{ key: "a.conf", path: "x" }, { key: "b.conf", path: "x", mode: 0o444 }],
      },
    },
    want: [["x", "two\n", "444"]],
    memory: false,
  },
  {
    name: "an optional configMap that is missing gives an empty volume",
    source: { configMap: { name: "absent", optional: true, items: [{ key: "k", path: "k" }] } },
    want: [],
    memory: false,
  },
  {
    name: "an optional configMap skips an item whose key is missing and keeps the others",
    source: {
      configMap: {
        name: "app",
        optional: true,
        items: [{ key: "nope", path: "nope" }, { key: "b.conf", path: "b" }],
      },
    },
    want: [["b", "two\n", "644"]],
    memory: false,
  },
  {
    name: "a secret gives its decoded bytes unchanged, and goes on a tmpfs",
    source: { secret: { secretName: "db" } },
    want: [["password", "hunter2\n", "644"], ["tls.key", [0x00, 0xc3, 0x28, 0xff], "644"]],
    memory: true,
  },
  {
    name: "secret items with modes and defaultMode",
    source: {
      secret: {
        secretName: "db",
        defaultMode: 0o400,
        items: [{ key: "password", path: "pw" }, { key: "tls.key", path: "tls/key", mode: 0o440 }],
      },
    },
    want: [["pw", "hunter2\n", "400"], ["tls/key", [0x00, 0xc3, 0x28, 0xff], "440"]],
    memory: true,
  },
  {
    name: "an optional secret that is missing gives an empty volume, still on a tmpfs",
    source: { secret: { secretName: "absent", optional: true } },
    want: [],
    memory: true,
  },
  {
    name: "an optional secret skips an item whose key is missing",
    source: {
      secret: {
        secretName: "db",
        optional: true,
        items: [{ key: "token", path: "token" }, { key: "password", path: "pw" }],
      },
    },
    want: [["pw", "hunter2\n", "644"]],
    memory: true,
  },
  {
    name: "a projected volume merges its sources, with the downward API's formatting",
    source: {
      projected: {
        defaultMode: 0o440,
        sources: [
          { configMap: { name: "app", items: [{ key: "a.conf", path: "conf/a.conf" }] } },
          { secret: { name: "db", items: [{ key: "password", path: "creds/pw", mode: 0o400 }] } },
          {
            downwardAPI: {
              items: [
                { path: "labels", fieldRef: { fieldPath: "metadata.labels" } },
                { path: "annotations", fieldRef: { fieldPath: "metadata.annotations" } },
                { path: "meta/name", fieldRef: { fieldPath: "metadata.name" }, mode: 0o444 },
                { path: "meta/namespace", fieldRef: { fieldPath: "metadata.namespace" } },
                { path: "meta/uid", fieldRef: { fieldPath: "metadata.uid" } },
                { path: "./app//label", fieldRef: { fieldPath: "metadata.labels['app']" } },
                { path: "quote", fieldRef: { fieldPath: "metadata.labels['quote']" } },
                { path: "none", fieldRef: { fieldPath: "metadata.annotations['example.com/x']" } },
              ],
            },
          },
        ],
      },
    },
    want: [
      ["annotations", 'example.com/empty=""\nnote="line one\\nline \\"two\\"\\ttabbed"', "440"],
      ["app/label", "shop", "440"],
      ["conf/a.conf", "one\n", "440"],
      ["creds/pw", "hunter2\n", "400"],
      [
        "labels",
        'app="shop"\napp.kubernetes.io/name="store"\nquote="say \\"hi\\"\\nbye"\ntier="web"',
        "440",
      ],
      ["meta/name", "web-1", "444"],
      ["meta/namespace", "shop", "440"],
      ["meta/uid", "6f1c7a2e-0b4d-4c55-9e2a-1d3b5f7a9c11", "440"],
      ["none", "", "440"],
      // A single key is its value as written, not quoted.
      ["quote", 'say "hi"\nbye', "440"],
    ],
    memory: true,
  },
  {
    name:
      "a projected volume without a secret source still goes on a tmpfs; its default mode is 0644",
    source: { projected: { sources: [{ configMap: { name: "extra" } }] } },
    want: [["a.conf", "extra a\n", "644"], ["z.conf", "zed\n", "644"]],
    memory: true,
  },
  {
    name: "a path two projected sources make from their keys is the later source's",
    source: {
      projected: { sources: [{ configMap: { name: "app" } }, { configMap: { name: "extra" } }] },
    },
    want: [
      ["a.conf", "extra a\n", "644"],
      ["b.conf", "two\n", "644"],
      ["both", [0xfe], "644"],
      ["logo.bin", [0xff, 0x00, 0x10], "644"],
      ["z.conf", "zed\n", "644"],
    ],
    memory: true,
  },
  {
    name: "a projected volume's optional missing sources add nothing",
    source: {
      projected: {
        sources: [
          { secret: { name: "absent", optional: true } },
          { configMap: { name: "absent", optional: true } },
          { configMap: { name: "extra", items: [{ key: "z.conf", path: "z" }] } },
        ],
      },
    },
    want: [["z", "zed\n", "644"]],
    memory: true,
  },
  {
    name: "a projected volume without sources is empty, on a tmpfs",
    source: { projected: {} },
    want: [],
    memory: true,
  },
];

for (const c of cases) {
  Deno.test(`volumePayload: ${c.name}`, () => {
    assert.deepEqual(files(volumePayload(POD, c.source, LOOKUP)), {
      files: c.want,
      memory: c.memory,
    });
  });
}

const failures: { name: string; source: VolumeSource; want: string }[] = [
  {
    name: "a missing configMap that is not optional fails with kubelet's message",
    source: { configMap: { name: "absent" } },
    want: 'configmap "absent" not found: add a ConfigMap "absent" in namespace "shop" to the ' +
      "manifests, or make the volume's configMap optional",
  },
  {
    name: "a missing secret that is not optional fails with kubelet's message",
    source: { secret: { secretName: "absent", optional: false } },
    want: 'secret "absent" not found: add a Secret "absent" in namespace "shop" to the ' +
      "manifests, or make the volume's secret optional",
  },
  {
    name: "a configMap item whose key is missing fails",
    source: {
      configMap: { name: "app", items: [{ key: "a.conf", path: "a" }, { key: "nope", path: "n" }] },
    },
    want: 'configmap references non-existent config key: nope: add the key to ConfigMap "app", ' +
      "or remove the item",
  },
  {
    name: "a key named like an object's built-in property is missing, not found on the prototype",
    source: { configMap: { name: "app", items: [{ key: "constructor", path: "c" }] } },
    want:
      'configmap references non-existent config key: constructor: add the key to ConfigMap "app", ' +
      "or remove the item",
  },
  {
    name: "a secret item whose key is missing fails, naming the key and no value",
    source: {
      secret: {
        secretName: "db",
        items: [{ key: "password", path: "pw" }, { key: "token", path: "t" }],
      },
    },
    want:
      'references non-existent secret key: token: add the key to Secret "db", or remove the item',
  },
  {
    name: "an item path given twice in a projected volume is refused before any lookup",
    source: {
      projected: {
        sources: [
          { configMap: { name: "absent", items: [{ key: "a.conf", path: "conf" }] } },
          { downwardAPI: { items: [{ path: "conf", fieldRef: { fieldPath: "metadata.name" } }] } },
        ],
      },
    },
    want: 'Fix item path "conf" of downwardAPI: conflicting duplicate paths; each item of a ' +
      "projected volume needs its own path",
  },
  {
    name: "x in one projected source and ./x in another are one path, refused as a duplicate",
    source: {
      projected: {
        sources: [
          { configMap: { name: "app", items: [{ key: "a.conf", path: "x" }] } },
          { downwardAPI: { items: [{ path: "./x", fieldRef: { fieldPath: "metadata.name" } }] } },
        ],
      },
    },
    want: 'Fix item path "./x" of downwardAPI: conflicting duplicate paths ("x" once cleaned); ' +
      "each item of a projected volume needs its own path",
  },
  {
    name: "an item path that starts with '..' once cleaned is refused as the writer refuses it",
    source: { configMap: { name: "app", items: [{ key: "a.conf", path: "./..x" }] } },
    want: 'Fix item path "./..x" of configMap "app": rename payload path "..x": names starting ' +
      'with ".." are the volume\'s own (..data)',
  },
  {
    name: "an item path with a component over 255 bytes is refused as the writer refuses it",
    source: {
      secret: { secretName: "db", items: [{ key: "password", path: `d//${"x".repeat(256)}` }] },
    },
    want: `Fix item path "d//${"x".repeat(256)}" of secret "db": shorten payload path ` +
      `"d/${"x".repeat(256)}": a component is 256 bytes, over the limit of 255`,
  },
  {
    name: "an item path that names the volume's root once cleaned is refused",
    source: { configMap: { name: "app", items: [{ key: "a.conf", path: "./." }] } },
    want: 'Fix item path "./." of configMap "app": it names the volume\'s root; give a relative ' +
      "path inside the volume",
  },
  {
    name: "an item path with a '..' component is refused",
    source: { configMap: { name: "app", items: [{ key: "a.conf", path: "etc/../../x" }] } },
    want: 'Fix item path "etc/../../x" of configMap "app": it has a \'..\' component; give a ' +
      "relative path inside the volume",
  },
  {
    name: "an absolute item path is refused, even for an optional object",
    source: {
      secret: { secretName: "absent", optional: true, items: [{ key: "k", path: "/etc/k" }] },
    },
    want:
      'Fix item path "/etc/k" of secret "absent": it is absolute; give a relative path inside ' +
      "the volume",
  },
  {
    name: "an item path starting with '..' (the writer's own names) is refused",
    source: { configMap: { name: "app", items: [{ key: "a.conf", path: "..data" }] } },
    want:
      'Fix item path "..data" of configMap "app": it starts with \'..\'; give a relative path ' +
      "inside the volume",
  },
  {
    name: "a downward API path that names the volume's root is refused",
    source: {
      projected: {
        sources: [{
          downwardAPI: { items: [{ path: "./", fieldRef: { fieldPath: "metadata.uid" } }] },
        }],
      },
    },
    want: 'Fix item path "./" of downwardAPI: it names the volume\'s root; give a relative path ' +
      "inside the volume",
  },
  {
    name: "each failing projected source is listed, as kubelet's aggregate lists them",
    source: {
      projected: {
        sources: [
          { configMap: { name: "absent" } },
          { secret: { name: "db" } },
          {
            downwardAPI: {
              items: [
                { path: "node", fieldRef: { fieldPath: "spec.nodeName" } },
                { path: "cpu", resourceFieldRef: { resource: "limits.cpu" } },
                { path: "nothing" },
              ],
            },
          },
          { serviceAccountToken: { path: "token" } },
        ],
      },
    },
    want: '[configmap "absent" not found: add a ConfigMap "absent" in namespace "shop" to the ' +
      "manifests, or make the volume's configMap optional, " +
      "unsupported fieldPath: spec.nodeName: use one of metadata.name, metadata.namespace, " +
      "metadata.uid, metadata.labels, metadata.annotations, metadata.labels['KEY'] or " +
      "metadata.annotations['KEY'], " +
      'Use fieldRef for downwardAPI item "cpu": resourceFieldRef ("limits.cpu") is not ' +
      "available in volumes, " +
      'Give downwardAPI item "nothing" a fieldRef, ' +
      'Use configMap, secret or downwardAPI in projected source 3: "serviceAccountToken" is ' +
      "not supported]",
  },
];

for (const c of failures) {
  Deno.test(`volumePayload: ${c.name}`, () => {
    const got = message(volumePayload(POD, c.source, LOOKUP));
    assert.equal(got, c.want);
    assert.ok(!got.includes("hunter2"), "a message shows a secret value");
  });
}

Deno.test("volumePayload: a failure message never holds a value of the objects it read", () => {
  const source: VolumeSource = {
    projected: {
      sources: [
        {
          secret: {
            name: "db",
            items: [{ key: "password", path: "pw" }, { key: "gone", path: "g" }],
          },
        },
        {
          configMap: {
            name: "app",
            items: [{ key: "a.conf", path: "a" }, { key: "gone", path: "h" }],
          },
        },
      ],
    },
  };
  const got = message(volumePayload(POD, source, LOOKUP));
  assert.equal(
    got,
    '[references non-existent secret key: gone: add the key to Secret "db", or remove the item, ' +
      'configmap references non-existent config key: gone: add the key to ConfigMap "app", ' +
      "or remove the item]",
  );
  for (const value of ["hunter2", "one\n"]) assert.ok(!got.includes(value), value);
});

Deno.test("volumePayload: a payload of cleaned item paths is one the atomic writer writes", async () => {
  const source: VolumeSource = {
    projected: {
      sources: [
        { configMap: { name: "app", items: [{ key: "a.conf", path: "./conf//a.conf" }] } },
        { secret: { name: "db", items: [{ key: "password", path: "creds/pw/" }] } },
      ],
    },
  };
  const result = volumePayload(POD, source, LOOKUP);
  if (!result.ok) assert.fail(result.message);
  const dir = await Deno.makeTempDir({ prefix: "tinylet-config-volumes-" });
  try {
    assert.deepEqual(await writePayload(dir, result.payload), { changed: true });
    assert.equal(await Deno.readTextFile(`${dir}/conf/a.conf`), "one\n");
    assert.equal(await Deno.readTextFile(`${dir}/creds/pw`), "hunter2\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("volumeReferences: names each object a volume reads, with its optional flag", () => {
  assert.deepEqual(volumeReferences({ configMap: { name: "app" } }), [
    { kind: "ConfigMap", name: "app", optional: false },
  ]);
  assert.deepEqual(volumeReferences({ secret: { secretName: "db", optional: true } }), [
    { kind: "Secret", name: "db", optional: true },
  ]);
  assert.deepEqual(
    volumeReferences({
      projected: {
        sources: [
          { secret: { name: "db" } },
          { downwardAPI: { items: [] } },
          { configMap: { name: "app", optional: true } },
          { configMap: { name: "extra", optional: false } },
        ],
      },
    }),
    [
      { kind: "Secret", name: "db", optional: false },
      { kind: "ConfigMap", name: "app", optional: true },
      { kind: "ConfigMap", name: "extra", optional: false },
    ],
  );
  assert.deepEqual(volumeReferences({ projected: {} }), []);
});
