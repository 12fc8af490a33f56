import assert from "node:assert/strict";
import {
  envPrefixMessage,
  fileModeMessage,
  itemPathError,
  volumeFieldPathMessage,
} from "../lib/manifest/config_refs_check.ts";
import { formatProblem, type Manifest, parseManifest } from "../lib/manifest/parse.ts";
import type {
  ConfigMapVolumeSource,
  ProjectedVolumeSource,
  SecretVolumeSource,
  V1Container,
  V1Volume,
} from "../lib/manifest/types.ts";
import type { FieldPath } from "../lib/manifest/yaml.ts";
import { PayloadError, payloadPathError, writePayload } from "../lib/node/atomic_writer.ts";
import type { EnvSpec } from "../lib/translate/config_env.ts";
import type { ConfigLookup } from "../lib/translate/config_lookup.ts";
import {
  volumePayload,
  volumeReferences,
  type VolumeSource,
} from "../lib/translate/config_volumes.ts";
import { type PodFacts, podFieldValue } from "../lib/translate/pod_fields.ts";

/** A pod using every kind of reference; each case changes one thing. */
function basePod() {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web" },
    spec: {
      containers: [{
        name: "app",
        image: "busybox:1.36",
        env: [
          { name: "MODE", valueFrom: { configMapKeyRef: { name: "settings", key: "mode" } } },
          {
            name: "PW",
            valueFrom: { secretKeyRef: { name: "db", key: "password", optional: true } },
          },
          { name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        ],
        envFrom: [
          { configMapRef: { name: "settings" } },
          { prefix: "DB_", secretRef: { name: "db", optional: false } },
        ],
        volumeMounts: [
          { name: "conf", mountPath: "/etc/app" },
          { name: "creds", mountPath: "/run/creds", readOnly: true },
          { name: "all", mountPath: "/run/all" },
        ],
      }],
      volumes: [
        {
          name: "conf",
          configMap: {
            name: "settings",
            items: [{ key: "app.conf", path: "conf/app.conf", mode: 0o640 }],
            defaultMode: 0o644,
            optional: true,
          },
        },
        {
          name: "creds",
          secret: {
            secretName: "db",
            items: [{ key: "password", path: "pw" }],
            defaultMode: 0o400,
          },
        },
        {
          name: "all",
          projected: {
            defaultMode: 0o440,
            sources: [
              { configMap: { name: "settings", items: [{ key: "app.conf", path: "app.conf" }] } },
              { secret: { name: "db", optional: true } },
              {
                downwardAPI: {
                  items: [
                    { path: "name", fieldRef: { fieldPath: "metadata.name" } },
                    {
                      path: "labels",
                      fieldRef: { fieldPath: "metadata.labels", apiVersion: "v1" },
                      mode: 0o444,
                    },
                    { path: "tier", fieldRef: { fieldPath: "metadata.labels['tier']" } },
                  ],
                },
              },
            ],
          },
        },
      ],
    },
  };
}

/** Sets (or, for undefined, deletes) the field at `path` of `doc`, which must hold its parent. */
function setAt(doc: unknown, path: FieldPath, value: unknown): void {
  let parent = doc as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) {
    const next = parent[key];
    assert.ok(typeof next === "object" && next !== null, `no ${String(key)} in ${path.join(".")}`);
    parent = next as Record<string | number, unknown>;
  }
  const last = path.at(-1)!;
  if (value === undefined) {
    assert.ok(last in parent, `no ${String(last)} to delete in ${path.join(".")}`);
    delete parent[last];
  } else parent[last] = value;
}

/** The problems as `severity: message (field f)`; positions are pod_schema_test's concern. */
function problems(m: Manifest): string[] {
  return m.problems.map((p) => `${p.severity}: ${p.message} (field ${p.field})`);
}

const VOL = ["spec", "volumes"];
const C0 = ["spec", "containers", 0];
const NEEDS_NAME = (field: string) => `error: Add the required field "name" (field ${field})`;
const MODE_RANGE = "to a number from 0 to 0777 (octal), both inclusive";
const VOLUME_FIELDS =
  "metadata.name, metadata.namespace, metadata.uid, metadata.labels, metadata.annotations, metadata.labels['KEY'] or metadata.annotations['KEY']";
const SUBDOMAIN =
  "a name must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit";
const KEY_CHARS = "must consist of letters, digits, '-', '_' or '.'";

