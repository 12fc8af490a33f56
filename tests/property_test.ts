/**
 * A seeded, replayable property test of the reconciler: random file
 * operations on the manifest directory (create, edit, cosmetic edit, break,
 * fix, rename, delete, chmod) interleaved with injected runtime failures,
 * one pass after each step. The model tracks, per file, whether it is
 * present and the pods of its last valid content, and checks the contract's
 * "Manifests" rules:
 *
 * 1. once the runtime has settled, exactly the pods of each present file's
 *    last valid content run (valid now or not), with that content's spec
 *    hash and all their containers running, and nothing else is left;
 * 2. no pod is torn down (sandbox stopped or removed, container stopped)
 *    while the file whose last valid content declares it is present but
 *    invalid (replacing an older spec by that content is allowed);
 * 3. on a settled runtime with no failure pending, a step that must change
 *    nothing (a cosmetic edit, a rename, a chmod, breaking a file, restoring
 *    a broken file's last valid content) makes no call that changes the
 *    runtime.
 *
 * Pod names are unique across files, so no two files declare one pod.
 *
 * Replay one seed: `TINYLET_SEED=<seed> deno test -A tests/property_test.ts`.
 */
import assert from "node:assert/strict";
import type { CallOptions, ContainerConfig, PodSandboxConfig } from "../lib/runtime/cri.ts";
import { CriError } from "../lib/runtime/errors.ts";
import { createLogger } from "../lib/base/log.ts";
import { parseManifest } from "../lib/manifest/parse.ts";
import { DEFAULT_NAMESPACE, podKey, specHash } from "../lib/manifest/pod.ts";
import { Reconciler } from "../lib/reconcile/reconciler.ts";
import type { PassResult } from "../lib/reconcile/pass.ts";
import { ManifestSource } from "../lib/manifest/source.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { HandClock } from "../testing/hand_clock.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import type { Injection } from "../testing/fake_injections.ts";

const IMAGE = "docker.io/library/busybox:1.35";
const MINUTE = 60_000;
/** Seeds CI runs; `TINYLET_SEED` replaces them with one. */
const SEEDS = [1, 2, 3, 7, 42, 99, 404, 1337, 2024, 31337, 65535, 271828];
/** Settling takes at most this many passes, plus one per pod (a pass starts at most --parallel pods). */
const SETTLE_PASSES = 20;
/** Calls that change the runtime. */
const MUTATING = new Set([
  "RunPodSandbox",
  "StopPodSandbox",
  "RemovePodSandbox",
  "CreateContainer",
  "StartContainer",
  "StopContainer",
  "RemoveContainer",
]);
const TEARDOWN = new Set(["StopPodSandbox", "RemovePodSandbox", "StopContainer"]);
const INJECTABLE = [
  "RunPodSandbox",
  "CreateContainer",
  "StartContainer",
  "StopContainer",
  "RemovePodSandbox",
  "ListPodSandbox",
];
/** Names the agent ignores; renaming a file to one counts as deleting it. */
const IGNORED_SUFFIXES = [".bak", "~", ".swp", ".orig", ".tmp"];
const MODES = [0o600, 0o644, 0o400];

// ---- randomness ----

/** mulberry32: a small, fast, seedable PRNG. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = mulberry32(seed);
  }
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.#next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.#next() < p;
  }
  pick<T>(list: readonly T[]): T {
    const v = list[this.int(0, list.length - 1)];
    if (v === undefined) throw new Error("Pick from an empty list");
    return v;
  }
  /** One of `choices`, by weight; weights of 0 are never picked. */
  weighted<T>(choices: readonly (readonly [T, number])[]): T {
    const total = choices.reduce((n, [, w]) => n + w, 0);
    let r = this.#next() * total;
    for (const [v, w] of choices) {
      if (w <= 0) continue;
      if (r < w) return v;
      r -= w;
    }
    const last = choices.findLast(([, w]) => w > 0);
    if (!last) throw new Error("No choice has a weight");
    return last[0];
  }
}

// ---- the runtime, with a shadow of its state ----

interface ShadowContainer {
  name: string;
  state: "created" | "running" | "exited";
}

interface ShadowSandbox {
  id: string;
  key: string;
  hash: string;
  source: string;
  ready: boolean;
  containers: Map<string, ShadowContainer>;
}

