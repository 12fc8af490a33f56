import assert from "node:assert/strict";
import { formatProblem, parseManifest } from "../lib/manifest/parse.ts";

/** A base Pod; each case edits one thing. Lines are numbered in the comments. */
const BASE = [
  "apiVersion: v1", // 1
  "kind: Pod", // 2
  "metadata:", // 3
  "  name: web", // 4
  "spec:", // 5
  "  containers:", // 6
  "    - name: app", // 7
  "      image: busybox:1.35", // 8
  "      volumeMounts:", // 9
  "        - name: data", // 10
  "          mountPath: /data", // 11
  "  volumes:", // 12
  "    - name: data", // 13
  "      emptyDir: {}", // 14
  "",
].join("\n");

function edit(from: string, to: string): string {
  assert.ok(BASE.includes(from), from);
  return BASE.replace(from, to);
}

/** A path of exactly `bytes` bytes: "/" and components of at most 255 "c"s. */
function pathOf(bytes: number): string {
  let out = "";
  while (out.length < bytes) {
    out += "/" + "c".repeat(Math.min(255, bytes - out.length - 1));
  }
  return out;
}

const C255 = "c".repeat(255);
const C256 = "c".repeat(256);
const TOO_LONG = `its component "${
  "c".repeat(24)
}"... has 256 bytes, more than the 255 a file name may have (File name too long)`;