const CASES: { name: string; set: [FieldPath, unknown][]; problems: string[] }[] = [
  { name: "the base pod, with every kind of reference, has no problems", set: [], problems: [] },
  {
    name: "a configMap volume without a name is an error",
    set: [[[...VOL, 0, "configMap", "name"], undefined]],
    problems: [NEEDS_NAME("spec.volumes[0].configMap.name")],
  },
  {
    name: "a configMap volume with an empty name is an error",
    set: [[[...VOL, 0, "configMap", "name"], ""]],
    problems: ['error: Set "name": it is empty (field spec.volumes[0].configMap.name)'],
  },
  {
    name: "a ConfigMap name no ConfigMap can have is an error",
    set: [[[...VOL, 0, "configMap", "name"], "Settings_1"]],
    problems: [
      `error: Fix the ConfigMap name "Settings_1": ${SUBDOMAIN} (field spec.volumes[0].configMap.name)`,
    ],
  },
  {
    name: "an item key no ConfigMap can have is an error",
    set: [[[...VOL, 0, "configMap", "items", 0, "key"], "app conf"]],
    problems: [
      `error: Fix the key "app conf": a ConfigMap key ${KEY_CHARS} (field spec.volumes[0].configMap.items[0].key)`,
    ],
  },
  {
    name: "an item without a key is an error",
    set: [[[...VOL, 0, "configMap", "items", 0, "key"], undefined]],
    problems: [
      'error: Add the required field "key" (field spec.volumes[0].configMap.items[0].key)',
    ],
  },
  {
    name: "an item without a path is an error",
    set: [[[...VOL, 0, "configMap", "items", 0, "path"], undefined]],
    problems: [
      'error: Add the required field "path" (field spec.volumes[0].configMap.items[0].path)',
    ],
  },
  {
    name: "an absolute item path is an error",
    set: [[[...VOL, 0, "configMap", "items", 0, "path"], "/etc/app.conf"]],
    problems: [
      'error: Fix the path "/etc/app.conf": it is absolute; give the path of a file inside the volume (field spec.volumes[0].configMap.items[0].path)',
    ],
  },
  {
    name: "an item path with a '..' element is an error",
    set: [[[...VOL, 0, "configMap", "items", 0, "path"], "conf/../../x"]],
    problems: [
      'error: Fix the path "conf/../../x": it has a ".." element; give the path of a file inside the volume (field spec.volumes[0].configMap.items[0].path)',
    ],
  },
  {
    name: "an item path starting with '..' is an error: the volume's ..data link has it",
    set: [[[...VOL, 0, "configMap", "items", 0, "path"], "..data"]],
    problems: [
      `error: Fix the path "..data": it starts with "..", as the volume's own ..data link does; give the path of a file inside the volume (field spec.volumes[0].configMap.items[0].path)`,
    ],
  },
  {
    name: "an item path of '.' is an error: it names the volume itself",
    set: [[[...VOL, 0, "configMap", "items", 0, "path"], "."]],
    problems: [
      'error: Fix the path ".": it names the volume itself, not a file in it; give the path of a file inside the volume (field spec.volumes[0].configMap.items[0].path)',
    ],
  },
  {
    name: "an item path cleaned to one starting with '..' is an error",
    set: [[[...VOL, 0, "configMap", "items", 0, "path"], "./..x"]],
    problems: [
      `error: Fix the path "./..x": it starts with ".." once cleaned to "..x", as the volume's own ..data link does; give the path of a file inside the volume (field spec.volumes[0].configMap.items[0].path)`,
    ],
  },
  {
    name: "an item path with an empty element is accepted, as the API server does (it is cleaned)",
    set: [[[...VOL, 0, "configMap", "items", 0, "path"], "conf//app.conf"]],
    problems: [],
  },
  {
    name: "a mode of 644 is an error that shows it in octal and how to write 0644",
    set: [[[...VOL, 0, "configMap", "items", 0, "mode"], 644]],
    problems: [
      `error: Set "mode" ${MODE_RANGE}: it is 644 (0o1204 in octal); for the mode 0644, write 0o644 or the decimal 420 (field spec.volumes[0].configMap.items[0].mode)`,
    ],
  },
  {
    name: "a negative defaultMode is an error",
    set: [[[...VOL, 0, "configMap", "defaultMode"], -1]],
    problems: [
      `error: Set "defaultMode" ${MODE_RANGE}: it is -1 (field spec.volumes[0].configMap.defaultMode)`,
    ],
  },
  {
    name: "a defaultMode of 0o1000 is an error",
    set: [[[...VOL, 1, "secret", "defaultMode"], 0o1000]],
    problems: [
      `error: Set "defaultMode" ${MODE_RANGE}: it is 512 (0o1000 in octal); for the mode 0512, write 0o512 or the decimal 330 (field spec.volumes[1].secret.defaultMode)`,
    ],
  },
  {
    name: "a defaultMode of 0777 and a mode of 0 are accepted",
    set: [[[...VOL, 0, "configMap", "defaultMode"], 0o777], [
      [...VOL, 0, "configMap", "items", 0, "mode"],
      0,
    ]],
    problems: [],
  },
  {
    name: "a mode written as a string is an error",
    set: [[[...VOL, 2, "projected", "defaultMode"], "0644"]],
    problems: [
      'error: Write "defaultMode" as a whole number: it is "0644" (field spec.volumes[2].projected.defaultMode)',
    ],
  },
  {
    name: "an optional that is no boolean is an error",
    set: [[[...VOL, 0, "configMap", "optional"], "yes"]],
    problems: [
      'error: Write "optional" as true or false: it is "yes" (field spec.volumes[0].configMap.optional)',
    ],
  },
  {
    name: "a secret volume naming its Secret with name, not secretName, is an error",
    set: [[[...VOL, 1, "secret", "secretName"], undefined], [[...VOL, 1, "secret", "name"], "db"]],
    problems: [
      'error: Add the required field "secretName" (field spec.volumes[1].secret.secretName)',
      'warning: Ignoring unknown field "name" (field spec.volumes[1].secret.name)',
    ],
  },
  {
    name: "a Secret item key starting with '..' is an error",
    set: [[[...VOL, 1, "secret", "items", 0, "key"], "..pw"]],
    problems: [
      'error: Fix the key "..pw": a Secret key must not start with ".." (field spec.volumes[1].secret.items[0].key)',
    ],
  },
  {
    name: "a volume with a configMap and a secret is an error",
    set: [[[...VOL, 0, "secret"], { secretName: "db" }]],
    problems: [
      'error: Give volume "conf" one source: it has configMap and secret (field spec.volumes[0].secret)',
    ],
  },
  {
    name: "a mounted downwardAPI volume is still an error",
    set: [[[...VOL, 0, "configMap"], undefined], [[...VOL, 0, "downwardAPI"], { items: [] }]],
    problems: [
      'error: Replace volume "conf": tinylet cannot provide "downwardAPI" volumes; use hostPath, emptyDir, configMap, secret or projected (field spec.containers[0].volumeMounts[0].name)',
    ],
  },
  {
    name: "a projected source of two kinds is an error",
    set: [[[...VOL, 2, "projected", "sources", 1, "configMap"], { name: "other" }]],
    problems: [
      "error: Give projected source 1 one kind: it has configMap and secret (field spec.volumes[2].projected.sources[1].secret)",
    ],
  },
  {
    name: "a projected source of no kind is an error",
    set: [[[...VOL, 2, "projected", "sources", 1], {}]],
    problems: [
      "error: Give projected source 1 one of configMap, secret or downwardAPI: it has none (field spec.volumes[2].projected.sources[1])",
    ],
  },
  {
    name: "a serviceAccountToken source is an error: it needs a cluster",
    set: [[[...VOL, 2, "projected", "sources", 1], {
      serviceAccountToken: { path: "token", expirationSeconds: 3600 },
    }]],
    problems: [
      "error: Remove the serviceAccountToken source: service account tokens are issued by a cluster's API server, and tinylet has none; put a token you have in a Secret and project it with a secret source (field spec.volumes[2].projected.sources[1].serviceAccountToken)",
    ],
  },
  {
    name: "a clusterTrustBundle source is an error: it needs a cluster",
    set: [[[...VOL, 2, "projected", "sources", 1], {
      clusterTrustBundle: { name: "example.com:ca", path: "ca.pem" },
    }]],
    problems: [
      "error: Remove the clusterTrustBundle source: ClusterTrustBundles are objects of a cluster's API server, and tinylet has none; put the certificates in a ConfigMap and project it with a configMap source (field spec.volumes[2].projected.sources[1].clusterTrustBundle)",
    ],
  },
  {
    name: "a downwardAPI item naming a field a volume cannot show is an error",
    set: [[
      [...VOL, 2, "projected", "sources", 2, "downwardAPI", "items", 0, "fieldRef", "fieldPath"],
      "spec.nodeName",
    ]],
    problems: [
      `error: Change the fieldPath "spec.nodeName": a volume can show ${VOLUME_FIELDS} (field spec.volumes[2].projected.sources[2].downwardAPI.items[0].fieldRef.fieldPath)`,
    ],
  },
  {
    name: "a downwardAPI item naming a label key that cannot be is an error",
    set: [[
      [...VOL, 2, "projected", "sources", 2, "downwardAPI", "items", 2, "fieldRef", "fieldPath"],
      "metadata.labels['bad key']",
    ]],
    problems: [
      `error: Fix the key "bad key" in the fieldPath "metadata.labels['bad key']": its name must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit (field spec.volumes[2].projected.sources[2].downwardAPI.items[2].fieldRef.fieldPath)`,
    ],
  },
  {
    name: "a downwardAPI item with a resourceFieldRef is an error saying why",
    set: [
      [[...VOL, 2, "projected", "sources", 2, "downwardAPI", "items", 0, "fieldRef"], undefined],
      [[...VOL, 2, "projected", "sources", 2, "downwardAPI", "items", 0, "resourceFieldRef"], {
        containerName: "app",
        resource: "limits.memory",
      }],
    ],
    problems: [
      `error: Replace the resourceFieldRef of downwardAPI item "name" with a fieldRef: tinylet does not show container resources in volumes; it can show ${VOLUME_FIELDS} (field spec.volumes[2].projected.sources[2].downwardAPI.items[0].resourceFieldRef)`,
    ],
  },
  {
    name: "a downwardAPI item with no field is an error",
    set: [[
      [...VOL, 2, "projected", "sources", 2, "downwardAPI", "items", 0, "fieldRef"],
      undefined,
    ]],
    problems: [
      'error: Add a fieldRef to downwardAPI item "name": it names no field to show (field spec.volumes[2].projected.sources[2].downwardAPI.items[0])',
    ],
  },
  {
    name: "a fieldRef of another apiVersion is an error",
    set: [[
      [...VOL, 2, "projected", "sources", 2, "downwardAPI", "items", 1, "fieldRef", "apiVersion"],
      "v2",
    ]],
    problems: [
      'error: Set "apiVersion" to "v1", or leave it out: it is "v2", and a pod\'s fields are v1 (field spec.volumes[2].projected.sources[2].downwardAPI.items[1].fieldRef.apiVersion)',
    ],
  },
  {
    name: "one path given twice in a projected volume is an error, compared once cleaned",
    set: [[
      [...VOL, 2, "projected", "sources", 2, "downwardAPI", "items", 0, "path"],
      "./app.conf",
    ]],
    problems: [
      'error: Give the path "./app.conf" ("app.conf" once cleaned) to one item: sources[0].configMap.items[0] writes the same file (field spec.volumes[2].projected.sources[2].downwardAPI.items[0].path)',
    ],
  },
  {
    name: "an item path that another item needs as a directory is an error",
    set: [[[...VOL, 0, "configMap", "items", 1], { key: "mode", path: "conf" }]],
    problems: [
      'error: Change the path "conf": items[0] needs "conf" as a directory, and a file cannot be one (field spec.volumes[0].configMap.items[1].path)',
    ],
  },
  {
    name: "an item path under another item's file is an error, compared once cleaned",
    set: [[[...VOL, 1, "secret", "items", 1], { key: "password", path: "./pw/again" }]],
    problems: [
      'error: Change the path "./pw/again" ("pw/again" once cleaned): items[0] writes "pw" as a file, and this path needs it as a directory (field spec.volumes[1].secret.items[1].path)',
    ],
  },
  {
    name:
      "one path given twice in a configMap volume is accepted: the later item's, as on the node",
    set: [[[...VOL, 0, "configMap", "items", 1], { key: "mode", path: "conf/app.conf" }]],
    problems: [],
  },
  {
    name: "a projected item under another source's file is an error",
    set: [[
      [...VOL, 2, "projected", "sources", 2, "downwardAPI", "items", 0, "path"],
      "app.conf/name",
    ]],
    problems: [
      'error: Change the path "app.conf/name": sources[0].configMap.items[0] writes "app.conf" as a file, and this path needs it as a directory (field spec.volumes[2].projected.sources[2].downwardAPI.items[0].path)',
    ],
  },
  {
    name: "projected sources written as a mapping are an error",
    set: [[[...VOL, 2, "projected", "sources"], { configMap: { name: "settings" } }]],
    problems: [
      'error: Write "sources" as a list: it is a mapping (field spec.volumes[2].projected.sources)',
    ],
  },
  {
    name: "a valueFrom with a configMapKeyRef and a secretKeyRef is an error",
    set: [[[...C0, "env", 0, "valueFrom", "secretKeyRef"], { name: "db", key: "password" }]],
    problems: [
      'error: Give "valueFrom" of "MODE" one source: it has configMapKeyRef and secretKeyRef (field spec.containers[0].env[0].valueFrom.secretKeyRef)',
    ],
  },
  {
    name: "an empty valueFrom is an error",
    set: [[[...C0, "env", 0, "valueFrom"], {}]],
    problems: [
      'error: Give "valueFrom" of "MODE" one of fieldRef, configMapKeyRef or secretKeyRef: it has none (field spec.containers[0].env[0].valueFrom)',
    ],
  },
  {
    name: "a configMapKeyRef without a key is an error",
    set: [[[...C0, "env", 0, "valueFrom", "configMapKeyRef", "key"], undefined]],
    problems: [
      'error: Add the required field "key" (field spec.containers[0].env[0].valueFrom.configMapKeyRef.key)',
    ],
  },
  {
    name: "a configMapKeyRef key no ConfigMap can have is an error",
    set: [[[...C0, "env", 0, "valueFrom", "configMapKeyRef", "key"], "a/b"]],
    problems: [
      `error: Fix the key "a/b": a ConfigMap key ${KEY_CHARS} (field spec.containers[0].env[0].valueFrom.configMapKeyRef.key)`,
    ],
  },
  {
    name: "a secretKeyRef name no Secret can have is an error",
    set: [[[...C0, "env", 1, "valueFrom", "secretKeyRef", "name"], "DB"]],
    problems: [
      `error: Fix the Secret name "DB": ${SUBDOMAIN} (field spec.containers[0].env[1].valueFrom.secretKeyRef.name)`,
    ],
  },
  {
    name: "a secretKeyRef without a name is an error",
    set: [[[...C0, "env", 1, "valueFrom", "secretKeyRef", "name"], undefined]],
    problems: [NEEDS_NAME("spec.containers[0].env[1].valueFrom.secretKeyRef.name")],
  },
  {
    name: "a value beside a valueFrom is an error",
    set: [[[...C0, "env", 0, "value"], "fast"]],
    problems: [
      'error: Remove "value" or "valueFrom" from "MODE": give only one (field spec.containers[0].env[0].valueFrom)',
    ],
  },
  {
    name: "a key selector's optional written as a string is an error",
    set: [[[...C0, "env", 1, "valueFrom", "secretKeyRef", "optional"], "true"]],
    problems: [
      'error: Write "optional" as true or false: it is "true" (field spec.containers[0].env[1].valueFrom.secretKeyRef.optional)',
    ],
  },
  {
    name: "a valueFrom resourceFieldRef is still an error",
    set: [[[...C0, "env", 0, "valueFrom"], { resourceFieldRef: { resource: "limits.cpu" } }]],
    problems: [
      'error: Replace "valueFrom.resourceFieldRef" of "MODE": tinylet does not provide container resources as variables; use fieldRef, configMapKeyRef or secretKeyRef, or write the value itself with "value" (field spec.containers[0].env[0].valueFrom.resourceFieldRef)',
    ],
  },
  {
    name: "a misspelt key selector is a warning and leaves valueFrom with no source",
    set: [[[...C0, "env", 0, "valueFrom"], { configMapKeyref: { name: "settings", key: "mode" } }]],
    problems: [
      'error: Give "valueFrom" of "MODE" one of fieldRef, configMapKeyRef or secretKeyRef: it has none (field spec.containers[0].env[0].valueFrom)',
      'warning: Ignoring unknown field "configMapKeyref" (did you mean "configMapKeyRef"?) (field spec.containers[0].env[0].valueFrom.configMapKeyref)',
    ],
  },
  {
    name: "an envFrom item with a configMapRef and a secretRef is an error",
    set: [[[...C0, "envFrom", 0, "secretRef"], { name: "db" }]],
    problems: [
      "error: Give envFrom[0] one of configMapRef or secretRef: it has both (field spec.containers[0].envFrom[0].secretRef)",
    ],
  },
  {
    name: "an envFrom item with only a prefix is an error",
    set: [[[...C0, "envFrom", 0], { prefix: "APP_" }]],
    problems: [
      "error: Give envFrom[0] a configMapRef or a secretRef: it has neither (field spec.containers[0].envFrom[0])",
    ],
  },
  {
    name: "an envFrom item whose configMapRef is null reads its secretRef, as in Go",
    set: [[[...C0, "envFrom", 1, "configMapRef"], null]],
    problems: [],
  },
  {
    name: "a prefix with '=' is an error",
    set: [[[...C0, "envFrom", 1, "prefix"], "DB="]],
    problems: [
      'error: Change the prefix "DB=": it holds "="; a prefix takes printable ASCII characters other than "=" (field spec.containers[0].envFrom[1].prefix)',
    ],
  },
  {
    name: "a prefix with a character that is not printable ASCII is an error",
    set: [[[...C0, "envFrom", 1, "prefix"], "DB\t"]],
    problems: [
      'error: Change the prefix "DB\\t": it holds a character that is not printable ASCII; a prefix takes printable ASCII characters other than "=" (field spec.containers[0].envFrom[1].prefix)',
    ],
  },
  {
    name: "a prefix of printable ASCII with a space and a dot is accepted, as the API server does",
    set: [[[...C0, "envFrom", 1, "prefix"], "my db."]],
    problems: [],
  },
  {
    name: "a configMapRef without a name is an error",
    set: [[[...C0, "envFrom", 0, "configMapRef"], { optional: true }]],
    problems: [NEEDS_NAME("spec.containers[0].envFrom[0].configMapRef.name")],
  },
  {
    name: "envFrom written as a mapping is an error",
    set: [[[...C0, "envFrom"], { configMapRef: { name: "settings" } }]],
    problems: [
      'error: Write "envFrom" as a list: it is a mapping (field spec.containers[0].envFrom)',
    ],
  },
];