/**
 * The fake runtime, also keeping a shadow of its sandboxes and containers
 * (so the test can look at the runtime mid-sequence without making calls
 * that would consume injected failures) and counting pending injections.
 */
class RecordingCri extends FakeCri {
  /** Every sandbox ever run, by id; removed ones stay, so calls can be traced. */
  readonly history = new Map<string, ShadowSandbox>();
  readonly sandboxes = new Map<string, ShadowSandbox>();
  readonly containerSandbox = new Map<string, string>();
  readonly #pending = new Map<string, number>();
  #accounted = 0;

  override async runPodSandbox(config: PodSandboxConfig, opts?: CallOptions): Promise<string> {
    const id = await super.runPodSandbox(config, opts);
    const a = config.annotations ?? {};
    const s: ShadowSandbox = {
      id,
      key: podKey(config.metadata.namespace, config.metadata.name),
      hash: a[KEYS.specHash] ?? "",
      source: a[KEYS.source] ?? "",
      ready: true,
      containers: new Map(),
    };
    this.sandboxes.set(id, s);
    this.history.set(id, s);
    return id;
  }

  override async stopPodSandbox(id: string, opts?: CallOptions): Promise<void> {
    await super.stopPodSandbox(id, opts);
    const s = this.sandboxes.get(id);
    if (!s) return;
    s.ready = false;
    for (const c of s.containers.values()) if (c.state === "running") c.state = "exited";
  }

  override async removePodSandbox(id: string, opts?: CallOptions): Promise<void> {
    await super.removePodSandbox(id, opts);
    this.sandboxes.delete(id);
  }

  override async createContainer(
    podSandboxId: string,
    config: ContainerConfig,
    sandboxConfig: PodSandboxConfig,
    opts?: CallOptions,
  ): Promise<string> {
    const id = await super.createContainer(podSandboxId, config, sandboxConfig, opts);
    this.containerSandbox.set(id, podSandboxId);
    this.sandboxes.get(podSandboxId)?.containers.set(id, {
      name: config.metadata.name,
      state: "created",
    });
    return id;
  }

  override async startContainer(id: string, opts?: CallOptions): Promise<void> {
    await super.startContainer(id, opts);
    const c = this.#container(id);
    if (c) c.state = "running";
  }

  override async stopContainer(id: string, timeout: number, opts?: CallOptions): Promise<void> {
    await super.stopContainer(id, timeout, opts);
    const c = this.#container(id);
    if (c?.state === "running") c.state = "exited";
  }

  override async removeContainer(id: string, opts?: CallOptions): Promise<void> {
    await super.removeContainer(id, opts);
    this.sandboxes.get(this.containerSandbox.get(id) ?? "")?.containers.delete(id);
  }

  #container(id: string): ShadowContainer | undefined {
    return this.sandboxes.get(this.containerSandbox.get(id) ?? "")?.containers.get(id);
  }

  override inject(method: string, injection: Injection): void {
    this.#account();
    super.inject(method, injection);
    this.#pending.set(method, (this.#pending.get(method) ?? 0) + (injection.times ?? 1));
  }

  override clearInjections(): void {
    super.clearInjections();
    this.#account();
    this.#pending.clear();
  }

  /** How many injected outcomes are still to come (each call of a method consumes one). */
  pendingInjections(): number {
    this.#account();
    let n = 0;
    for (const v of this.#pending.values()) n += v;
    return n;
  }

  #account() {
    for (; this.#accounted < this.calls.length; this.#accounted++) {
      const method = this.calls[this.#accounted]?.method ?? "";
      const n = this.#pending.get(method);
      if (n) this.#pending.set(method, n - 1);
    }
  }

  /** One line per sandbox of `key` (state, hash, containers), oldest first; "" when none. */
  view(key: string): string {
    return [...this.sandboxes.values()].filter((s) => s.key === key).map(sandboxLine).join(" + ");
  }
}

const STATE_RANK = { running: 3, created: 2, exited: 1 } as const;

/**
 * A sandbox in one line: state, hash, and the best state of each container name (a running
 * container may keep its previous, dead instance, as kubelet does).
 */
