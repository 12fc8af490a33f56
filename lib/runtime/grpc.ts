/**
 * The production implementation of {@linkcode Cri}: gRPC over the runtime's
 * unix socket. This is the only production module that imports `@grpc/*`.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";
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
import { CriError, type CriErrorKind } from "./errors.ts";

/** Where the CRI definition lives, next to this module (embedded by `deno compile --include`). */
export const PROTO_PATH = fileURLToPath(
  new URL("../../proto/cri.proto", import.meta.url),
);

/** Default deadline of one call. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Image pulls can take minutes on slow links. */
const PULL_TIMEOUT_MS = 15 * 60_000;
/** Extra time a call gets on top of the time it asks the runtime to wait. */
const GRACE_MARGIN_MS = 10_000;

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

type Callback = (err: grpc.ServiceError | null, res: unknown) => void;
type UnaryMethod = (
  req: unknown,
  meta: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: Callback,
) => grpc.ClientUnaryCall;
type ServiceClient = grpc.Client & Record<string, UnaryMethod>;
type ServiceClientConstructor = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => ServiceClient;

let cachedDefinition: protoLoader.PackageDefinition | undefined;

/** The parsed CRI definition; loaded once per process. */
export function criPackageDefinition(): protoLoader.PackageDefinition {
  cachedDefinition ??= protoLoader.loadSync(PROTO_PATH, LOADER_OPTIONS);
  return cachedDefinition;
}

/** The service constructors of `runtime.v1`, typed. */
export function criServices(): {
  RuntimeService: ServiceClientConstructor & {
    service: grpc.ServiceDefinition;
  };
  ImageService: ServiceClientConstructor & { service: grpc.ServiceDefinition };
} {
  const root = grpc.loadPackageDefinition(
    criPackageDefinition(),
  ) as unknown as {
    runtime: {
      v1: Record<
        "RuntimeService" | "ImageService",
        ServiceClientConstructor & { service: grpc.ServiceDefinition }
      >;
    };
  };
  return root.runtime.v1;
}

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
export function connectCri(
  socketPath: string,
  options: ConnectOptions = {},
): GrpcCri {
  return new GrpcCri(socketPath, options);
}