for (const c of CASES) {
  Deno.test(`config refs: ${c.name}`, () => {
    const doc = basePod();
    for (const [path, value] of c.set) setAt(doc, path, value);
    const m = parseManifest("x.yaml", JSON.stringify(doc));
    assert.deepEqual(problems(m), c.problems);
    assert.equal(m.valid, !c.problems.some((p) => p.startsWith("error: ")));
  });
}

Deno.test("config refs: an accepted pod keeps its references as written", () => {
  const m = parseManifest("x.yaml", JSON.stringify(basePod()));
  assert.equal(m.pods.length, 1);
  const spec = m.pods[0]!.pod.spec;
  assert.deepEqual(spec.containers[0]!.envFrom, [
    { configMapRef: { name: "settings" } },
    { prefix: "DB_", secretRef: { name: "db", optional: false } },
  ]);
  assert.deepEqual(spec.volumes?.[1]?.secret, {
    secretName: "db",
    items: [{ key: "password", path: "pw" }],
    defaultMode: 256,
  });
});

Deno.test("config refs: the short form takes env and envFrom references", () => {
  const text = [
    "name: web",
    "containers:",
    "  - name: app",
    "    image: busybox:1.36",
    "    envFrom:",
    "      - configMapRef: {name: settings}",
    "    env:",
    "      - name: PW",
    "        valueFrom:",
    "          secretKeyRef: {name: db, key: password}",
    "",
  ].join("\n");
  const m = parseManifest("x.yaml", text);
  assert.deepEqual(m.problems.map(formatProblem), []);
  assert.deepEqual(m.pods[0]!.pod.spec.containers[0]!.env, [
    { name: "PW", valueFrom: { secretKeyRef: { name: "db", key: "password" } } },
  ]);
});