function sandboxLine(s: ShadowSandbox): string {
  const best = new Map<string, ShadowContainer["state"]>();
  for (const c of s.containers.values()) {
    const had = best.get(c.name);
    if (!had || STATE_RANK[c.state] > STATE_RANK[had]) best.set(c.name, c.state);
  }
  const containers = [...best].map(([name, state]) => `${name}:${state}`).sort();
  return `${s.ready ? "ready" : "notready"} ${shortHash(s.hash)} [${containers.join(",")}]`;
}

function shortHash(hash: string): string {
  return hash.replace(/^v1:/, "").slice(0, 12);
}

// ---- the model ----

type Form = "short" | "v1" | "json";

interface ContainerGen {
  name: string;
  sleep: number;
}

interface PodGen {
  name: string;
  namespace: string | undefined;
  form: Form;
  /** Block-style command list instead of flow style. */
  block: boolean;
  comment: string | undefined;
  containers: ContainerGen[];
}

/** What a pod of a valid file should look like on the runtime. */
interface Expect {
  hash: string;
  containers: string[];
}

interface FileModel {
  name: string;
  mode: number;
  /** The pods the content is built from (for a broken file: what a fix restores). */
  pods: PodGen[];
  /** Comment lines at the top. */
  header: string[];
  text: string;
  valid: boolean;
  /** The pods of the last valid content, by key: what should run while the file is present. */
  lastValid: Map<string, Expect>;
}

/** A file renamed to an ignored name: off the agent's books, still on disk. */
interface HiddenFile {
  name: string;
  mode: number;
  pods: PodGen[];
  header: string[];
  text: string;
}

const BREAKAGES = [
  "invalid YAML",
  "empty",
  "comment-only",
  "invalid pod name",
  "duplicate pod",
] as const;
type Breakage = typeof BREAKAGES[number];

function keyOf(p: PodGen): string {
  return podKey(p.namespace ?? DEFAULT_NAMESPACE, p.name);
}

function renderPod(p: PodGen): string {
  const comment = p.comment ? `# ${p.comment}\n` : "";
  if (p.form === "json") {
    const obj = {
      name: p.name,
      ...(p.namespace ? { namespace: p.namespace } : {}),
      containers: p.containers.map((c) => ({
        name: c.name,
        image: IMAGE,
        command: ["sleep", String(c.sleep)],
      })),
    };
    return comment + JSON.stringify(obj) + "\n";
  }
  const v1 = p.form === "v1";
  let out = comment;
  if (v1) {
    out += `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${p.name}\n`;
    if (p.namespace) out += `  namespace: ${p.namespace}\n`;
    out += "spec:\n  containers:\n";
  } else {
    out += `name: ${p.name}\n`;
    if (p.namespace) out += `namespace: ${p.namespace}\n`;
    out += "containers:\n";
  }
  const ind = v1 ? "    " : "  ";
  for (const c of p.containers) {
    out += `${ind}- name: ${c.name}\n${ind}  image: ${IMAGE}\n`;
    out += p.block
      ? `${ind}  command:\n${ind}    - sleep\n${ind}    - "${c.sleep}"\n`
      : `${ind}  command: ["sleep", "${c.sleep}"]\n`;
  }
  return out;
}

function renderFile(header: string[], pods: PodGen[]): string {
  return header.map((h) => `# ${h}\n`).join("") + pods.map(renderPod).join("---\n");
}

function renderBroken(how: Breakage, header: string[], pods: PodGen[]): string {
  switch (how) {
    case "invalid YAML":
      return renderFile(header, pods) + "---\nname: oops\ncontainers: [\n";
    case "empty":
      return "";
    case "comment-only":
      return "# nothing here for now\n#   name: old\n";
    case "invalid pod name": {
      const [first, ...rest] = pods;
      if (!first) throw new Error("An invalid pod name needs a pod");
      return renderFile(header, [{ ...first, name: `Bad_${first.name}` }, ...rest]);
    }
    case "duplicate pod": {
      const [first] = pods;
      if (!first) throw new Error("A duplicate pod needs a pod");
      return renderFile(header, [...pods, { ...first, comment: "again" }]);
    }
  }
}

