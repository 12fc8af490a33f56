/**
 * Serves any {@linkcode Cri} (in practice the fake) over gRPC on a unix
 * socket, so tests exercise the real client in `lib/runtime/grpc.ts`. A
 * {@linkcode CriError} goes out as the gRPC status of its kind
 * (`lib/runtime/grpc_status.ts`), which the client reads back as the same kind.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { criServices } from "../lib/runtime/grpc_services.ts";
import { statusOfKind } from "../lib/runtime/grpc_status.ts";
import type { ContainerState, Cri, PodSandboxStatus, SandboxState } from "../lib/runtime/cri.ts";
import { CriError } from "../lib/runtime/errors.ts";
import { statsHandlers } from "./stats_wire.ts";

// deno-lint-ignore no-explicit-any
type Req = any;
/** What a handler gets besides the request: a signal that aborts when the call ends early. */
type Handler = (req: Req, opts: { signal: AbortSignal; timeoutMs: number }) => Promise<unknown>;

/**
 * A unary handler that hands `fn` a signal, aborted when the client cancels the call or its
 * deadline passes (as a real runtime's context is) and when the server closes, and the time
 * left until the client's deadline (`Infinity`: none).
 */
function unary(fn: Handler, calls: Set<AbortController>): grpc.handleUnaryCall<Req, unknown> {
  return (call, callback) => {
    const controller = new AbortController();
    calls.add(controller);
    call.on("cancelled", () => controller.abort(new Error("the client cancelled the call")));
    // The client's deadline, so the fake's delays and hangs end where the client's call does.
    const deadline = call.getDeadline();
    const timeoutMs = (deadline instanceof Date ? deadline.getTime() : deadline) - Date.now();
    fn(call.request, { signal: controller.signal, timeoutMs }).then(
      (res) => callback(null, res),
      (err: unknown) => {
        const code = err instanceof CriError ? statusOfKind(err.kind) : grpc.status.UNKNOWN;
        // Send the runtime's own text, without the client-side method prefix.
        const message = err instanceof Error ? err.message : String(err);
        const details = message.replace(/^[A-Za-z]+: /, "");
        callback({ code, details, metadata: new grpc.Metadata() });
      },
    ).finally(() => calls.delete(controller));
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
  const calls = new Set<AbortController>();
  const u = (fn: Handler) => unary(fn, calls);
  server.addService(RuntimeService.service, {
    Version: u((_, o) => cri.version(o)),
    Status: u(async (_, o) => ({ status: await cri.status(o), info: {} })),
    RunPodSandbox: u(async (r, o) => ({
      podSandboxId: await cri.runPodSandbox(r.config, o),
    })),
    StopPodSandbox: u(async (r, o) => {
      await cri.stopPodSandbox(r.podSandboxId, o);
      return {};
    }),
    RemovePodSandbox: u(async (r, o) => {
      await cri.removePodSandbox(r.podSandboxId, o);
      return {};
    }),
    PodSandboxStatus: u(async (r, o) => ({
      status: sandboxStatusToWire(await cri.podSandboxStatus(r.podSandboxId, o)),
      info: {},
    })),
    ListPodSandbox: u(async (r, o) => ({
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
        o,
      ),
    })),
    CreateContainer: u(async (r, o) => ({
      containerId: await cri.createContainer(
        r.podSandboxId,
        r.config,
        r.sandboxConfig,
        o,
      ),
    })),
    StartContainer: u(async (r, o) => {
      await cri.startContainer(r.containerId, o);
      return {};
    }),
    StopContainer: u(async (r, o) => {
      await cri.stopContainer(r.containerId, Number(r.timeout), o);
      return {};
    }),
    RemoveContainer: u(async (r, o) => {
      await cri.removeContainer(r.containerId, o);
      return {};
    }),
    ListContainers: u(async (r, o) => ({
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
        o,
      ),
    })),
    ContainerStatus: u(async (r, o) => ({
      status: await cri.containerStatus(r.containerId, o),
      info: {},
    })),
    ExecSync: u((r, o) => cri.execSync(r.containerId, r.cmd, Number(r.timeout), o)),
    ReopenContainerLog: u(async (r, o) => {
      await cri.reopenContainerLog(r.containerId, o);
      return {};
    }),
    ...Object.fromEntries(Object.entries(statsHandlers(cri)).map(([name, fn]) => [name, u(fn)])),
  });
  server.addService(ImageService.service, {
    ImageStatus: u(async (r, o) => ({
      image: await cri.imageStatus(r.image, o),
      info: {},
    })),
    PullImage: u(async (r, o) => ({
      imageRef: await cri.pullImage(
        r.image,
        r.auth ?? undefined,
        r.sandboxConfig ?? undefined,
        o,
      ),
    })),
    ListImages: u(async (r, o) => ({
      images: await cri.listImages(r.filter ?? undefined, o),
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
    // Calls still waiting (a hang injected into the fake) end now, so shutdown is not held.
    for (const c of calls) c.abort(new Error("the server is closing"));
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    server.forceShutdown();
  };
  return { socketPath, close, [Symbol.asyncDispose]: close };
}