Deno.test("config refs: the short form reports a bad envFrom item at its field", () => {
  const text = [
    "name: web",
    "containers:",
    "  - name: app",
    "    image: busybox:1.36",
    "    envFrom:",
    "      - prefix: A=",
    "        secretRef: {name: db}",
    "",
  ].join("\n");
  assert.deepEqual(parseManifest("x.yaml", text).problems.map(formatProblem), [
    'x.yaml:6:9: error: Change the prefix "A=": it holds "="; a prefix takes printable ASCII characters other than "=" (field containers[0].envFrom[0].prefix)',
  ]);
});

/** A configMap volume whose one item has `mode`, written as YAML. */
function yamlWithMode(mode: string): string {
  return [
    "apiVersion: v1",
    "kind: Pod",
    "metadata: {name: web}",
    "spec:",
    "  containers: [{name: app, image: busybox:1.36}]",
    "  volumes:",
    "    - name: conf",
    "      configMap:",
    "        name: settings",
    `        defaultMode: ${mode}`,
    "",
  ].join("\n");
}

Deno.test("config refs: a YAML defaultMode of 644 is an error at its line, saying how to write 0644", () => {
  const m = parseManifest("x.yaml", yamlWithMode("644"));
  assert.deepEqual(m.problems.map(formatProblem), [
    `x.yaml:10:9: error: Set "defaultMode" ${MODE_RANGE}: it is 644 (0o1204 in octal); for the mode 0644, write 0o644 or the decimal 420 (field spec.volumes[0].configMap.defaultMode)`,
  ]);
});

