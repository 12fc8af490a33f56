/**
 * The production implementation of {@linkcode Cri}: a client of the runtime's gRPC services
 * on its unix socket, with a deadline on every call, cancellation by signal, and failures
 * turned into {@linkcode CriError}s by gRPC status. With the other `grpc_*.ts` modules of
 * this folder, the only production code that imports `@grpc/*`.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
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
} from "./cri.ts";
import { CriError } from "./errors.ts";
import { criServices, type ServiceClient } from "./grpc_services.ts";
import { kindOfStatus } from "./grpc_status.ts";
import { type StatsCalls, statsCalls } from "./grpc_stats.ts";
import type {
  ContainerStats,
  ContainerStatsFilter,
  PodSandboxStats,
  PodSandboxStatsFilter,
} from "./stats.ts";
import {
  containerFilterToWire,
  fromWireContainer,
  fromWireContainerStatus,
  fromWireImage,
  fromWireSandbox,
  fromWireSandboxStatus,
  sandboxFilterToWire,
  type WirePodSandboxStatus,
} from "./grpc_wire.ts";

/** Default deadline of one call. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Image pulls can take minutes on slow links. */
const PULL_TIMEOUT_MS = 15 * 60_000;
/** Extra time a call gets on top of the time it asks the runtime to wait. */
const GRACE_MARGIN_MS = 10_000;

const CHANNEL_OPTIONS: grpc.ClientOptions = {
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
  "grpc.max_send_message_length": 16 * 1024 * 1024,
};

/** Options of {@linkcode connectCri}. */
export interface ConnectOptions {
  /** Deadline of a call that does not set its own (default 10 s). */
  timeoutMs?: number;
  /**
   * Cancels every call of this client, those in flight and those made later, when it aborts:
   * the agent's stop signal, so no call outlives the stop, whatever signal the caller passed.
   */
  signal?: AbortSignal;
}

/** Opens a CRI client on the unix socket at `socketPath`. Cheap: connects lazily. */
export function connectCri(socketPath: string, options: ConnectOptions = {}): GrpcCri {
  return new GrpcCri(socketPath, options);
}

/** A CRI client over gRPC. */
export class GrpcCri implements Cri, Disposable {
  readonly socketPath: string;
  readonly #timeoutMs: number;
  readonly #runtime: ServiceClient;
  readonly #images: ServiceClient;
  readonly #signal: AbortSignal | undefined;
  /** Calls in flight, cancelled by `close`. */
  readonly #inflight = new Set<grpc.ClientUnaryCall>();
  /** The stats calls, made through this client's runtime service. */
  readonly #stats: StatsCalls = statsCalls((method, req, opts) => this.#rt(method, req, opts));
  #closed = false;