/** The pods `text` declares, by key, computed with the agent's own parser and hash. */
async function declared(path: string, text: string): Promise<Map<string, Expect>> {
  const m = parseManifest(path, text);
  if (!m.valid) {
    throw new Error(
      `Model bug: generated content should be valid:\n${text}\n${
        m.problems.map((p) => p.message).join("\n")
      }`,
    );
  }
  const out = new Map<string, Expect>();
  for (const { pod } of m.pods) {
    out.set(podKey(pod.metadata.namespace ?? DEFAULT_NAMESPACE, pod.metadata.name), {
      hash: await specHash(pod),
      containers: pod.spec.containers.map((c) => c.name).sort(),
    });
  }
  return out;
}

function sameExpectations(a: Map<string, Expect>, b: Map<string, Expect>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, e] of a) if (b.get(k)?.hash !== e.hash) return false;
  return true;
}

/** The view of a pod that runs as `e` says, in the format of {@linkcode RecordingCri.view}. */
function convergedLine(e: Expect): string {
  return `ready ${shortHash(e.hash)} [${e.containers.map((c) => `${c}:running`).join(",")}]`;
}

// ---- one run ----

interface Step {
  /** What the step did, for the replay list. */
  text: string;
  /** The step must change nothing on a settled runtime. */
  quiet: boolean;
}

class Run {
  readonly rng: Rng;
  readonly files: FileModel[] = [];
  readonly hidden: HiddenFile[] = [];
  readonly steps: string[] = [];
  /** The file that last stopped declaring a pod, by pod key (for messages). */
  readonly dropped = new Map<string, FileModel>();
  #pods = 0;
  #files = 0;
  #sleep = 1000;

  constructor(
    readonly seed: number,
    readonly dir: string,
    readonly cri: RecordingCri,
  ) {
    this.rng = new Rng(seed);
  }

  path(name: string): string {
    return `${this.dir}/${name}`;
  }

  replay(): string {
    return `\nseed ${this.seed}; replay: TINYLET_SEED=${this.seed} deno test -A tests/property_test.ts` +
      `\nsteps:\n${this.steps.map((s, i) => `  ${i + 1}. ${s}`).join("\n")}`;
  }

  fail(message: string): never {
    assert.fail(`${message}${this.replay()}`);
  }

  // -- generators --

  newPod(): PodGen {
    const n = ++this.#pods;
    return {
      name: `p${n}`,
      namespace: this.rng.chance(0.25) ? `team-${this.rng.int(1, 2)}` : undefined,
      form: this.rng.pick(["short", "v1", "json"] as const),
      block: this.rng.chance(0.3),
      comment: undefined,
      containers: Array.from({ length: this.rng.int(1, 2) }, (_, i) => ({
        name: `c${i}`,
        sleep: ++this.#sleep,
      })),
    };
  }

  newFileName(): string {
    return `f${++this.#files}.${this.rng.pick(["yaml", "yml"])}`;
  }

  /** `f` has new valid content, declaring `next`. */
  declare(f: FileModel, next: Map<string, Expect>) {
    for (const key of f.lastValid.keys()) if (!next.has(key)) this.dropped.set(key, f);
    f.lastValid = next;
  }

  /** `f` is gone for the agent (deleted, or renamed to an ignored name). */
  remove(f: FileModel) {
    for (const key of f.lastValid.keys()) this.dropped.set(key, f);
    this.files.splice(this.files.indexOf(f), 1);
  }

  /** The owner of a pod: the present file whose last valid content declares it. */
  owner(key: string): FileModel | undefined {
    return this.files.find((f) => f.lastValid.has(key));
  }

  // -- disk --

  async write(f: { name: string; mode: number }, text: string): Promise<void> {
    const path = this.path(f.name);
    // A read-only file is made writable for the write and read-only again after it.
    if (f.mode === 0o400) await Deno.chmod(path, 0o600);
    await Deno.writeTextFile(path, text);
    await Deno.chmod(path, f.mode);
  }

  async create(name: string, mode: number, text: string): Promise<void> {
    await Deno.writeTextFile(this.path(name), text, { createNew: true });
    await Deno.chmod(this.path(name), mode);
  }

  // -- steps --