const YAML_MODES = [["0o644", 0o644], ["420", 420], ["0o400", 0o400], ["0644", 0o644], [
  "0400",
  0o400,
]] as const;
for (const [written, mode] of YAML_MODES) {
  Deno.test(`config refs: YAML defaultMode ${written} is the mode ${mode.toString(8)}`, () => {
    const m = parseManifest("x.yaml", yamlWithMode(written));
    assert.deepEqual(m.problems, []);
    assert.equal(m.pods[0]!.pod.spec.volumes?.[0]?.configMap?.defaultMode, mode);
  });
}

Deno.test("config refs: file mode messages, at and past both bounds", () => {
  assert.equal(fileModeMessage(0, "mode"), undefined);
  assert.equal(fileModeMessage(0o777, "mode"), undefined);
  assert.equal(
    fileModeMessage(-1, "mode"),
    `Set "mode" ${MODE_RANGE}: it is -1`,
  );
  assert.equal(
    fileModeMessage(1000, "mode"),
    `Set "mode" ${MODE_RANGE}: it is 1000 (0o1750 in octal)`,
  );
  assert.equal(
    fileModeMessage(755, "defaultMode"),
    `Set "defaultMode" ${MODE_RANGE}: it is 755 (0o1363 in octal); for the mode 0755, write 0o755 or the decimal 493`,
  );
  assert.equal(
    fileModeMessage(789, "mode"),
    `Set "mode" ${MODE_RANGE}: it is 789 (0o1425 in octal)`,
  );
});