  constructor(socketPath: string, options: ConnectOptions = {}) {
    this.socketPath = socketPath;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#signal = options.signal;
    const { RuntimeService, ImageService } = criServices();
    const address = `unix://${socketPath}`;
    const creds = grpc.credentials.createInsecure();
    this.#runtime = new RuntimeService(address, creds, CHANNEL_OPTIONS);
    // Share one channel between both services.
    this.#images = new ImageService(address, creds, {
      ...CHANNEL_OPTIONS,
      channelOverride: this.#runtime.getChannel(),
    });
  }

  #call<T>(
    client: ServiceClient,
    method: string,
    request: unknown,
    opts: CallOptions = {},
    defaultTimeoutMs = this.#timeoutMs,
  ): Promise<T> {
    if (this.#closed) {
      const closed = new CriError("Cancelled", method, `Call ${method}: the client is closed`);
      return Promise.reject(closed);
    }
    const timeoutMs = opts.timeoutMs ?? defaultTimeoutMs;
    const signals = [opts.signal, this.#signal].filter((s) => s !== undefined);
    return new Promise<T>((resolve, reject) => {
      const aborted = signals.find((s) => s.aborted);
      if (aborted) {
        reject(
          new CriError("Cancelled", method, `Call ${method}: cancelled`, {
            cause: aborted.reason,
          }),
        );
        return;
      }
      const fn = client[method];
      if (!fn) throw new Error(`Unknown CRI method ${method}`);
      // Cancelling makes grpc-js call back at once with CANCELLED.
      const onAbort = () => call.cancel();
      const call = fn.call(
        client,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, res) => {
          this.#inflight.delete(call);
          for (const s of signals) s.removeEventListener("abort", onAbort);
          if (err) {
            const kind = kindOfStatus(err.code);
            const detail = err.details || err.message;
            reject(
              new CriError(kind, method, `${method}: ${detail}`, { cause: err }),
            );
          } else {
            resolve(res as T);
          }
        },
      );
      this.#inflight.add(call);
      for (const s of signals) s.addEventListener("abort", onAbort, { once: true });
    });
  }

  #rt<T>(method: string, req: unknown, opts?: CallOptions, timeoutMs?: number) {
    return this.#call<T>(this.#runtime, method, req, opts, timeoutMs);
  }

  #img<T>(method: string, req: unknown, opts?: CallOptions, timeoutMs?: number) {
    return this.#call<T>(this.#images, method, req, opts, timeoutMs);
  }

  async version(opts?: CallOptions): Promise<VersionInfo> {
    const r = await this.#rt<VersionInfo>("Version", { version: "v1" }, opts);
    return {
      version: r.version,
      runtimeName: r.runtimeName,
      runtimeVersion: r.runtimeVersion,
      runtimeApiVersion: r.runtimeApiVersion,
    };
  }

  async status(opts?: CallOptions): Promise<RuntimeStatus> {
    const r = await this.#rt<{ status: RuntimeStatus | null }>("Status", {}, opts);
    return {
      conditions: (r.status?.conditions ?? []).map((c) => ({
        type: c.type,
        status: c.status,
        reason: c.reason,
        message: c.message,
      })),
    };
  }

  async runPodSandbox(
    config: PodSandboxConfig,
    opts?: CallOptions,
  ): Promise<string> {
    const r = await this.#rt<{ podSandboxId: string }>(
      "RunPodSandbox",
      { config },
      opts,
      // Creating the network namespace and the pause container can be slow.
      Math.max(this.#timeoutMs, 60_000),
    );
    return r.podSandboxId;
  }

  async stopPodSandbox(id: string, opts?: CallOptions): Promise<void> {
    await this.#rt("StopPodSandbox", { podSandboxId: id }, opts);
  }

  async removePodSandbox(id: string, opts?: CallOptions): Promise<void> {
    await this.#rt("RemovePodSandbox", { podSandboxId: id }, opts);
  }

  async podSandboxStatus(id: string, opts?: CallOptions): Promise<PodSandboxStatus> {
    const r = await this.#rt<{ status: WirePodSandboxStatus | null }>(
      "PodSandboxStatus",
      { podSandboxId: id },
      opts,
    );
    if (!r.status) {
      throw new CriError(
        "NotFound",
        "PodSandboxStatus",
        `PodSandboxStatus: no status for "${id}"`,
      );
    }
    return fromWireSandboxStatus(r.status);
  }

  async listPodSandbox(filter?: PodSandboxFilter, opts?: CallOptions): Promise<PodSandbox[]> {
    const r = await this.#rt<{ items: PodSandbox[] }>(
      "ListPodSandbox",
      { filter: sandboxFilterToWire(filter) },
      opts,
    );
    return r.items.map(fromWireSandbox);
  }

  async createContainer(
    podSandboxId: string,
    config: ContainerConfig,
    sandboxConfig: PodSandboxConfig,
    opts?: CallOptions,
  ): Promise<string> {
    const r = await this.#rt<{ containerId: string }>(
      "CreateContainer",
      { podSandboxId, config, sandboxConfig },
      opts,
      Math.max(this.#timeoutMs, 60_000),
    );
    return r.containerId;
  }

  async startContainer(id: string, opts?: CallOptions): Promise<void> {
    await this.#rt(
      "StartContainer",
      { containerId: id },
      opts,
      Math.max(this.#timeoutMs, 60_000),
    );
  }

  async stopContainer(
    id: string,
    timeoutSeconds: number,
    opts?: CallOptions,
  ): Promise<void> {
    await this.#rt(
      "StopContainer",
      { containerId: id, timeout: timeoutSeconds },
      opts,
      timeoutSeconds * 1000 + GRACE_MARGIN_MS,
    );
  }

  async removeContainer(id: string, opts?: CallOptions): Promise<void> {
    await this.#rt("RemoveContainer", { containerId: id }, opts);
  }

  async listContainers(
    filter?: ContainerFilter,
    opts?: CallOptions,
  ): Promise<Container[]> {
    const r = await this.#rt<{ containers: Container[] }>(
      "ListContainers",
      { filter: containerFilterToWire(filter) },
      opts,
    );
    return r.containers.map(fromWireContainer);
  }

  async containerStatus(
    id: string,
    opts?: CallOptions,
  ): Promise<ContainerStatus> {
    const r = await this.#rt<{ status: ContainerStatus | null }>(
      "ContainerStatus",
      { containerId: id },
      opts,
    );
    if (!r.status) {
      throw new CriError(
        "NotFound",
        "ContainerStatus",
        `ContainerStatus: no status for "${id}"`,
      );
    }
    return fromWireContainerStatus(r.status);
  }

  async execSync(
    id: string,
    cmd: string[],
    timeoutSeconds: number,
    opts?: CallOptions,
  ): Promise<ExecResult> {
    const r = await this.#rt<ExecResult>(
      "ExecSync",
      { containerId: id, cmd, timeout: timeoutSeconds },
      opts,
      timeoutSeconds > 0 ? timeoutSeconds * 1000 + GRACE_MARGIN_MS : 10 * 60_000,
    );
    return {
      stdout: new Uint8Array(r.stdout),
      stderr: new Uint8Array(r.stderr),
      exitCode: r.exitCode,
    };
  }

  async reopenContainerLog(id: string, opts?: CallOptions): Promise<void> {
    await this.#rt("ReopenContainerLog", { containerId: id }, opts);
  }

  containerStats(id: string, opts?: CallOptions): Promise<ContainerStats> {
    return this.#stats.containerStats(id, opts);
  }

  listContainerStats(filter?: ContainerStatsFilter, opts?: CallOptions): Promise<ContainerStats[]> {
    return this.#stats.listContainerStats(filter, opts);
  }

  podSandboxStats(id: string, opts?: CallOptions): Promise<PodSandboxStats> {
    return this.#stats.podSandboxStats(id, opts);
  }

  listPodSandboxStats(
    filter?: PodSandboxStatsFilter,
    opts?: CallOptions,
  ): Promise<PodSandboxStats[]> {
    return this.#stats.listPodSandboxStats(filter, opts);
  }

  async imageStatus(image: ImageSpec, opts?: CallOptions): Promise<Image | null> {
    const r = await this.#img<{ image: Image | null }>(
      "ImageStatus",
      { image, verbose: false },
      opts,
    );
    return r.image && r.image.id ? fromWireImage(r.image) : null;
  }

  async pullImage(
    image: ImageSpec,
    auth?: AuthConfig,
    sandboxConfig?: PodSandboxConfig,
    opts?: CallOptions,
  ): Promise<string> {
    const r = await this.#img<{ imageRef: string }>(
      "PullImage",
      { image, auth: auth ?? null, sandboxConfig: sandboxConfig ?? null },
      opts,
      PULL_TIMEOUT_MS,
    );
    return r.imageRef;
  }

  async listImages(filter?: ImageFilter, opts?: CallOptions): Promise<Image[]> {
    const r = await this.#img<{ images: Image[] }>(
      "ListImages",
      { filter: filter ?? null },
      opts,
    );
    return r.images.map(fromWireImage);
  }

  /** Closes the client; calls still in flight end with `Cancelled`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const call of this.#inflight) call.cancel();
    this.#inflight.clear();
    this.#images.close();
    this.#runtime.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
