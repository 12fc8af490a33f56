/**
 * Golden files for the translation of a Pod into CRI configs (STYLE.md rule 7).
 *
 * Each `testing/testdata/NAME.yaml` is a manifest as a user writes it; `testdata/NAME.cri.json`
 * holds `{ sandbox, containers: { <name>: ContainerConfig } }`: the `RunPodSandbox` and
 * `CreateContainer` configs kubelet would send for it. The expected values were worked out
 * by hand from kubelet's rules (the derivations, with their sources, are in
 * `testing/testdata/README.md`), never produced by the code under test. Where tinylet and kubelet
 * disagree the golden file says what kubelet does, so the test fails until the code does too.
 *
 * Three values are computed by hashes tested elsewhere (`pod_test.ts`); the golden files
 * write them as placeholders, which this test fills in from the translated pod after checking
 * their form: `$HASH` (the spec hash), `$UID` (the pod UID) and `$CONTAINER_HASH` (the
 * container's own hash). Everything else is literal.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseManifest } from "../lib/manifest/parse.ts";
import {
  type RuntimeFacts,
  type TranslateOptions,
  translatePod,
} from "../lib/translate/desired_pod.ts";
import { buildContainerConfig } from "../lib/translate/container_config.ts";

const TESTDATA = new URL("../testing/testdata/", import.meta.url);

const OPTIONS: TranslateOptions = {
  instance: "default",
  podLogRoot: "/var/log/pods",
  root: "/var/lib/tinylet",
  nodeName: "node1",
  hostDns: { servers: ["192.0.2.53"], searches: ["example.internal"], options: ["ndots:2"] },
};

const FACTS: RuntimeFacts = { podIPs: ["198.18.0.5"], attempt: 0 };

/** The manifest path each case is read from, so `tinylet/source` is literal in the JSON. */
function sourceOf(name: string): string {
  return `/etc/tinylet/manifests/${name}.yaml`;
}

/**
 * The cases, with what each one pins down (the derivations are in testing/testdata/README.md).
 * A YAML file in testdata that is not listed here fails the first test below.
 */
const CASES: Record<string, string> = {
  "short-form": "the original short form: default namespace, command and args, no resources",
  "kubeadm-etcd":
    "a kubeadm static pod: hostNetwork, hostPath mounts, 100m request, pod seccomp, warnings",
  "resources": "cpu shares, quota and memory limit from requests and limits",
  "env-expansion": "$(VAR) expansion in env, command and args; field references",
  "security": "pod and container security contexts, sysctls, a privileged container",
  "network": "hostname, ports, dnsPolicy None, shared PID namespace, host IPC, labels",
  "volumes": "emptyDir, hostPath, subPath, propagation, a container's own /etc/hosts",
  "dns-merge": "dnsPolicy Default with dnsConfig merged into the host's resolv.conf",
  "node-name": "spec.nodeName in a manifest is replaced by the node's own name",
  "long-name": "a pod name over 63 characters gives a truncated hostname",
  "init-containers":
    "init and sidecar containers: container types, a privileged init container, no sidecar ports",
  "cgroup-v2": "on a cgroup v2 host every container gets memory.oom.group 1 in unified",
};

/** Host facts a case is translated under instead of {@linkcode OPTIONS}'s (a cgroup v1 host). */
const CASE_OPTIONS: Record<string, Partial<TranslateOptions>> = {
  "cgroup-v2": { cgroupV2: true },
};

/**
 * The manifest problems each case reports, written by hand as `severity field`, sorted.
 * A case not listed reports none.
 */
const EXPECTED_PROBLEMS: Record<string, string[]> = {
  // creationTimestamp: null and status: {}, as kubeadm writes them, are accepted silently.
  "kubeadm-etcd": [
    "warning spec.priority", // no scheduler or eviction
    "warning spec.priorityClassName", // no scheduler or eviction
  ],
};

const HASH = /^v1:[0-9a-f]{64}$/;
const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CONTAINER_HASH = /^[0-9a-f]{16}$/;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface Golden {
  sandbox: Json;
  containers: Record<string, Json>;
}

/** `value` with every placeholder in its strings replaced. */
function fill(value: Json, vars: Record<string, string>): Json {
  if (typeof value === "string") {
    let out = value;
    for (const [placeholder, actual] of Object.entries(vars)) {
      out = out.replaceAll(placeholder, actual);
    }
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => fill(v, vars));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, vars)]));
  }
  return value;
}

/** What goes on the wire: fields left `undefined` are not sent. */
function wire(value: unknown): Json {
  return JSON.parse(JSON.stringify(value));
}

function yamlCasesInTestdata(): string[] {
  return [...Deno.readDirSync(TESTDATA)]
    .filter((e) => e.isFile && e.name.endsWith(".yaml"))
    .map((e) => e.name.slice(0, -".yaml".length))
    .sort();
}

Deno.test("testdata holds exactly the golden cases listed in this test", () => {
  assert.deepEqual(yamlCasesInTestdata(), Object.keys(CASES).sort());
});

for (const name of yamlCasesInTestdata()) {
  Deno.test(`${name}.yaml translates to ${name}.cri.json`, async () => {
    const text = await Deno.readTextFile(new URL(`${name}.yaml`, TESTDATA));
    const golden: Golden = JSON.parse(
      await Deno.readTextFile(new URL(`${name}.cri.json`, TESTDATA)),
    );

    const manifest = parseManifest(sourceOf(name), text);
    assert.deepEqual(
      manifest.problems.filter((p) => p.severity === "error").map((p) => p.message),
      [],
      `${name}.yaml has no errors`,
    );
    assert.equal(manifest.pods.length, 1, `${name}.yaml declares one pod`);
    const pod = await translatePod(manifest.pods[0]!.pod, sourceOf(name), {
      ...OPTIONS,
      ...CASE_OPTIONS[name],
    });
    assert.match(pod.hash, HASH);
    assert.match(pod.uid, UID);
    const vars = { "$HASH": pod.hash, "$UID": pod.uid };

    // Compare every part, so one run shows every difference.
    const failures: string[] = [];
    const compare = (part: string, actual: unknown, expected: Json) => {
      try {
        assert.deepEqual(wire(actual), expected);
      } catch (err) {
        failures.push(`${part}: ${(err as Error).message}`);
      }
    };
    compare(
      "manifest problems (severity field)",
      manifest.problems.map((p) => `${p.severity} ${p.field}`).sort(),
      EXPECTED_PROBLEMS[name] ?? [],
    );
    compare("translation warnings", pod.warnings, []);
    compare("sandbox", pod.sandbox, fill(golden.sandbox, vars));
    assert.deepEqual(
      pod.containers.map((c) => c.name).sort(),
      Object.keys(golden.containers).sort(),
      "container names",
    );
    for (const c of pod.containers) {
      assert.match(c.hash, CONTAINER_HASH, `hash of container ${c.name}`);
      const expected = fill(golden.containers[c.name]!, { ...vars, "$CONTAINER_HASH": c.hash });
      compare(`containers.${c.name}`, buildContainerConfig(pod, c.name, FACTS), expected);
    }
    if (failures.length > 0) {
      assert.fail(
        `${name}: ${failures.length} part(s) differ ` +
          `("+ actual" is what tinylet builds, "- expected" is the golden file):\n\n` +
          failures.join("\n\n"),
      );
    }
  });
}