Deno.test("config refs: envFrom prefixes, as the API server's relaxed rule takes them", () => {
  for (const ok of ["", "APP_", "my db.", "~!@#$%^&*()[]{}<>?/\\|'\" :;,-+"]) {
    assert.equal(envPrefixMessage(ok), undefined, ok);
  }
  const rule = 'a prefix takes printable ASCII characters other than "="';
  assert.equal(envPrefixMessage("="), `Change the prefix "=": it holds "="; ${rule}`);
  assert.equal(
    envPrefixMessage("caf\u00e9_"),
    `Change the prefix "caf\u00e9_": it holds a character that is not printable ASCII; ${rule}`,
  );
  assert.equal(
    envPrefixMessage("A\x7f"),
    `Change the prefix "A\x7f": it holds a character that is not printable ASCII; ${rule}`,
  );
});

const NO_OBJECTS: ConfigLookup = { configMap: () => undefined, secret: () => undefined };
const FACTS: PodFacts = {
  name: "web",
  namespace: "default",
  uid: "6f1c7a2e-0b4d-4c55-9e2a-1d3b5f7a9c11",
  labels: { tier: "web" },
  annotations: { "example.com/Note": "n" },
};

/** Item paths with the reason the manifest gives, undefined for a path it accepts. */
const ITEM_PATHS: [string, string | undefined][] = [
  ["app.conf", undefined],
  ["conf/app.conf", undefined],
  ["conf//app.conf", undefined],
  ["./app.conf", undefined],
  ["conf/", undefined],
  ["a/./b", undefined],
  [".hidden", undefined],
  ["a/..b", undefined],
  ["a/b..", undefined],
  ["c".repeat(255), undefined],
  [`${"d/".repeat(2047)}d`, undefined], // 4095 bytes
  [`${"d/".repeat(2047)}dd`, undefined], // 4096 bytes
  ["", "is empty"],
  ["/abs", "is absolute"],
  ["..", 'has a ".." element'],
  ["a/..", 'has a ".." element'],
  ["../a", 'has a ".." element'],
  ["...", `starts with "..", as the volume's own ..data link does`],
  ["..data/x", `starts with "..", as the volume's own ..data link does`],
  [".", "names the volume itself, not a file in it"],
  ["./", "names the volume itself, not a file in it"],
  ["./..x", `starts with ".." once cleaned to "..x", as the volume's own ..data link does`],
  ["a\0b", "holds a NUL byte"],
  ["c".repeat(256), "has a component of 256 bytes, more than the 255 a file name may have"],
  [
    `x/${"\u00e9".repeat(128)}`,
    "has a component of 256 bytes, more than the 255 a file name may have",
  ],
  [`${"d/".repeat(2048)}d`, "has 4097 bytes, more than the 4096 a path in a volume may have"],
];

