/**
 * The CRI service definition (`proto/cri.proto`), loaded once, and the typed constructors of
 * its two gRPC services, `runtime.v1.RuntimeService` and `runtime.v1.ImageService`: what the
 * client connects with and what a test server serves.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";

/** Where the CRI definition lives: `proto/cri.proto` in the repository (embedded by `deno compile --include`). */
export const PROTO_PATH = fileURLToPath(
  new URL("../../proto/cri.proto", import.meta.url),
);

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
/** A client of one CRI service: its unary methods by name. */
export type ServiceClient = grpc.Client & Record<string, UnaryMethod>;
/** The constructor of a {@linkcode ServiceClient}. */
export type ServiceClientConstructor = new (
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
