/**
 * One stateful in-memory container runtime, used by every test that does not
 * need the real containerd. It behaves as containerd 1.6 does where tests can
 * see it (the contract suite in `cri_contract.ts` runs against both), and
 * adds what tests need: recorded calls, injectable errors and delays per
 * method, deterministic ids, an injectable clock, and hooks to make a
 * container exit. Its images are in `fake_images.ts`, the records of its sandboxes and
 * containers and the answers built from them in `fake_records.ts`, injections in
 * `fake_injections.ts`, what commands do in `fake_exec.ts`, and what containers use and the
 * stats calls in `fake_stats.ts`.
 *
 * @module
 */
import type {
  AuthConfig,
  CallOptions,
  Container,
  ContainerConfig,
  ContainerFilter,
  ContainerStatus,
  Cri,
  ExecResult,
  Image,
  ImageFilter,
  ImageSpec,
  PodSandbox,
  PodSandboxConfig,
  PodSandboxFilter,
  PodSandboxStatus,
  RuntimeStatus,
  VersionInfo,
} from "../lib/runtime/cri.ts";
import { CriError } from "../lib/runtime/errors.ts";
import type {
  ContainerStats,
  ContainerStatsFilter,
  PodSandboxStats,
  PodSandboxStatsFilter,
} from "../lib/runtime/stats.ts";
import { defaultExec, scriptExitCode, sleepsOf } from "./fake_exec.ts";
import { cancelled, type InjectedWait, type Injection, Injections } from "./fake_injections.ts";
import { FakeImages } from "./fake_images.ts";
import { FakeStats } from "./fake_stats.ts";
import {
  containerPasses,
  containerStatus,
  FAKE_VERSION,
  type FakeContainer,
  type FakeSandbox,
  listedContainer,
  listedSandbox,
  lookUp,
  readyStatus,
  refuseStart,
  refuseTakenContainerName,
  refuseTakenSandboxName,
  sandboxPasses,
  sandboxStatus,
} from "./fake_records.ts";

/** A call the fake received, in order. */
export interface RecordedCall {
  method: string;
  /** The id, image or config the call was about. */
  arg: unknown;
}

/** Options of {@linkcode FakeCri}. */
export interface FakeCriOptions {
  /** Milliseconds since the epoch; defaults to `Date.now`. */
  now?: () => number;
  /** Images present from the start. */
  images?: string[];
  /** Images that `PullImage` can fetch. */
  registry?: string[];
}

const PAUSE_IP_PREFIX = "198.18.0.";

/** The in-memory runtime. */
export class FakeCri implements Cri {
  readonly calls: RecordedCall[] = [];
  readonly #sandboxes = new Map<string, FakeSandbox>();
  readonly #containers = new Map<string, FakeContainer>();
  readonly #images = new FakeImages(() => this.#id("image"));
  readonly #injections = new Injections();
  readonly #now: () => number;
  #nextId = 1;
  #closed = false;
  /**
   * Runs a command for `ExecSync`; the default understands `echo`, `true`, `false` and `sh -c`
   * lists of those and `exit N`. A `sleep N` in the command makes `ExecSync` take N seconds
   * first, as in a real container: a cancelled call ends as Cancelled, one past its timeout as
   * DeadlineExceeded.
   */
  execHandler: (container: ContainerConfig, cmd: string[]) => ExecResult = defaultExec;
  /** What containers use, which tests set, and how the pod stats calls answer. */
  readonly usage: FakeStats;

  constructor(options: FakeCriOptions = {}) {
    this.#now = options.now ?? Date.now;
    const source = { now: this.#now, sandboxes: this.#sandboxes, containers: this.#containers };
    this.usage = new FakeStats(source);
    for (const image of options.images ?? []) this.addImage(image);
    for (const image of options.registry ?? []) this.#images.addToRegistry(image);
  }

  // ---- test controls ----

  /** Makes `image` present, as if pulled. */
  addImage(image: string, user = ""): void {
    this.#images.add(image, user);
  }

  /** Makes `image` pullable. */
  addToRegistry(image: string): void {
    this.#images.addToRegistry(image);
  }

  /** Pushes a new image under `image`'s tag to the registry; returns its id. */
  pushToRegistry(image: string): string {
    return this.#images.push(image);
  }

  /** The next calls of `method` (a CRI method name such as `RunPodSandbox`) fail or wait. */
  inject(method: string, injection: Injection): void {
    this.#injections.add(method, injection);
  }

  /** Removes every pending injection. */
  clearInjections(): void {
    this.#injections.clear();
  }

  /** The injected delays and hangs that calls waited on, in order. */
  get waits(): readonly InjectedWait[] {
    return this.#injections.waits;
  }

  /** The running container's process ends with `exitCode`. */
  exitContainer(id: string, exitCode: number, reason?: string): void {
    const c = this.#containers.get(id);
    if (!c || c.state !== "CONTAINER_RUNNING") {
      throw new Error(`Fake container "${id}" is not running`);
    }
    this.#exit(c, exitCode, reason);
  }

  /** The sandbox dies (its pause process or network namespace is gone). */
  killSandbox(id: string): void {
    const s = this.#sandboxes.get(id);
    if (!s) throw new Error(`Fake sandbox "${id}" does not exist`);
    s.state = "SANDBOX_NOTREADY";
    this.#killContainersOf(id);
  }

  /** Method names of the recorded calls, in order. */
  methods(): string[] {
    return this.calls.map((c) => c.method);
  }

  get sandboxCount(): number {
    return this.#sandboxes.size;
  }

  get containerCount(): number {
    return this.#containers.size;
  }

  // ---- internals ----

  #id(kind: string): string {
    return `${kind}-${this.#nextId++}`;
  }