for (const [path, reason] of ITEM_PATHS) {
  const shown = path.length > 40
    ? `${path.slice(0, 20)}... (${path.length})`
    : JSON.stringify(path);
  Deno.test(`config refs: item path ${shown} is judged as the node writes it`, () => {
    assert.equal(itemPathError(path), reason);
    // The node's own judgement: config_volumes refuses what the manifest refuses, and only that.
    const source: VolumeSource = {
      configMap: { name: "settings", optional: true, items: [{ key: "k", path }] },
    };
    const node = volumePayload(FACTS, source, NO_OBJECTS);
    assert.equal(node.ok, reason === undefined, node.ok ? "accepted" : node.message);
    // And the writer's, on the path as cleaned, for paths the API server's rules let through.
    const apiAccepts = path !== "" && !path.startsWith("/") && !path.split("/").includes("..") &&
      !path.startsWith("..");
    if (apiAccepts) {
      const cleaned = path.split("/").filter((p) => p !== "" && p !== ".").join("/");
      assert.equal(
        cleaned !== "" && payloadPathError(cleaned) === undefined,
        reason === undefined,
      );
    }
  });
}

/** Downward API field paths, with whether a volume shows them. */
const FIELD_PATHS: [string, boolean][] = [
  ["metadata.name", true],
  ["metadata.namespace", true],
  ["metadata.uid", true],
  ["metadata.labels", true],
  ["metadata.annotations", true],
  ["metadata.labels['tier']", true],
  ["metadata.labels['example.com/tier']", true],
  ["metadata.annotations['Example.com/Note']", true],
  ["metadata.labels['Example.com/tier']", false],
  ["metadata.labels['a/b/c']", false],
  ["metadata.labels['']", false],
  ["metadata.labels['-x']", false],
  [`metadata.labels['${"k".repeat(64)}']`, false],
  ["metadata.name['x']", false],
  ["metadata.labels[tier]", false],
  ["spec.nodeName", false],
  ["status.podIP", false],
  ["metadata.generateName", false],
  ["['x']", false],
];

