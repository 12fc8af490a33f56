/**
 * Serves any {@linkcode Cri} (in practice the fake) over gRPC on a unix
 * socket, so tests exercise the real client in `lib/cri_grpc.ts`.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { criServices } from "../lib/cri_grpc.ts";
import {
  type ContainerState,
  type Cri,
  CriError,
  type PodSandboxStatus,
  type SandboxState,
} from "../lib/cri.ts";

const STATUS_OF_KIND: Record<string, grpc.status> = {
  NotFound: grpc.status.NOT_FOUND,
  Unavailable: grpc.status.UNAVAILABLE,
  DeadlineExceeded: grpc.status.DEADLINE_EXCEEDED,
  AlreadyExists: grpc.status.ALREADY_EXISTS,
  Cancelled: grpc.status.CANCELLED,
  Unimplemented: grpc.status.UNIMPLEMENTED,
  Other: grpc.status.UNKNOWN,
};

// deno-lint-ignore no-explicit-any
type Req = any;
type Handler = (req: Req) => Promise<unknown>;

function unary(fn: Handler): grpc.handleUnaryCall<Req, unknown> {
  return (call, callback) => {
    fn(call.request).then(
      (res) => callback(null, res),
      (err: unknown) => {
        const code = err instanceof CriError
          ? STATUS_OF_KIND[err.kind] ?? grpc.status.UNKNOWN
          : grpc.status.UNKNOWN;
        // Send the runtime's own text, without the client-side method prefix.
        const message = err instanceof Error ? err.message : String(err);
        const details = message.replace(/^[A-Za-z]+: /, "");
        callback({ code, details, metadata: new grpc.Metadata() });
      },
    );
  };
}

function sandboxStatusToWire(s: PodSandboxStatus) {
  return {
    id: s.id,
    metadata: s.metadata,
    state: s.state,
    createdAt: s.createdAt,
    network: { ip: s.ip, additionalIps: s.additionalIps.map((ip) => ({ ip })) },
    labels: s.labels,
    annotations: s.annotations,
  };
}

function stateOf<T extends string>(
  v: { state: T } | null | undefined,
): T | undefined {
  return v ? v.state : undefined;
}

function filterOf<T extends object>(
  v: Record<string, unknown> | null,
  pick: (v: Record<string, unknown>) => T,
): T | undefined {
  return v ? pick(v) : undefined;
}

/** A gRPC server for `cri`, listening on `socketPath` until closed. */
export interface CriServer extends AsyncDisposable {
  socketPath: string;
  close(): Promise<void>;
}

/** Starts serving `cri` on the unix socket `socketPath`. */
export async function serveCri(
  cri: Cri,
  socketPath: string,
): Promise<CriServer> {
  const { RuntimeService, ImageService } = criServices();
  const server = new grpc.Server();
  const nonEmpty = (
    s: unknown,
  ) => (typeof s === "string" && s !== "" ? s : undefined);
  server.addService(RuntimeService.service, {
    Version: unary(() => cri.version()),
    Status: unary(async () => ({ status: await cri.status(), info: {} })),
    RunPodSandbox: unary(async (r) => ({
      podSandboxId: await cri.runPodSandbox(r.config),
    })),
    StopPodSandbox: unary(async (r) => {
      await cri.stopPodSandbox(r.podSandboxId);
      return {};
    }),
    RemovePodSandbox: unary(async (r) => {
      await cri.removePodSandbox(r.podSandboxId);
      return {};
    }),
    PodSandboxStatus: unary(async (r) => ({
      status: sandboxStatusToWire(await cri.podSandboxStatus(r.podSandboxId)),
      info: {},
    })),
    ListPodSandbox: unary(async (r) => ({
      items: await cri.listPodSandbox(
        filterOf(r.filter, (f) => ({
          ...(nonEmpty(f.id) ? { id: f.id as string } : {}),
          ...(f.state
            ? {
              state: stateOf(
                f.state as { state: SandboxState },
              ) as SandboxState,
            }
            : {}),
          labelSelector: f.labelSelector as Record<string, string>,
        })),
      ),
    })),
    CreateContainer: unary(async (r) => ({
      containerId: await cri.createContainer(
        r.podSandboxId,
        r.config,
        r.sandboxConfig,
      ),
    })),
    StartContainer: unary(async (r) => {
      await cri.startContainer(r.containerId);
      return {};
    }),
    StopContainer: unary(async (r) => {
      await cri.stopContainer(r.containerId, Number(r.timeout));
      return {};
    }),
    RemoveContainer: unary(async (r) => {
      await cri.removeContainer(r.containerId);
      return {};
    }),
    ListContainers: unary(async (r) => ({
      containers: await cri.listContainers(
        filterOf(r.filter, (f) => ({
          ...(nonEmpty(f.id) ? { id: f.id as string } : {}),
          ...(f.state
            ? {
              state: stateOf(
                f.state as { state: ContainerState },
              ) as ContainerState,
            }
            : {}),
          ...(nonEmpty(f.podSandboxId) ? { podSandboxId: f.podSandboxId as string } : {}),
          labelSelector: f.labelSelector as Record<string, string>,
        })),
      ),
    })),
    ContainerStatus: unary(async (r) => ({
      status: await cri.containerStatus(r.containerId),
      info: {},
    })),
    ExecSync: unary((r) => cri.execSync(r.containerId, r.cmd, Number(r.timeout))),
    ReopenContainerLog: unary(async (r) => {
      await cri.reopenContainerLog(r.containerId);
      return {};
    }),
  });
  server.addService(ImageService.service, {
    ImageStatus: unary(async (r) => ({
      image: await cri.imageStatus(r.image),
      info: {},
    })),
    PullImage: unary(async (r) => ({
      imageRef: await cri.pullImage(
        r.image,
        r.auth ?? undefined,
        r.sandboxConfig ?? undefined,
      ),
    })),
    ListImages: unary(async (r) => ({
      images: await cri.listImages(r.filter ?? undefined),
    })),
  });
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(
      `unix://${socketPath}`,
      grpc.ServerCredentials.createInsecure(),
      (err) => (err ? reject(err) : resolve()),
    );
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    server.forceShutdown();
  };
  return { socketPath, close, [Symbol.asyncDispose]: close };
}
