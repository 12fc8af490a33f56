import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { connectCri } from "../lib/runtime/grpc.ts";
import { checkRuntime, RuntimeUnreachableError } from "../lib/runtime/endpoint.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { serveCri } from "../testing/fake_cri_server.ts";

async function messageFor(socket: string): Promise<string> {
  using cri = connectCri(socket, { timeoutMs: 2_000 });
  const err = await checkRuntime(cri, socket).then(
    () => assert.fail("checkRuntime should reject"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof RuntimeUnreachableError);
  return err.message;
}

Deno.test("a missing socket gives one clear line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const socket = `${dir}/containerd.sock`;
    assert.equal(
      await messageFor(socket),
      `Cannot reach the container runtime at "${socket}": no such socket (is containerd running? see --socket)`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a path that is not a socket says so", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const socket = `${dir}/plain-file`;
    await Deno.writeTextFile(socket, "");
    assert.match(
      await messageFor(socket),
      /: not a socket \(is containerd running\? see --socket\)$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a socket nobody listens on says so", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const socket = `${dir}/stale.sock`;
    // A socket file left behind by a process that is gone.
    const listener = Deno.listen({ transport: "unix", path: socket });
    listener.close();
    await Deno.stat(socket).catch(() => Deno.writeFileSync(socket, new Uint8Array()));
    const message = await messageFor(socket);
    assert.match(
      message,
      /: (nothing is listening on the socket|not a socket) \(/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a gRPC server that is not a CRI runtime says so", async () => {
  const dir = await Deno.makeTempDir();
  const server = new grpc.Server();
  try {
    const socket = `${dir}/other.sock`;
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(
        `unix://${socket}`,
        grpc.ServerCredentials.createInsecure(),
        (e) => e ? reject(e) : resolve(),
      )
    );
    assert.match(
      await messageFor(socket),
      /: the endpoint does not serve the CRI runtime\.v1 API \(/,
    );
  } finally {
    server.forceShutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a CRI runtime answers with its version", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const socket = `${dir}/cri.sock`;
    await using _server = await serveCri(new FakeCri(), socket);
    using cri = connectCri(socket);
    const v = await checkRuntime(cri, socket);
    assert.deepEqual(v, {
      version: "0.1.0",
      runtimeName: "fake",
      runtimeVersion: "1.0.0",
      runtimeApiVersion: "v1",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