  async step(): Promise<Step> {
    const valid = this.files.filter((f) => f.valid);
    const invalid = this.files.filter((f) => !f.valid);
    const present = this.files.length;
    const kind = this.rng.weighted(
      [
        ["create", present < 6 ? 3 : 0.5],
        ["edit", valid.length > 0 ? 3 : 0],
        ["cosmetic", valid.length > 0 ? 2 : 0],
        ["break", present > 0 ? 2 : 0],
        ["fix", invalid.length > 0 ? 3 : 0],
        ["rename", present > 0 ? 1.5 : 0],
        ["restore", this.hidden.length > 0 ? 0.5 : 0],
        ["delete", present > 0 ? 1 : 0],
        ["chmod", present > 0 ? 1 : 0],
        ["inject", 2],
      ] as const,
    );
    switch (kind) {
      case "create":
        return await this.stepCreate();
      case "edit":
        return await this.stepEdit(this.rng.pick(valid));
      case "cosmetic":
        return await this.stepCosmetic(this.rng.pick(valid));
      case "break":
        return await this.stepBreak(this.rng.pick(this.files));
      case "fix":
        return await this.stepFix(this.rng.pick(invalid));
      case "rename":
        return await this.stepRename(this.rng.pick(this.files));
      case "restore":
        return await this.stepRestore(this.rng.pick(this.hidden));
      case "delete":
        return await this.stepDelete(this.rng.pick(this.files));
      case "chmod":
        return await this.stepChmod(this.rng.pick(this.files));
      case "inject":
        return this.stepInject();
    }
  }

  async stepCreate(): Promise<Step> {
    const name = this.newFileName();
    const mode = this.rng.pick([0o644, 0o600]);
    const pods = Array.from({ length: this.rng.int(1, 3) }, () => this.newPod());
    const broken = this.rng.chance(0.1) ? this.rng.pick(BREAKAGES) : undefined;
    const text = broken ? renderBroken(broken, [], pods) : renderFile([], pods);
    await this.create(name, mode, text);
    this.files.push({
      name,
      mode,
      pods,
      header: [],
      text,
      valid: !broken,
      lastValid: broken ? new Map() : await declared(this.path(name), text),
    });
    if (broken) assertInvalid(this.path(name), text);
    const what = pods.map((p) => `${keyOf(p)} (${p.form})`).join(", ");
    return {
      text: `create ${name} ${broken ? `broken (${broken}) over ${what}` : `with ${what}`}`,
      quiet: false,
    };
  }