function kindOf(code: number | undefined): CriErrorKind {
  switch (code) {
    case grpc.status.NOT_FOUND:
      return "NotFound";
    case grpc.status.UNAVAILABLE:
      return "Unavailable";
    case grpc.status.DEADLINE_EXCEEDED:
      return "DeadlineExceeded";
    case grpc.status.ALREADY_EXISTS:
      return "AlreadyExists";
    case grpc.status.CANCELLED:
      return "Cancelled";
    case grpc.status.UNIMPLEMENTED:
      return "Unimplemented";
    default:
      return "Other";
  }
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
      return Promise.reject(
        new CriError(
          "Cancelled",
          method,
          `Call ${method}: the client is closed`,
        ),
      );
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
            const kind = kindOf(err.code);
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

  #img<T>(
    method: string,
    req: unknown,
    opts?: CallOptions,
    timeoutMs?: number,
  ) {
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
    const r = await this.#rt<{ status: RuntimeStatus | null }>(
      "Status",
      {},
      opts,
    );
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

  async podSandboxStatus(
    id: string,
    opts?: CallOptions,
  ): Promise<PodSandboxStatus> {
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

  async listPodSandbox(
    filter?: PodSandboxFilter,
    opts?: CallOptions,
  ): Promise<PodSandbox[]> {
    const wire = filter
      ? {
        id: filter.id ?? "",
        state: filter.state ? { state: filter.state } : null,
        labelSelector: filter.labelSelector ?? {},
      }
      : null;
    const r = await this.#rt<{ items: PodSandbox[] }>(
      "ListPodSandbox",
      { filter: wire },
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
    const wire = filter
      ? {
        id: filter.id ?? "",
        state: filter.state ? { state: filter.state } : null,
        podSandboxId: filter.podSandboxId ?? "",
        labelSelector: filter.labelSelector ?? {},
      }
      : null;
    const r = await this.#rt<{ containers: Container[] }>(
      "ListContainers",
      { filter: wire },
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

  async imageStatus(
    image: ImageSpec,
    opts?: CallOptions,
  ): Promise<Image | null> {
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

interface WirePodSandboxStatus extends Omit<PodSandboxStatus, "ip" | "additionalIps"> {
  network: { ip: string; additionalIps: { ip: string }[] } | null;
}

function fromWireSandbox(s: PodSandbox): PodSandbox {
  return {
    id: s.id,
    metadata: { ...s.metadata },
    state: s.state,
    createdAt: s.createdAt,
    labels: { ...s.labels },
    annotations: { ...s.annotations },
    runtimeHandler: s.runtimeHandler,
  };
}

function fromWireSandboxStatus(s: WirePodSandboxStatus): PodSandboxStatus {
  return {
    id: s.id,
    metadata: { ...s.metadata },
    state: s.state,
    createdAt: s.createdAt,
    ip: s.network?.ip ?? "",
    additionalIps: (s.network?.additionalIps ?? []).map((a) => a.ip),
    labels: { ...s.labels },
    annotations: { ...s.annotations },
  };
}

function fromWireContainer(c: Container): Container {
  return {
    id: c.id,
    podSandboxId: c.podSandboxId,
    metadata: { name: c.metadata.name, attempt: c.metadata.attempt },
    image: { image: c.image?.image ?? "" },
    imageRef: c.imageRef,
    state: c.state,
    createdAt: c.createdAt,
    labels: { ...c.labels },
    annotations: { ...c.annotations },
  };
}

function fromWireContainerStatus(s: ContainerStatus): ContainerStatus {
  return {
    id: s.id,
    metadata: { name: s.metadata.name, attempt: s.metadata.attempt },
    state: s.state,
    createdAt: s.createdAt,
    startedAt: s.startedAt,
    finishedAt: s.finishedAt,
    exitCode: s.exitCode,
    image: { image: s.image?.image ?? "" },
    imageRef: s.imageRef,
    reason: s.reason,
    message: s.message,
    labels: { ...s.labels },
    annotations: { ...s.annotations },
    mounts: s.mounts.map((m) => ({
      containerPath: m.containerPath,
      hostPath: m.hostPath,
      readonly: m.readonly ?? false,
    })),
    logPath: s.logPath,
  };
}

function fromWireImage(i: Image): Image {
  return {
    id: i.id,
    repoTags: [...i.repoTags],
    repoDigests: [...i.repoDigests],
    size: Number(i.size),
    uid: i.uid ? { value: Number(i.uid.value) } : null,
    username: i.username,
  };
}

// ---- gRPC health checking (probes) ----

/** The method a `grpc` probe calls (the standard gRPC health checking protocol). */
const HEALTH_CHECK_METHOD = "/grpc.health.v1.Health/Check";

/** `grpc.health.v1.HealthCheckResponse.ServingStatus`, by number. */
const HEALTH_STATUS_NAMES = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

/**
 * Calls `grpc.health.v1.Health/Check` for `service` ("" for the whole server) at
 * `address` (`host:port`, IPv6 in brackets), in plaintext, once, within `timeoutMs`
 * (`Infinity`: no deadline). Resolves to the serving status by name (`SERVING`,
 * `NOT_SERVING`, `SERVICE_UNKNOWN`, `UNKNOWN`, or the number of a value this client
 * does not know). Rejects with a {@linkcode CriError} whose `kind` is the gRPC code
 * (`Unavailable` when nothing answers, `Unimplemented` when the server has no health
 * service, `NotFound` for a service the server does not know, `DeadlineExceeded`). The
 * client is closed before the promise settles. `options.signal` cancels the call (kind
 * `Cancelled`); `options.userAgent` is the `user-agent` it announces.
 */
export function grpcHealthCheck(
  address: string,
  service: string,
  timeoutMs: number,
  options: { signal?: AbortSignal; userAgent?: string } = {},
): Promise<{ status: string }> {
  const method = HEALTH_CHECK_METHOD.slice(1);
  const { signal } = options;
  if (signal?.aborted) {
    return Promise.reject(
      new CriError("Cancelled", method, `${method}: cancelled`, { cause: signal.reason }),
    );
  }
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
    ...(options.userAgent ? { "grpc.primary_user_agent": options.userAgent } : {}),
  });
  return new Promise<{ status: string }>((resolve, reject) => {
    const onAbort = () => call.cancel();
    const call = client.makeUnaryRequest(
      HEALTH_CHECK_METHOD,
      encodeHealthCheckRequest,
      decodeHealthCheckResponse,
      service,
      new grpc.Metadata(),
      { deadline: Number.isFinite(timeoutMs) ? Date.now() + timeoutMs : Infinity },
      (err, res) => {
        signal?.removeEventListener("abort", onAbort);
        client.close();
        if (err || !res) {
          const detail = err?.details || err?.message || "no response";
          reject(new CriError(kindOf(err?.code), method, `${method}: ${detail}`, { cause: err }));
        } else {
          resolve(res);
        }
      },
    );
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** `HealthCheckRequest { string service = 1; }` on the wire. */
function encodeHealthCheckRequest(service: string): Buffer {
  const text = new TextEncoder().encode(service);
  if (text.length === 0) return Buffer.alloc(0); // proto3 omits default values
  const length: number[] = [];
  let n = text.length;
  while (n >= 0x80) {
    length.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  length.push(n);
  const out = Buffer.alloc(1 + length.length + text.length);
  out[0] = 0x0a; // field 1, length-delimited
  out.set(length, 1);
  out.set(text, 1 + length.length);
  return out;
}

/** `HealthCheckResponse { ServingStatus status = 1; }` from the wire; skips unknown fields. */
function decodeHealthCheckResponse(buf: Uint8Array): { status: string } {
  let i = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      const b = buf[i++];
      if (b === undefined) break;
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
    throw new Error("Decode HealthCheckResponse: truncated varint");
  };
  let status = 0;
  while (i < buf.length) {
    const key = varint();
    const wireType = key % 8;
    if (wireType === 0) {
      const v = varint();
      if (key === 0x08) status = v; // field 1, varint
    } else if (wireType === 1) i += 8;
    else if (wireType === 2) i += varint();
    else if (wireType === 5) i += 4;
    else throw new Error(`Decode HealthCheckResponse: unsupported wire type ${wireType}`);
  }
  if (i > buf.length) throw new Error("Decode HealthCheckResponse: truncated field");
  return { status: HEALTH_STATUS_NAMES[status] ?? String(status) };
}