  #exit(c: FakeContainer, exitCode: number, reason?: string): void {
    c.state = "CONTAINER_EXITED";
    c.exitCode = exitCode;
    c.finishedAt = this.#now();
    c.reason = reason ?? (exitCode === 0 ? "Completed" : "Error");
  }

  /** The running containers of the sandbox `id` are killed. */
  #killContainersOf(id: string): void {
    for (const c of this.#containers.values()) {
      if (c.sandboxId === id && c.state === "CONTAINER_RUNNING") this.#exit(c, 137);
    }
  }

  async #enter(method: string, arg: unknown, opts?: CallOptions): Promise<void> {
    this.calls.push({ method, arg });
    if (this.#closed) {
      throw new CriError("Cancelled", method, `Call ${method}: the client is closed`);
    }
    if (opts?.signal?.aborted) throw cancelled(method, opts.signal);
    await this.#injections.apply(method, opts);
  }

  #sandbox(method: string, id: string): FakeSandbox {
    return lookUp(this.#sandboxes, "sandbox", method, id);
  }

  #container(method: string, id: string): FakeContainer {
    return lookUp(this.#containers, "container", method, id);
  }

  // ---- Cri ----

  async version(opts?: CallOptions): Promise<VersionInfo> {
    await this.#enter("Version", null, opts);
    return { ...FAKE_VERSION };
  }

  async status(opts?: CallOptions): Promise<RuntimeStatus> {
    await this.#enter("Status", null, opts);
    return readyStatus();
  }

  async runPodSandbox(config: PodSandboxConfig, opts?: CallOptions): Promise<string> {
    await this.#enter("RunPodSandbox", config, opts);
    refuseTakenSandboxName(this.#sandboxes.values(), config);
    const id = this.#id("sandbox");
    const hostNetwork = config.linux?.securityContext?.namespaceOptions?.network === "NODE";
    this.#sandboxes.set(id, {
      id,
      config: structuredClone(config),
      state: "SANDBOX_READY",
      createdAt: this.#now(),
      ip: hostNetwork ? "" : `${PAUSE_IP_PREFIX}${this.#nextId % 250 + 2}`,
    });
    return id;
  }

  async stopPodSandbox(id: string, opts?: CallOptions): Promise<void> {
    await this.#enter("StopPodSandbox", id, opts);
    const s = this.#sandbox("StopPodSandbox", id);
    this.#killContainersOf(id);
    s.state = "SANDBOX_NOTREADY";
  }

  async removePodSandbox(id: string, opts?: CallOptions): Promise<void> {
    await this.#enter("RemovePodSandbox", id, opts);
    const s = this.#sandboxes.get(id);
    if (!s) return;
    for (const c of [...this.#containers.values()]) {
      if (c.sandboxId === id) this.#containers.delete(c.id);
    }
    this.#sandboxes.delete(id);
  }

  async podSandboxStatus(id: string, opts?: CallOptions): Promise<PodSandboxStatus> {
    await this.#enter("PodSandboxStatus", id, opts);
    return sandboxStatus(this.#sandbox("PodSandboxStatus", id));
  }

  async listPodSandbox(filter?: PodSandboxFilter, opts?: CallOptions): Promise<PodSandbox[]> {
    await this.#enter("ListPodSandbox", filter ?? null, opts);
    return [...this.#sandboxes.values()].filter((s) => sandboxPasses(s, filter))
      .map(listedSandbox);
  }

  async createContainer(
    podSandboxId: string,
    config: ContainerConfig,
    sandboxConfig: PodSandboxConfig,
    opts?: CallOptions,
  ): Promise<string> {
    await this.#enter("CreateContainer", { podSandboxId, config, sandboxConfig }, opts);
    const s = this.#sandbox("CreateContainer", podSandboxId);
    const image = this.#images.find(config.image.image);
    if (!image) {
      const message = `CreateContainer: failed to get image "${config.image.image}": not found`;
      throw new CriError("NotFound", "CreateContainer", message);
    }
    refuseTakenContainerName(this.#containers.values(), s.id, config);
    const id = this.#id("container");
    this.#containers.set(id, {
      id,
      sandboxId: s.id,
      config: structuredClone(config),
      state: "CONTAINER_CREATED",
      createdAt: this.#now(),
      startedAt: 0,
      finishedAt: 0,
      exitCode: 0,
      reason: "",
      imageRef: image.id,
    });
    return id;
  }

  async startContainer(id: string, opts?: CallOptions): Promise<void> {
    await this.#enter("StartContainer", id, opts);
    const c = this.#container("StartContainer", id);
    refuseStart(c, this.#sandbox("StartContainer", c.sandboxId));
    c.state = "CONTAINER_RUNNING";
    c.startedAt = this.#now();
    const script = [...(c.config.command ?? []), ...(c.config.args ?? [])];
    const exit = scriptExitCode(script);
    if (exit !== undefined) this.#exit(c, exit);
  }

  async stopContainer(id: string, timeoutSeconds: number, opts?: CallOptions): Promise<void> {
    await this.#enter("StopContainer", { id, timeoutSeconds }, opts);
    const c = this.#container("StopContainer", id);
    if (c.state === "CONTAINER_RUNNING") this.#exit(c, 137);
  }

  async removeContainer(id: string, opts?: CallOptions): Promise<void> {
    await this.#enter("RemoveContainer", id, opts);
    this.#containers.delete(id);
  }

  async listContainers(filter?: ContainerFilter, opts?: CallOptions): Promise<Container[]> {
    await this.#enter("ListContainers", filter ?? null, opts);
    return [...this.#containers.values()].filter((c) => containerPasses(c, filter))
      .map(listedContainer);
  }

  async containerStatus(id: string, opts?: CallOptions): Promise<ContainerStatus> {
    await this.#enter("ContainerStatus", id, opts);
    const c = this.#container("ContainerStatus", id);
    const status = containerStatus(c, this.#sandboxes.get(c.sandboxId));
    return { ...status, imageRef: this.#images.statusImageRef(c.imageRef) };
  }

  async execSync(
    id: string,
    cmd: string[],
    timeoutSeconds: number,
    opts?: CallOptions,
  ): Promise<ExecResult> {
    await this.#enter("ExecSync", { id, cmd, timeoutSeconds }, opts);
    const c = this.#container("ExecSync", id);
    if (c.state !== "CONTAINER_RUNNING") {
      throw new CriError("Other", "ExecSync", `ExecSync: container "${id}" is not running`);
    }
    await sleepsOf(cmd, timeoutSeconds, opts?.signal);
    return this.execHandler(c.config, cmd);
  }

  async reopenContainerLog(id: string, opts?: CallOptions): Promise<void> {
    await this.#enter("ReopenContainerLog", id, opts);
    const c = this.#container("ReopenContainerLog", id);
    if (c.state !== "CONTAINER_RUNNING") {
      const message = "ReopenContainerLog: container is not running";
      throw new CriError("Other", "ReopenContainerLog", message);
    }
  }

  async containerStats(id: string, opts?: CallOptions): Promise<ContainerStats> {
    await this.#enter("ContainerStats", id, opts);
    return this.usage.containerStats(id);
  }

  async listContainerStats(filter?: ContainerStatsFilter, opts?: CallOptions) {
    await this.#enter("ListContainerStats", filter ?? null, opts);
    return this.usage.listContainerStats(filter);
  }

  async podSandboxStats(id: string, opts?: CallOptions): Promise<PodSandboxStats> {
    await this.#enter("PodSandboxStats", id, opts);
    return this.usage.podSandboxStats(id);
  }

  async listPodSandboxStats(filter?: PodSandboxStatsFilter, opts?: CallOptions) {
    await this.#enter("ListPodSandboxStats", filter ?? null, opts);
    return this.usage.listPodSandboxStats(filter);
  }

  async imageStatus(image: ImageSpec, opts?: CallOptions): Promise<Image | null> {
    await this.#enter("ImageStatus", image.image, opts);
    return this.#images.status(image.image);
  }

  async pullImage(
    image: ImageSpec,
    auth?: AuthConfig,
    _sandboxConfig?: PodSandboxConfig,
    opts?: CallOptions,
  ): Promise<string> {
    await this.#enter("PullImage", { image: image.image, auth: auth ?? null }, opts);
    return this.#images.pull(image.image);
  }

  async listImages(filter?: ImageFilter, opts?: CallOptions): Promise<Image[]> {
    await this.#enter("ListImages", filter ?? null, opts);
    return this.#images.list(filter?.image?.image);
  }

  close(): void {
    this.#closed = true;
  }
}