  async stepEdit(f: FileModel): Promise<Step> {
    const choices: (readonly ["arg" | "add pod" | "remove pod" | "add container", number])[] = [
      ["arg", 4],
      ["add pod", f.pods.length < 3 ? 1 : 0],
      ["remove pod", f.pods.length > 1 ? 1 : 0],
      ["add container", f.pods.some((p) => p.containers.length < 2) ? 1 : 0],
    ];
    const what = this.rng.weighted(choices);
    let detail: string;
    if (what === "arg") {
      const pod = this.rng.pick(f.pods);
      const c = this.rng.pick(pod.containers);
      c.sleep = ++this.#sleep;
      detail = `${keyOf(pod)} container ${c.name} now sleeps ${c.sleep}`;
    } else if (what === "add pod") {
      const pod = this.newPod();
      f.pods.push(pod);
      detail = `add ${keyOf(pod)} (${pod.form})`;
    } else if (what === "remove pod") {
      const [pod] = f.pods.splice(this.rng.int(0, f.pods.length - 1), 1);
      detail = `remove ${pod ? keyOf(pod) : "?"}`;
    } else {
      const pod = this.rng.pick(f.pods.filter((p) => p.containers.length < 2));
      pod.containers.push({ name: `c${pod.containers.length}`, sleep: ++this.#sleep });
      detail = `add a container to ${keyOf(pod)}`;
    }
    f.text = renderFile(f.header, f.pods);
    await this.write(f, f.text);
    this.declare(f, await declared(this.path(f.name), f.text));
    return { text: `edit ${f.name}: ${detail}`, quiet: false };
  }

  async stepCosmetic(f: FileModel): Promise<Step> {
    const what = this.rng.pick(["comment", "form", "style"] as const);
    const pod = this.rng.pick(f.pods);
    let detail: string;
    if (what === "comment") {
      if (this.rng.chance(0.5)) {
        f.header.push(`note ${f.header.length + 1}`);
        detail = "add a comment at the top";
      } else {
        pod.comment = `about ${pod.name}`;
        detail = `add a comment before ${keyOf(pod)}`;
      }
    } else if (what === "form") {
      const from = pod.form;
      pod.form = this.rng.pick((["short", "v1", "json"] as const).filter((x) => x !== from));
      detail = `rewrite ${keyOf(pod)} from ${from} to ${pod.form} form`;
    } else {
      pod.block = !pod.block;
      detail = `write the command of ${keyOf(pod)} in ${pod.block ? "block" : "flow"} style`;
    }
    f.text = renderFile(f.header, f.pods);
    await this.write(f, f.text);
    const now = await declared(this.path(f.name), f.text);
    if (!sameExpectations(now, f.lastValid)) {
      this.steps.push(`cosmetic edit of ${f.name}: ${detail}`);
      this.fail(
        `A cosmetic edit changed a spec hash (the contract says comments, style and form never do):\n${f.text}`,
      );
    }
    return { text: `cosmetic edit of ${f.name}: ${detail}`, quiet: true };
  }

  async stepBreak(f: FileModel): Promise<Step> {
    const how = this.rng.pick(BREAKAGES.filter((b) => f.pods.length > 0 || b === "empty"));
    const text = renderBroken(how, f.header, f.pods);
    assertInvalid(this.path(f.name), text);
    f.valid = false;
    f.text = text;
    await this.write(f, text);
    return { text: `break ${f.name} (${how})`, quiet: true };
  }

  async stepFix(f: FileModel): Promise<Step> {
    const how = this.rng.pick(["same content", "edited", "new pods"] as const);
    if (how === "edited") {
      const pod = this.rng.pick(f.pods);
      const c = this.rng.pick(pod.containers);
      c.sleep = ++this.#sleep;
    } else if (how === "new pods") {
      f.pods = Array.from({ length: this.rng.int(1, 3) }, () => this.newPod());
    }
    f.text = renderFile(f.header, f.pods);
    await this.write(f, f.text);
    const before = f.lastValid;
    this.declare(f, await declared(this.path(f.name), f.text));
    f.valid = true;
    const what = [...f.lastValid.keys()].join(", ");
    return {
      text: `fix ${f.name} (${how}: ${what})`,
      quiet: sameExpectations(before, f.lastValid),
    };
  }

  async stepRename(f: FileModel): Promise<Step> {
    const old = f.name;
    // Renaming with unchanged content changes nothing, valid or not: the file keeps its last
    // valid content under its new name.
    if (this.rng.chance(0.75)) {
      f.name = this.newFileName();
      await Deno.rename(this.path(old), this.path(f.name));
      return { text: `rename ${old} → ${f.name}${f.valid ? "" : " (invalid)"}`, quiet: true };
    }
    const name = this.rng.chance(0.2) ? `.${old}` : `${old}${this.rng.pick(IGNORED_SUFFIXES)}`;
    await Deno.rename(this.path(old), this.path(name));
    this.remove(f);
    this.hidden.push({ name, mode: f.mode, pods: f.pods, header: f.header, text: f.text });
    return { text: `rename ${old} → ${name} (ignored: counts as deleting)`, quiet: false };
  }

  async stepRestore(h: HiddenFile): Promise<Step> {
    const name = this.newFileName();
    await Deno.rename(this.path(h.name), this.path(name));
    this.hidden.splice(this.hidden.indexOf(h), 1);
    const valid = parseManifest(this.path(name), h.text).valid;
    this.files.push({
      name,
      mode: h.mode,
      pods: h.pods,
      header: h.header,
      text: h.text,
      valid,
      lastValid: valid ? await declared(this.path(name), h.text) : new Map(),
    });
    return { text: `rename ${h.name} → ${name} (${valid ? "valid" : "invalid"})`, quiet: false };
  }

  async stepDelete(f: FileModel): Promise<Step> {
    await Deno.remove(this.path(f.name));
    this.remove(f);
    return { text: `delete ${f.name}`, quiet: false };
  }

  async stepChmod(f: FileModel): Promise<Step> {
    const from = f.mode;
    f.mode = this.rng.pick(MODES.filter((m) => m !== from));
    await Deno.chmod(this.path(f.name), f.mode);
    return { text: `chmod ${f.mode.toString(8)} ${f.name} (was ${from.toString(8)})`, quiet: true };
  }

  stepInject(): Step {
    const done: string[] = [];
    for (let i = this.rng.int(1, 2); i > 0; i--) {
      const method = this.rng.pick(INJECTABLE);
      const times = this.rng.int(1, 3);
      const kind = this.rng.weighted([["unavailable", 3], ["error", 2], ["delay", 1]] as const);
      if (kind === "delay") {
        const delayMs = this.rng.int(1, 5);
        this.cri.inject(method, { delayMs, times });
        done.push(`${method} waits ${delayMs} ms ×${times}`);
      } else {
        const error = kind === "unavailable"
          ? new CriError("Unavailable", method, `${method}: connection refused (injected)`)
          : new Error(`${method}: injected failure`);
        this.cri.inject(method, { error, times });
        done.push(`${method} fails (${kind}) ×${times}`);
      }
    }
    return { text: `inject ${done.join("; ")}`, quiet: false };
  }

  // -- checks --

  /**
   * Where the runtime differs from the model: every pod of the last valid content of each
   * present file (valid now or not) runs that content's spec with all its containers
   * running, in one ready sandbox, and nothing else is on the runtime.
   */
  differences(): string[] {
    const expected = new Map<string, string>();
    for (const f of this.files) {
      for (const [key, e] of f.lastValid) expected.set(key, convergedLine(e));
    }
    const keys = new Set([
      ...expected.keys(),
      ...[...this.cri.sandboxes.values()].map((s) => s.key),
    ]);
    const out: string[] = [];
    for (const key of [...keys].sort()) {
      const want = expected.get(key) ?? "";
      const got = this.cri.view(key);
      if (want !== got) {
        const owner = this.owner(key);
        const by = this.dropped.get(key);
        const from = owner
          ? ` (${owner.name}, ${owner.valid ? "valid" : "invalid"})`
          : by && this.files.includes(by)
          ? ` (dropped by a valid ${by.name}, which is ${by.valid ? "valid" : "now invalid"})`
          : by
          ? ` (its file ${by.name} is gone)`
          : "";
        out.push(`${key}${from}: expected "${want || "gone"}", runtime has "${got || "nothing"}"`);
      }
    }
    return out;
  }

  /**
   * No pod was torn down while the file that declares it was present and invalid: no stop
   * or removal of a sandbox that was ready before the step and runs the spec of that file's
   * last valid content. (Replacing an older spec by that content is converging, not tearing
   * down.)
   */
  checkNoTeardown(from: number, readyBefore: Set<string>) {
    for (const call of this.cri.calls.slice(from)) {
      if (!TEARDOWN.has(call.method)) continue;
      const id = call.method === "StopContainer"
        ? this.cri.containerSandbox.get((call.arg as { id: string }).id) ?? ""
        : call.arg as string;
      const s = this.cri.history.get(id);
      if (!s || !readyBefore.has(id)) continue;
      const owner = this.owner(s.key);
      if (owner && !owner.valid && owner.lastValid.get(s.key)?.hash === s.hash) {
        this.fail(
          `${call.method} of pod ${s.key} (sandbox ${id}, ${
            shortHash(s.hash)
          }, recorded source ${s.source}) while ${owner.name}, whose last valid content declares it so, is present but invalid`,
        );
      }
    }
  }

  settled(): boolean {
    return this.cri.pendingInjections() === 0 && this.differences().length === 0;
  }
}

function assertInvalid(path: string, text: string) {
  if (parseManifest(path, text).valid) {
    throw new Error(`Model bug: broken content should be invalid:\n${text}`);
  }
}

function summary(r: PassResult): string {
  if (!r.runtimeReachable) return "runtime unreachable";
  if (r.actions.length === 0) return "no actions";
  return r.results.map((x) => `${x.action.type} ${x.action.key}${x.error ? " ✗" : ""}`).join(", ") +
    (r.results.length < r.actions.length
      ? ` (+${r.actions.length - r.results.length} not run)`
      : "");
}

async function runSeed(seed: number): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "tinylet-prop-" });
  try {
    const manifests = `${tmp}/manifests`;
    await Deno.mkdir(manifests);
    await Deno.chmod(manifests, 0o755);
    const clock = new HandClock(Date.UTC(2026, 10, 27, 12, 0, 0));
    const cri = new RecordingCri({ images: [IMAGE], now: () => clock.epochMs() });
    const run: Run = new Run(seed, manifests, cri);
    const reconciler = new Reconciler({
      cri,
      clock,
      source: new ManifestSource(manifests),
      log: createLogger({ write: () => {} }),
      socket: "/run/fake.sock",
      nodeName: "node1",
      readHostDns: () => Promise.resolve({ servers: ["192.0.2.53"], searches: [], options: [] }),
      instance: "default",
      root: `${tmp}/root`,
      podLogRoot: `${tmp}/logs`,
      parallel: run.rng.pick([1, 2, 4]),
      intervalMs: 2000,
    });
    const pass = async (): Promise<PassResult> => {
      try {
        return await reconciler.pass();
      } catch (err) {
        run.fail(`A pass threw: ${(err as Error).stack ?? err}`);
      }
    };

    const count = run.rng.int(30, 60);
    for (let i = 0; i < count; i++) {
      const wasSettled = run.settled();
      const readyBefore = new Set(
        [...cri.sandboxes.values()].filter((s) => s.ready).map((s) => s.id),
      );
      const step = await run.step();
      await clock.advance(run.rng.int(0, 15) * 1000);
      const from = cri.calls.length;
      const r = await pass();
      run.steps.push(`${step.text} ⇒ ${summary(r)}`);
      run.checkNoTeardown(from, readyBefore);
      if (step.quiet && wasSettled) {
        const changes = cri.calls.slice(from).map((c) => c.method).filter((m) => MUTATING.has(m));
        if (changes.length > 0) {
          run.fail(
            `A step that must change nothing, on a settled runtime, made ${changes.join(", ")}`,
          );
        }
      }
    }

    cri.clearInjections();
    let settled = false;
    const limit = SETTLE_PASSES + run.files.reduce((n, f) => n + f.lastValid.size, 0) +
      cri.sandboxes.size;
    for (let i = 1; i <= limit && !settled; i++) {
      await clock.advance(10 * MINUTE);
      const readyBefore = new Set(
        [...cri.sandboxes.values()].filter((s) => s.ready).map((s) => s.id),
      );
      const from = cri.calls.length;
      const r = await pass();
      run.steps.push(`(settle) +10 min ⇒ ${summary(r)}`);
      run.checkNoTeardown(from, readyBefore);
      settled = r.runtimeReachable && r.actions.length === 0;
    }
    if (!settled) run.fail(`The runtime did not settle in ${limit} passes`);

    // The shadow must agree with the runtime itself.
    const listed = await cri.listPodSandbox();
    const containers = await cri.listContainers();
    const real = listed.map((s) => {
      const cs = containers.filter((c) => c.podSandboxId === s.id).map((c) =>
        `${c.metadata.name}:${c.state.replace("CONTAINER_", "").toLowerCase()}`
      ).sort();
      return `${s.id} ${s.metadata.namespace}/${s.metadata.name} ${
        s.state === "SANDBOX_READY" ? "ready" : "notready"
      } ${s.annotations[KEYS.specHash]} [${cs.join(",")}]`;
    }).sort();
    const shadow = [...cri.sandboxes.values()].map((s) =>
      `${s.id} ${s.key} ${s.ready ? "ready" : "notready"} ${s.hash} [${
        [...s.containers.values()].map((c) => `${c.name}:${c.state}`).sort().join(",")
      }]`
    ).sort();
    assert.deepEqual(shadow, real, `Test bug: the shadow drifted from the fake${run.replay()}`);

    const diff = run.differences();
    if (diff.length > 0) {
      run.fail(
        `After settling, the runtime is not the last valid content of the present files:\n  ${
          diff.join("\n  ")
        }`,
      );
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

const fromEnv = Deno.env.get("TINYLET_SEED");
const seeds = fromEnv === undefined ? SEEDS : [Number(fromEnv)];
for (const seed of seeds) {
  Deno.test(`random file operations converge to the last valid content (seed ${seed})`, () => {
    if (!Number.isSafeInteger(seed)) throw new Error(`TINYLET_SEED must be an integer: ${fromEnv}`);
    return runSeed(seed);
  });
}