for (const [fieldPath, shown] of FIELD_PATHS) {
  Deno.test(`config refs: fieldPath ${fieldPath} is ${shown ? "" : "not "}shown, as the node resolves it`, () => {
    assert.equal(volumeFieldPathMessage(fieldPath) === undefined, shown);
    assert.equal(podFieldValue(FACTS, fieldPath).ok, shown);
  });
}

Deno.test("config refs: a volume fieldPath message names the fields a volume shows", () => {
  assert.equal(
    volumeFieldPathMessage("status.podIP"),
    `Change the fieldPath "status.podIP": a volume can show ${VOLUME_FIELDS}`,
  );
  assert.equal(
    volumeFieldPathMessage("metadata.labels['a/b/c']"),
    `Fix the key "a/b/c" in the fieldPath "metadata.labels['a/b/c']": its name has more than one '/'`,
  );
  assert.equal(
    volumeFieldPathMessage("metadata.labels['Example.com/tier']"),
    `Fix the key "Example.com/tier" in the fieldPath "metadata.labels['Example.com/tier']": its prefix before '/' must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit`,
  );
});

Deno.test("config refs: a v1 volume and container fit the node's volume and env types", () => {
  const configMap: V1Volume & { configMap: ConfigMapVolumeSource } = {
    name: "conf",
    configMap: { name: "settings", items: [{ key: "k", path: "p", mode: 0o600 }], optional: true },
  };
  const secret: V1Volume & { secret: SecretVolumeSource } = {
    name: "creds",
    secret: { secretName: "db", defaultMode: 0o400 },
  };
  const projected: V1Volume & { projected: ProjectedVolumeSource } = {
    name: "all",
    projected: {
      sources: [
        { configMap: { name: "settings" } },
        { secret: { name: "db", optional: true } },
        { downwardAPI: { items: [{ path: "n", fieldRef: { fieldPath: "metadata.name" } }] } },
      ],
    },
  };
  // Type-level: each assignment fails `deno check` if the shapes drift apart.
  const sources: VolumeSource[] = [configMap, secret, projected];
  const container: V1Container = {
    name: "app",
    image: "busybox:1.36",
    env: [{ name: "K", valueFrom: { configMapKeyRef: { name: "settings", key: "k" } } }],
    envFrom: [{ prefix: "S_", secretRef: { name: "db", optional: true } }],
  };
  const env: EnvSpec = container;
  assert.deepEqual(sources.map(volumeReferences), [
    [{ kind: "ConfigMap", name: "settings", optional: true }],
    [{ kind: "Secret", name: "db", optional: false }],
    [
      { kind: "ConfigMap", name: "settings", optional: false },
      { kind: "Secret", name: "db", optional: true },
    ],
  ]);
  assert.deepEqual(env.envFrom, [{ prefix: "S_", secretRef: { name: "db", optional: true } }]);
});

Deno.test("config refs: the paths refused as both a file and a directory are those the writer refuses", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = { data: new Uint8Array([1]), mode: 0o644 };
    const pairs: [string[], boolean][] = [
      [["conf/app.conf", "conf"], false],
      [["pw", "pw/again"], false],
      [["conf/app.conf", "conf.d/x"], true],
    ];
    for (const [n, [paths, fine]] of pairs.entries()) {
      const doc = basePod();
      setAt(doc, [...VOL, 0, "configMap", "items"], paths.map((path) => ({ key: "k", path })));
      assert.equal(parseManifest("x.yaml", JSON.stringify(doc)).valid, fine, paths.join(" and "));
      const written = writePayload(`${dir}/${n}`, new Map(paths.map((p) => [p, file])));
      if (fine) assert.deepEqual(await written, { changed: true });
      else await assert.rejects(written, PayloadError);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
