/**
 * The codec warm-up: encodes and decodes a full sample of each request and response of the
 * CRI methods on a pod's start and on a pass, so that protobufjs has generated their encoders
 * and decoders before a pod needs them. No call is made and no socket is opened.
 *
 * @module
 */
import { criPackageDefinition, criServices } from "./grpc_services.ts";

/**
 * The methods on the path of a pod's start and of a pass: the ones {@linkcode warmCodecs}
 * prepares by default.
 */
export const HOT_METHODS: readonly string[] = [
  "ListPodSandbox",
  "ListContainers",
  "ImageStatus",
  "RunPodSandbox",
  "PodSandboxStatus",
  "CreateContainer",
  "StartContainer",
  "ContainerStatus",
];

/** A field of a message, as the loaded definition describes it. */
interface FieldDescriptor {
  name: string;
  label: string;
  type: string;
  typeName: string;
}

/** A message type, as the loaded definition describes it. */
interface MessageDescriptor {
  field: FieldDescriptor[];
  nestedType?: { name: string; options?: { mapEntry?: boolean } | null }[];
}

/** One method of a loaded service: its codecs and message types. */
interface MethodCodecs {
  requestSerialize(value: unknown): Uint8Array;
  requestDeserialize(bytes: Uint8Array): unknown;
  responseSerialize(value: unknown): Uint8Array;
  responseDeserialize(bytes: Uint8Array): unknown;
  requestType: { type: MessageDescriptor };
  responseType: { type: MessageDescriptor };
}

/**
 * A message of `type` with every field set once (each message type at most once on a path),
 * so that encoding and decoding it reaches the code of every nested type.
 */
function fullSample(type: MessageDescriptor, path: Set<string>): Record<string, unknown> {
  const def = criPackageDefinition() as unknown as Record<string, { type?: MessageDescriptor }>;
  const out: Record<string, unknown> = {};
  for (const f of type.field) {
    let value: unknown;
    if (f.type === "TYPE_MESSAGE") {
      const local = f.typeName.split(".").pop();
      if (type.nestedType?.some((n) => n.name === local && n.options?.mapEntry)) {
        out[f.name] = { k: "v" };
        continue;
      }
      const name = f.typeName.replace(/^\./, "");
      const nested = (def[name] ?? def[`runtime.v1.${name}`])?.type;
      if (!nested || path.has(name)) continue;
      value = fullSample(nested, new Set([...path, name]));
    } else if (f.type === "TYPE_STRING") value = "x";
    else if (f.type === "TYPE_BOOL") value = true;
    else if (f.type === "TYPE_BYTES") value = new Uint8Array([1]);
    else value = 1; // numbers, and an enum's value 1
    out[f.name] = f.label === "LABEL_REPEATED" ? [value] : value;
  }
  return out;
}

/**
 * Prepares the message codecs of `methods` (by default {@linkcode HOT_METHODS}) by encoding
 * and decoding a full sample of each request and response. protobufjs generates a type's
 * encoder and decoder at its first use (about 20 ms for the messages of a pod's start). A
 * name that is no method of either service is skipped.
 */
export function warmCodecs(methods: readonly string[] = HOT_METHODS): void {
  const { RuntimeService, ImageService } = criServices();
  const services = [RuntimeService.service, ImageService.service] as unknown as Record<
    string,
    MethodCodecs
  >[];
  for (const name of methods) {
    const m = services.map((s) => s[name]).find((x) => x !== undefined);
    if (!m) continue;
    m.requestDeserialize(m.requestSerialize(fullSample(m.requestType.type, new Set())));
    m.responseDeserialize(m.responseSerialize(fullSample(m.responseType.type, new Set())));
  }
}