const CASES: { name: string; text: string; problems: string[] }[] = [
  {
    name: "the base pod has no problems",
    text: BASE,
    problems: [],
  },
  {
    name: "a mounted configMap volume is accepted",
    text: edit("      emptyDir: {}", "      configMap:\n        name: settings"),
    problems: [],
  },
  {
    name: "a mounted downwardAPI volume is an error: tinylet cannot provide it",
    text: edit("      emptyDir: {}", "      downwardAPI:\n        items: []"),
    problems: [
      'x.yaml:10:11: error: Replace volume "data": tinylet cannot provide "downwardAPI" volumes; use hostPath, emptyDir, configMap, secret or projected (field spec.containers[0].volumeMounts[0].name)',
    ],
  },
  {
    name: "an unmounted secret volume is accepted",
    text: BASE + "    - name: token\n      secret:\n        secretName: t\n",
    problems: [],
  },
  {
    name: "an unmounted persistentVolumeClaim volume is only a warning",
    text: BASE + "    - name: claim\n      persistentVolumeClaim:\n        claimName: c\n",
    problems: [
      'x.yaml:16:7: warning: Ignoring volume "claim": "persistentVolumeClaim" volumes are not supported (field spec.volumes[1].persistentVolumeClaim)',
    ],
  },
  {
    name: "a projected volume with a serviceAccountToken source is an error at the source",
    text: edit(
      "      emptyDir: {}",
      "      projected:\n        sources:\n          - serviceAccountToken: {path: token}",
    ),
    problems: [
      "x.yaml:16:13: error: Remove the serviceAccountToken source: service account tokens are issued by a cluster's API server, and tinylet has none; put a token you have in a Secret and project it with a secret source (field spec.volumes[0].projected.sources[0].serviceAccountToken)",
    ],
  },
  {
    name: "a configMap item mode of 644 is an error at the mode, shown in octal",
    text: edit(
      "      emptyDir: {}",
      "      configMap:\n        name: settings\n        items:\n          - {key: a, path: a, mode: 644}",
    ),
    problems: [
      'x.yaml:17:31: error: Set "mode" to a number from 0 to 0777 (octal), both inclusive: it is 644 (0o1204 in octal); for the mode 0644, write 0o644 or the decimal 420 (field spec.volumes[0].configMap.items[0].mode)',
    ],
  },
  {
    name: "a mount of an undeclared volume is an error",
    text: edit("        - name: data", "        - name: logs"),
    problems: [
      'x.yaml:10:11: error: Declare volume "logs" under spec.volumes, or remove this mount (field spec.containers[0].volumeMounts[0].name)',
    ],
  },
  {
    name: "a probe with two handlers is an error",
    text: edit(
      "      volumeMounts:",
      '      livenessProbe:\n        exec: {command: ["true"]}\n        tcpSocket: {port: 80}\n      volumeMounts:',
    ),
    problems: [
      "x.yaml:9:7: error: Give livenessProbe exactly one of exec, httpGet, tcpSocket or grpc: it has 2 (field spec.containers[0].livenessProbe)",
    ],
  },
  {
    name: "a probe port that names no port of the container is an error",
    text: edit(
      "      volumeMounts:",
      "      readinessProbe:\n        httpGet: {port: http}\n      volumeMounts:",
    ),
    problems: [
      'x.yaml:10:19: error: Name one of the container\'s ports, or give a number: "http" is not among its ports (it names none) (field spec.containers[0].readinessProbe.httpGet.port)',
    ],
  },
  {
    name: "env from a secret is accepted",
    text: edit(
      "      volumeMounts:",
      "      env:\n        - name: PW\n          valueFrom:\n            secretKeyRef: {name: s, key: k}\n      volumeMounts:",
    ),
    problems: [],
  },
  {
    name: "env from a resourceFieldRef is an error",
    text: edit(
      "      volumeMounts:",
      "      env:\n        - name: CPU\n          valueFrom:\n            resourceFieldRef: {resource: limits.cpu}\n      volumeMounts:",
    ),
    problems: [
      'x.yaml:12:13: error: Replace "valueFrom.resourceFieldRef" of "CPU": tinylet does not provide container resources as variables; use fieldRef, configMapKeyRef or secretKeyRef, or write the value itself with "value" (field spec.containers[0].env[0].valueFrom.resourceFieldRef)',
    ],
  },
  {
    name: "a secretKeyRef without a key is an error at the selector",
    text: edit(
      "      volumeMounts:",
      "      env:\n        - name: PW\n          valueFrom:\n            secretKeyRef: {name: s}\n      volumeMounts:",
    ),
    problems: [
      'x.yaml:12:13: error: Add the required field "key" (field spec.containers[0].env[0].valueFrom.secretKeyRef.key)',
    ],
  },
  {
    name: "a field reference tinylet cannot resolve is an error",
    text: edit(
      "      volumeMounts:",
      "      env:\n        - name: SA\n          valueFrom:\n            fieldRef: {fieldPath: spec.serviceAccountName}\n      volumeMounts:",
    ),
    problems: [
      'x.yaml:12:24: error: Change the fieldPath "spec.serviceAccountName": tinylet can provide metadata.name, metadata.namespace, metadata.uid, spec.nodeName, status.podIP (field spec.containers[0].env[0].valueFrom.fieldRef.fieldPath)',
    ],
  },
  {
    name: "envFrom is accepted",
    text: edit(
      "      volumeMounts:",
      "      envFrom:\n        - configMapRef: {name: c}\n      volumeMounts:",
    ),
    problems: [],
  },
  {
    name: "an envFrom item with neither a configMapRef nor a secretRef is an error at the item",
    text: edit(
      "      volumeMounts:",
      "      envFrom:\n        - prefix: P_\n      volumeMounts:",
    ),
    problems: [
      "x.yaml:10:11: error: Give envFrom[0] a configMapRef or a secretRef: it has neither (field spec.containers[0].envFrom[0])",
    ],
  },
  {
    name: "a cpu request above its limit is an error",
    text: edit(
      "      volumeMounts:",
      "      resources:\n        requests: {cpu: 600m}\n        limits: {cpu: 500m}\n      volumeMounts:",
    ),
    problems: [
      'x.yaml:10:20: error: Lower the cpu request to at most the limit: "600m" is more than "500m" (field spec.containers[0].resources.requests.cpu)',
    ],
  },
  {
    name: "a malformed quantity is an error",
    text: edit(
      "      volumeMounts:",
      "      resources:\n        limits: {memory: 1gb}\n      volumeMounts:",
    ),
    problems: [],
  },
  {
    name: "with hostNetwork, a hostPort that differs from its containerPort is an error",
    text: edit(
      "spec:\n",
      "spec:\n  hostNetwork: true\n",
    ).replace(
      "      volumeMounts:",
      "      ports:\n        - containerPort: 80\n          hostPort: 8080\n      volumeMounts:",
    ),
    problems: [
      'x.yaml:12:11: error: Set "hostPort" to the containerPort (80) or leave it out: with hostNetwork they are the same port (field spec.containers[0].ports[0].hostPort)',
    ],
  },
  {
    name: "a misspelt field gets a did-you-mean",
    text: edit("      image: busybox:1.35", "      image: busybox:1.35\n      WorkingDir: /srv"),
    problems: [
      'x.yaml:9:7: warning: Ignoring unknown field "WorkingDir" (did you mean "workingDir"?) (field spec.containers[0].WorkingDir)',
    ],
  },
  {
    name: "an unknown hostPath type is an error naming the allowed ones",
    text: edit("      emptyDir: {}", "      hostPath: {path: /srv, type: Dir}"),
    problems: [
      'x.yaml:14:30: error: Set "type" to one of "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice": it is "Dir" (field spec.volumes[0].hostPath.type)',
    ],
  },
  {
    name: "a mountPath component of 255 bytes is accepted",
    text: edit("mountPath: /data", `mountPath: /${C255}`),
    problems: [],
  },
  {
    name: "a mountPath component of 256 bytes is an error: no file name can be that long",
    text: edit("mountPath: /data", `mountPath: /${C256}`),
    problems: [
      `x.yaml:11:11: error: Shorten the mountPath: ${TOO_LONG} (field spec.containers[0].volumeMounts[0].mountPath)`,
    ],
  },
  {
    name: "a mountPath component of 128 two-byte characters is 256 bytes, an error",
    text: edit("mountPath: /data", `mountPath: /${"é".repeat(128)}`),
    problems: [
      `x.yaml:11:11: error: Shorten the mountPath: its component "${
        "é".repeat(24)
      }"... has 256 bytes, more than the 255 a file name may have (File name too long) (field spec.containers[0].volumeMounts[0].mountPath)`,
    ],
  },
  {
    name: "a mountPath of 4095 bytes is accepted",
    text: edit("mountPath: /data", `mountPath: ${pathOf(4095)}`),
    problems: [],
  },
  {
    name: "a mountPath of 4096 bytes is an error: PATH_MAX counts the final NUL",
    text: edit("mountPath: /data", `mountPath: ${pathOf(4096)}`),
    problems: [
      "x.yaml:11:11: error: Shorten the mountPath: it has 4096 bytes, more than the 4095 a path may have (File name too long) (field spec.containers[0].volumeMounts[0].mountPath)",
    ],
  },
  {
    name: "a subPath component of 256 bytes is an error",
    text: edit("mountPath: /data", `mountPath: /data\n          subPath: a/${C256}`),
    problems: [
      `x.yaml:12:11: error: Shorten the subPath: ${TOO_LONG} (field spec.containers[0].volumeMounts[0].subPath)`,
    ],
  },
  {
    name: "a hostPath component of 256 bytes is an error",
    text: edit("      emptyDir: {}", `      hostPath:\n        path: /srv/${C256}`),
    problems: [
      `x.yaml:15:9: error: Shorten the hostPath: ${TOO_LONG} (field spec.volumes[0].hostPath.path)`,
    ],
  },
  {
    name: "a workingDir component of 256 bytes is an error",
    text: edit(
      "      image: busybox:1.35",
      `      image: busybox:1.35\n      workingDir: /${C256}`,
    ),
    problems: [
      `x.yaml:9:7: error: Shorten the workingDir: ${TOO_LONG} (field spec.containers[0].workingDir)`,
    ],
  },
  {
    name: "dnsPolicy None without nameservers is an error",
    text: edit("spec:\n", "spec:\n  dnsPolicy: None\n"),
    problems: [
      'x.yaml:6:3: error: Add dnsConfig.nameservers: dnsPolicy "None" takes DNS from dnsConfig only (field spec.dnsPolicy)',
    ],
  },
];

for (const c of CASES) {
  Deno.test(`pod schema: ${c.name}`, () => {
    const m = parseManifest("x.yaml", c.text);
    if (c.name.startsWith("a malformed quantity")) {
      // The quantity module owns the wording; here only the position and field matter.
      assert.equal(m.problems.length, 1, m.problems.map(formatProblem).join("\n"));
      assert.match(
        formatProblem(m.problems[0]!),
        /^x\.yaml:10:18: error: .*\(field spec\.containers\[0\]\.resources\.limits\.memory\)$/,
      );
      assert.equal(m.valid, false);
      return;
    }
    assert.deepEqual(m.problems.map(formatProblem), c.problems);
    assert.equal(m.valid, !c.problems.some((p) => p.includes(": error: ")));
  });
}
