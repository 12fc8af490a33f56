import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { type HandlerDeps, type ProbeHandler, runHandler } from "../lib/probe/handlers.ts";
import type { ProbeOutcome, ProbeTarget } from "../lib/probe/probes.ts";
import { MAX_OUTPUT_CHARS } from "../lib/probe/handler_output.ts";
import type { PodSandboxConfig } from "../lib/runtime/cri.ts";
import { MAX_TIMER_MS } from "../lib/base/duration.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { HandDrivenTime } from "../testing/hand_time.ts";

// ---- fixtures ----

function baseTarget(): ProbeTarget {
  return { containerId: "no-container", host: "127.0.0.1", namedPorts: {} };
}

/** The fake runtime with one running container, for exec handlers. */
async function runningContainer(): Promise<{ fake: FakeCri; id: string }> {
  const fake = new FakeCri({ images: ["busybox:1.36"] });
  const sandbox: PodSandboxConfig = {
    metadata: { name: "web", namespace: "default", uid: "uid-1", attempt: 0 },
  };
  const sandboxId = await fake.runPodSandbox(sandbox);
  const id = await fake.createContainer(sandboxId, {
    metadata: { name: "app", attempt: 0 },
    image: { image: "busybox:1.36" },
    command: ["sleep", "3600"],
  }, sandbox);
  await fake.startContainer(id);
  return { fake, id };
}

/** A port nothing listens on (it was free a moment ago). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

// A throwaway self-signed certificate (CN=tinylet-probe-test), only for the HTTPS test.
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBkTCCATegAwIBAgIUAxfGiCrReyy+vI7yhL8BXf5cPeMwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSdGlueWxldC1wcm9iZS10ZXN0MCAXDTI2MTEyNzAxMjQ1NVoY
DzIxMjYxMTAzMDEyNDU1WjAdMRswGQYDVQQDDBJ0aW55bGV0LXByb2JlLXRlc3Qw
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARKcoo//OGjZTjXTNeuVrlE1FV9nrk6
vTis6mYpydd7DpDHVIFm4BfmT1jPiONnIN0pAmkeXEfeRkzKaR0+DXFQo1MwUTAd
BgNVHQ4EFgQUIrhNCtmNO/9VDAKLuq3Q5YrD3fEwHwYDVR0jBBgwFoAUIrhNCtmN
O/9VDAKLuq3Q5YrD3fEwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBF
AiEA6wSryG1af3Dn2ZczYWmX6JjcVYx7/P4d0h0BM+Um10QCIDf8jPGXyT8vclRD
HAZUxhM3Hfu9kQpGq2nAI5SKK/H0
-----END CERTIFICATE-----
`;
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAVD55MYrDg+y40yC
qblyP1zWoAJjd83OpNoNBvX+MWmhRANCAARKcoo//OGjZTjXTNeuVrlE1FV9nrk6
vTis6mYpydd7DpDHVIFm4BfmT1jPiONnIN0pAmkeXEfeRkzKaR0+DXFQ
-----END PRIVATE KEY-----
`;

interface TestHttpServer extends AsyncDisposable {
  port: number;
  /** Paths requested, in order. */
  paths: string[];
  /** Headers of the last request. */
  lastHeaders: Headers | undefined;
}

/**
 * A local HTTP(S) server with the routes the tests need: /ok, /404, /500, /same (302 to
 * /ok), /away (302 to another host name), /loop (302 to itself), /big (100 KiB), /slow
 * (answers only when the server closes).
 */
function serveHttp(tls = false): TestHttpServer {
  const paths: string[] = [];
  const release = Promise.withResolvers<void>();
  const state: TestHttpServer = {
    port: 0,
    paths,
    lastHeaders: undefined,
    async [Symbol.asyncDispose]() {
      release.resolve();
      await server.shutdown();
    },
  };
  const handler = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    paths.push(url.pathname);
    state.lastHeaders = req.headers;
    switch (url.pathname) {
      case "/ok":
        return new Response("healthy");
      case "/404":
        return new Response("no such page", { status: 404 });
      case "/500":
        return new Response("broken", { status: 500 });
      case "/same":
        return new Response(null, { status: 302, headers: { location: "/ok" } });
      case "/away":
        // Same port, another host name: kubelet does not follow it.
        return new Response(null, {
          status: 302,
          headers: { location: `http://localhost:${state.port}/500` },
        });
      case "/loop":
        return new Response(null, { status: 302, headers: { location: "/loop" } });
      case "/big":
        return new Response("x".repeat(100 * 1024));
      case "/slow":
        await release.promise;
        return new Response("too late");
      default:
        return new Response("not found", { status: 404 });
    }
  };
  const options = { hostname: "127.0.0.1", port: 0, onListen() {} };
  const server = tls
    ? Deno.serve({ ...options, cert: TEST_CERT, key: TEST_KEY }, handler)
    : Deno.serve(options, handler);
  state.port = server.addr.port;
  return state;
}

function httpGet(port: number | string, path: string): ProbeHandler {
  return { httpGet: { port, path } };
}

// ---- hand-encoded gRPC health service (independent of the client's codec) ----

const SERVING_STATUS = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 };

/** HealthCheckRequest.service: field 1, length-delimited; names here are short (< 128 bytes). */
function decodeRequest(bytes: Uint8Array): { service: string } {
  if (bytes.length === 0) return { service: "" };
  assert.equal(bytes[0], 0x0a);
  return { service: new TextDecoder().decode(bytes.subarray(2, 2 + (bytes[1] ?? 0))) };
}

const HEALTH_SERVICE = {
  Check: {
    path: "/grpc.health.v1.Health/Check",
    requestStream: false,
    responseStream: false,
    requestSerialize: (_: { service: string }) => Buffer.alloc(0),
    requestDeserialize: (b: Buffer) => decodeRequest(b),
    // HealthCheckResponse.status: field 1, varint (0 is the default, left out).
    responseSerialize: (status: number) => Buffer.from(status === 0 ? [] : [0x08, status]),
    responseDeserialize: (b: Buffer) => b[1] ?? 0,
  },
} as grpc.ServiceDefinition;

interface TestGrpcServer extends AsyncDisposable {
  port: number;
  userAgents: string[];
}

/** A gRPC server on 127.0.0.1; with `statuses`, it serves the health service with them. */
async function serveGrpc(
  statuses: Record<string, number> | undefined,
  { hang = false } = {},
): Promise<TestGrpcServer> {
  const server = new grpc.Server();
  const userAgents: string[] = [];
  if (statuses) {
    server.addService(HEALTH_SERVICE, {
      Check: (
        call: grpc.ServerUnaryCall<{ service: string }, number>,
        callback: grpc.sendUnaryData<number>,
      ) => {
        userAgents.push(String(call.metadata.get("user-agent")[0] ?? ""));
        if (hang) return; // never answers; the client's deadline ends the call
        const { service } = call.request;
        const status = Object.hasOwn(statuses, service) ? statuses[service] : undefined;
        if (status === undefined) {
          callback({ code: grpc.status.NOT_FOUND, details: "unknown service" });
        } else callback(null, status);
      },
    });
  }
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      "127.0.0.1:0",
      grpc.ServerCredentials.createInsecure(),
      (err, p) => (err ? reject(err) : resolve(p)),
    );
  });
  return {
    port,
    userAgents,
    async [Symbol.asyncDispose]() {
      server.forceShutdown();
      await Promise.resolve();
    },
  };
}

function grpcTarget(): ProbeTarget {
  return baseTarget();
}

// ---- httpGet ----

const httpCases: { name: string; path: string; ok: boolean; output: RegExp }[] = [
  { name: "a 200 succeeds with the body as output", path: "/ok", ok: true, output: /^healthy$/ },
  {
    name: "a 302 to the same host is followed",
    path: "/same",
    ok: true,
    output: /^healthy$/,
  },
  {
    name: "a 302 to another host is not followed and counts as success",
    path: "/away",
    ok: true,
    output: /^Probe terminated redirects/,
  },
  {
    name: "a 404 fails with kubelet's message",
    path: "/404",
    ok: false,
    output: /^HTTP probe failed with statuscode: 404$/,
  },
  {
    name: "a 500 fails with kubelet's message",
    path: "/500",
    ok: false,
    output: /^HTTP probe failed with statuscode: 500$/,
  },
  {
    name: "a redirect loop fails after 10 requests",
    path: "/loop",
    ok: false,
    output: /stopped after 10 redirects$/,
  },
];

for (const c of httpCases) {
  Deno.test(`httpGet: ${c.name}`, async () => {
    await using server = serveHttp();
    const cri = new FakeCri();
    const outcome = await runHandler(httpGet(server.port, c.path), baseTarget(), 1, { cri });
    assert.equal(outcome.ok, c.ok, outcome.output);
    assert.match(outcome.output, c.output);
  });
}

Deno.test("httpGet: a redirect to another host is not requested", async () => {
  await using server = serveHttp();
  await runHandler(httpGet(server.port, "/away"), baseTarget(), 1, { cri: new FakeCri() });
  assert.deepEqual(server.paths, ["/away"]);
});

Deno.test("httpGet: a redirect loop stops at 10 requests", async () => {
  await using server = serveHttp();
  await runHandler(httpGet(server.port, "/loop"), baseTarget(), 1, { cri: new FakeCri() });
  assert.equal(server.paths.length, 10);
});

Deno.test("httpGet: sends the probe's headers, the Host override, the User-Agent and Accept", async () => {
  await using server = serveHttp();
  const outcome = await runHandler(
    {
      httpGet: {
        port: server.port,
        path: "ok",
        httpHeaders: [
          { name: "X-Probe", value: "readiness" },
          { name: "Host", value: "app.example.test" },
        ],
      },
    },
    baseTarget(),
    1,
    { cri: new FakeCri() },
  );
  assert.ok(outcome.ok, outcome.output);
  const h = server.lastHeaders;
  assert.ok(h);
  assert.equal(h.get("x-probe"), "readiness");
  assert.equal(h.get("host"), "app.example.test");
  assert.equal(h.get("user-agent"), "tinylet-probe/0.1");
  assert.equal(h.get("accept"), "*/*");
  // A path without its leading slash is still the path.
  assert.deepEqual(server.paths, ["/ok"]);
});

Deno.test("httpGet: a probe's own User-Agent replaces the default", async () => {
  await using server = serveHttp();
  await runHandler(
    {
      httpGet: {
        port: server.port,
        path: "/ok",
        httpHeaders: [{ name: "User-Agent", value: "me" }],
      },
    },
    baseTarget(),
    1,
    { cri: new FakeCri() },
  );
  assert.equal(server.lastHeaders?.get("user-agent"), "me");
});

Deno.test("httpGet: a response slower than the timeout fails at the timeout", async () => {
  await using server = serveHttp();
  const outcome = await outcomeAtTimeout(httpGet(server.port, "/slow"), baseTarget(), 0.2, {
    cri: new FakeCri(),
  });
  assert.equal(outcome.ok, false);
  assert.match(outcome.output, /^Get "http:\/\/127\.0\.0\.1:\d+\/slow": timed out after 0\.2s$/);
});

Deno.test("httpGet: nothing listening fails with the connection error", async () => {
  const port = freePort();
  const outcome = await runHandler(httpGet(port, "/ok"), baseTarget(), 1, { cri: new FakeCri() });
  assert.equal(outcome.ok, false);
  assert.match(outcome.output, new RegExp(`^Get "http://127\\.0\\.0\\.1:${port}/ok": .+`));
});

Deno.test("httpGet: a named port is resolved from the container's ports", async () => {
  await using server = serveHttp();
  const target = { ...baseTarget(), namedPorts: { http: server.port } };
  const outcome = await runHandler(httpGet("http", "/ok"), target, 1, { cri: new FakeCri() });
  assert.ok(outcome.ok, outcome.output);
  assert.deepEqual(server.paths, ["/ok"]);
});

Deno.test("httpGet: a named port the container does not declare fails without a request", async () => {
  await using server = serveHttp();
  const target = { ...baseTarget(), namedPorts: { http: server.port } };
  for (const name of ["metrics", "constructor"]) {
    const outcome = await runHandler(httpGet(name, "/ok"), target, 1, { cri: new FakeCri() });
    assert.equal(outcome.ok, false);
    assert.equal(
      outcome.output,
      `Resolve port "${name}": the container declares no port of that name`,
    );
  }
  assert.deepEqual(server.paths, []);
});

Deno.test("httpGet: httpGet.host overrides the target's host", async () => {
  await using server = serveHttp();
  const target = { ...baseTarget(), host: "192.0.2.1" }; // TEST-NET: would never answer
  const outcome = await runHandler(
    {
      httpGet: { port: server.port, path: "/ok", host: "127.0.0.1" },
    },
    target,
    1,
    { cri: new FakeCri() },
  );
  assert.ok(outcome.ok, outcome.output);
});

Deno.test("httpGet: HTTPS does not verify the server's certificate", async () => {
  await using server = serveHttp(true);
  const outcome = await runHandler(
    {
      httpGet: { port: server.port, path: "/ok", scheme: "HTTPS" },
    },
    baseTarget(),
    1,
    { cri: new FakeCri() },
  );
  assert.ok(outcome.ok, outcome.output);
  assert.equal(outcome.output, "healthy");
});

Deno.test("httpGet: a large body is read up to a bound and the output kept to about 1 KiB", async () => {
  await using server = serveHttp();
  const outcome = await runHandler(httpGet(server.port, "/big"), baseTarget(), 1, {
    cri: new FakeCri(),
  });
  assert.ok(outcome.ok);
  assert.ok(outcome.output.length <= MAX_OUTPUT_CHARS, `${outcome.output.length} chars`);
  assert.ok(outcome.output.endsWith(" [truncated]"));
});

// ---- tcpSocket ----

Deno.test("tcpSocket: an open port succeeds and the connection is closed", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const outcome = await runHandler(
    { tcpSocket: { port: listener.addr.port } },
    baseTarget(),
    1,
    { cri: new FakeCri() },
  );
  assert.deepEqual(outcome, { ok: true, output: "" });
  const conn = await accepted;
  // The probe closed its end: the read sees the end of the stream.
  assert.equal(await conn.read(new Uint8Array(1)), null);
  conn.close();
});

Deno.test("tcpSocket: a closed port fails with the dial error", async () => {
  const port = freePort();
  const outcome = await runHandler({ tcpSocket: { port } }, baseTarget(), 1, {
    cri: new FakeCri(),
  });
  assert.equal(outcome.ok, false);
  assert.match(outcome.output, new RegExp(`^dial tcp 127\\.0\\.0\\.1:${port}: .+`));
});

Deno.test("tcpSocket: a named port is resolved and an unknown one fails", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const target = { ...baseTarget(), namedPorts: { db: listener.addr.port } };
  const ok = await runHandler({ tcpSocket: { port: "db" } }, target, 1, { cri: new FakeCri() });
  assert.ok(ok.ok, ok.output);
  (await accepted).close();
  const bad = await runHandler({ tcpSocket: { port: "cache" } }, target, 1, {
    cri: new FakeCri(),
  });
  assert.equal(bad.ok, false);
  assert.match(bad.output, /"cache"/);
});

// ---- grpc ----

const HEALTH_STATUSES = { "": SERVING_STATUS.SERVING, "sick": SERVING_STATUS.NOT_SERVING };

Deno.test("grpc: SERVING succeeds, and the call carries the probe's User-Agent", async () => {
  await using server = await serveGrpc(HEALTH_STATUSES);
  const outcome = await runHandler({ grpc: { port: server.port } }, grpcTarget(), 1, {
    cri: new FakeCri(),
  });
  assert.deepEqual(outcome, { ok: true, output: "service healthy" });
  assert.match(server.userAgents[0] ?? "", /^tinylet-probe\/0\.1/);
});

Deno.test("grpc: NOT_SERVING fails and says so", async () => {
  await using server = await serveGrpc(HEALTH_STATUSES);
  const outcome = await runHandler(
    { grpc: { port: server.port, service: "sick" } },
    grpcTarget(),
    1,
    { cri: new FakeCri() },
  );
  assert.deepEqual(outcome, {
    ok: false,
    output: `service unhealthy (responded with "NOT_SERVING")`,
  });
});

Deno.test("grpc: a service the server does not know fails", async () => {
  await using server = await serveGrpc(HEALTH_STATUSES);
  const outcome = await runHandler(
    { grpc: { port: server.port, service: "billing" } },
    grpcTarget(),
    1,
    { cri: new FakeCri() },
  );
  assert.equal(outcome.ok, false);
  assert.match(outcome.output, /^error: health rpc probe failed: .*unknown service/);
});

Deno.test("grpc: a server without the health service fails", async () => {
  await using server = await serveGrpc(undefined);
  const outcome = await runHandler({ grpc: { port: server.port } }, grpcTarget(), 1, {
    cri: new FakeCri(),
  });
  assert.equal(outcome.ok, false);
  assert.match(outcome.output, /^error: this server does not implement the grpc health protocol/);
});

Deno.test("grpc: nothing listening fails", async () => {
  const port = freePort();
  const outcome = await runHandler({ grpc: { port } }, grpcTarget(), 1, { cri: new FakeCri() });
  assert.equal(outcome.ok, false);
  assert.match(outcome.output, /^error: health rpc probe failed: /);
});

Deno.test("grpc: a server that does not answer fails at the timeout", async () => {
  await using server = await serveGrpc(HEALTH_STATUSES, { hang: true });
  // The gRPC client keeps its deadline on the wall clock, so this one runs in real time: the
  // outcome says the timeout ended it, and the server never answered.
  const outcome = await runHandler({ grpc: { port: server.port } }, grpcTarget(), 0.2, {
    cri: new FakeCri(),
  });
  assert.deepEqual(outcome, {
    ok: false,
    output: `Check the health of "" at "127.0.0.1:${server.port}": timed out after 0.2s`,
  });
});

// ---- exec ----

Deno.test("exec: exit code 0 succeeds with stdout and stderr as output", async () => {
  const { fake, id } = await runningContainer();
  const outcome = await runHandler(
    { exec: { command: ["sh", "-c", "echo ready; echo warm >&2"] } },
    { ...baseTarget(), containerId: id },
    3,
    { cri: fake },
  );
  assert.deepEqual(outcome, { ok: true, output: "ready\nwarm\n" });
  const call = fake.calls.find((c) => c.method === "ExecSync");
  assert.deepEqual(call?.arg, {
    id,
    cmd: ["sh", "-c", "echo ready; echo warm >&2"],
    timeoutSeconds: 3,
  });
});

Deno.test("exec: exit code 1 fails and keeps the output", async () => {
  const { fake, id } = await runningContainer();
  const target = { ...baseTarget(), containerId: id };
  const outcome = await runHandler(
    { exec: { command: ["sh", "-c", "echo not yet; exit 1"] } },
    target,
    1,
    { cri: fake },
  );
  assert.deepEqual(outcome, { ok: false, output: "not yet\n" });
  const silent = await runHandler({ exec: { command: ["false"] } }, target, 1, { cri: fake });
  assert.deepEqual(silent, { ok: false, output: `Run command "false": exited with code 1` });
});

Deno.test("exec: a container that is gone fails with the runtime's error", async () => {
  const { fake, id } = await runningContainer();
  await fake.removeContainer(id);
  const outcome = await runHandler(
    { exec: { command: ["true"] } },
    { ...baseTarget(), containerId: id },
    1,
    { cri: fake },
  );
  assert.equal(outcome.ok, false);
  assert.match(outcome.output, new RegExp(`^ExecSync: .*"${id}": not found$`));
});

Deno.test("exec: a runtime slower than the timeout fails at the timeout", async () => {
  const { fake, id } = await runningContainer();
  fake.inject("ExecSync", { delayMs: 5_000 });
  const outcome = await outcomeAtTimeout(
    { exec: { command: ["true"] } },
    { ...baseTarget(), containerId: id },
    0.2,
    { cri: fake },
  );
  assert.deepEqual(outcome, { ok: false, output: `Run command "true": timed out after 0.2s` });
});

Deno.test("exec: a long output is cut to about 1 KiB", async () => {
  const { fake, id } = await runningContainer();
  fake.execHandler = () => ({
    stdout: new TextEncoder().encode("y".repeat(50_000)),
    stderr: new Uint8Array(),
    exitCode: 0,
  });
  const outcome = await runHandler(
    { exec: { command: ["cat", "/big"] } },
    { ...baseTarget(), containerId: id },
    1,
    { cri: fake },
  );
  assert.ok(outcome.ok);
  assert.equal(outcome.output.length, MAX_OUTPUT_CHARS);
  assert.ok(outcome.output.endsWith(" [truncated]"));
});

// ---- sleep, cancellation, programming errors ----

Deno.test("sleep: waits its seconds, then succeeds", async () => {
  using time = new HandDrivenTime();
  const run = started({ sleep: { seconds: 0.1 } }, 0);
  await time.advance(99);
  assert.equal(run.outcome, undefined, "the sleep ended before its 100 ms");
  await time.advance(1);
  assert.deepEqual(run.outcome, { ok: true, output: "" });
  await run.done;
});

Deno.test("sleep: an abort ends it at once as a failure", async () => {
  using time = new HandDrivenTime();
  const controller = new AbortController();
  const run = started({ sleep: { seconds: 60 } }, 0, controller.signal);
  await time.advance(20);
  assert.equal(run.outcome, undefined, "the sleep ended before the abort");
  controller.abort(new Error("agent stopping"));
  // No time passes: the abort alone ends it.
  await time.advance(0);
  assert.deepEqual(run.outcome, { ok: false, output: "Sleep 60s: cancelled: agent stopping" });
  await run.done;
});

Deno.test("sleep: a sleep longer than the timeout fails at the timeout", async () => {
  const outcome = await runHandler({ sleep: { seconds: 60 } }, baseTarget(), 0.05, {
    cri: new FakeCri(),
  });
  assert.deepEqual(outcome, { ok: false, output: "Sleep 60s: timed out after 0.05s" });
});

Deno.test("an already aborted signal fails at once without calling the runtime", async () => {
  const { fake, id } = await runningContainer();
  const before = fake.calls.length;
  const outcome = await runHandler(
    { exec: { command: ["true"] } },
    { ...baseTarget(), containerId: id },
    1,
    { cri: fake, signal: AbortSignal.abort(new Error("stopped")) },
  );
  assert.deepEqual(outcome, { ok: false, output: `Run command "true": cancelled: stopped` });
  assert.equal(fake.calls.length, before);
});

Deno.test("a handler with no action or a negative timeout is a programming error", async () => {
  const deps = { cri: new FakeCri() };
  await assert.rejects(runHandler({}, baseTarget(), 1, deps), TypeError);
  await assert.rejects(runHandler({ sleep: { seconds: 1 } }, baseTarget(), -1, deps), RangeError);
});

// ---- lengths past 2^31-1 ms (24.8 days) ----

const DAY_MS = 24 * 3600 * 1000;
/** Runs `handler` and records its outcome when it comes. */
function started(
  handler: ProbeHandler,
  timeoutSeconds: number,
  signal?: AbortSignal,
): { outcome: ProbeOutcome | undefined; done: Promise<void> } {
  const run: { outcome: ProbeOutcome | undefined; done: Promise<void> } = {
    outcome: undefined,
    done: Promise.resolve(),
  };
  const deps = signal ? { cri: new FakeCri(), signal } : { cri: new FakeCri() };
  run.done = runHandler(handler, baseTarget(), timeoutSeconds, deps).then((o) => {
    run.outcome = o;
  });
  return run;
}

/** How long, in real time, a handler may take to settle once its timeout has fallen due. */
const SETTLE_MS = 2_000;

/**
 * Runs `handler` on hand-driven time: it must still be running 1 ms before `timeoutSeconds`,
 * and have ended when the timeout falls due; returns its outcome. The hand clock stays at
 * the timeout while real event-loop turns let the handler settle (its socket or call closing),
 * for at most {@linkcode SETTLE_MS} of wall-clock time (`Date.now`, which the hand clock
 * leaves alone); a handler still running then fails the test instead of hanging it.
 */
async function outcomeAtTimeout(
  handler: ProbeHandler,
  target: ProbeTarget,
  timeoutSeconds: number,
  deps: HandlerDeps,
): Promise<ProbeOutcome> {
  using time = new HandDrivenTime();
  let outcome: ProbeOutcome | undefined;
  let failure: unknown;
  runHandler(handler, target, timeoutSeconds, deps).then(
    (o) => outcome = o,
    (err) => failure = err ?? new Error("the handler rejected"),
  );
  await time.advance(timeoutSeconds * 1000 - 1);
  assert.equal(outcome, undefined, "the handler ended before its timeout");
  assert.equal(failure, undefined, "the handler threw before its timeout");
  await time.advance(1);
  const deadline = Date.now() + SETTLE_MS;
  while (outcome === undefined && failure === undefined && Date.now() < deadline) {
    await time.advance(0);
  }
  if (failure !== undefined) throw failure;
  if (outcome === undefined) {
    assert.fail(
      `the handler did not end at its ${timeoutSeconds}s timeout: still running ${SETTLE_MS} ms of real time after the clock reached it`,
    );
  }
  return outcome;
}

Deno.test("sleep: a 30-day sleep is not cut short at 24.8 days (the longest timer); it ends at 30 days", async () => {
  using time = new HandDrivenTime();
  const run = started({ sleep: { seconds: 30 * 24 * 3600 } }, 0);
  await time.advance(MAX_TIMER_MS + 1_000);
  assert.equal(run.outcome, undefined, "the sleep ended after 24.8 days");
  await time.advance(30 * DAY_MS - MAX_TIMER_MS - 2_000);
  assert.equal(run.outcome, undefined, "the sleep ended a second early");
  await time.advance(1_000);
  assert.deepEqual(run.outcome, { ok: true, output: "" });
  await run.done;
});

Deno.test("a timeout past 24.8 days still applies: a 40-day sleep with a 30-day timeout fails at 30 days", async () => {
  using time = new HandDrivenTime();
  const timeoutSeconds = 30 * 24 * 3600;
  const run = started({ sleep: { seconds: 40 * 24 * 3600 } }, timeoutSeconds);
  await time.advance(30 * DAY_MS - 1_000);
  assert.equal(run.outcome, undefined, "the handler ended before its timeout");
  await time.advance(1_000);
  assert.deepEqual(run.outcome, {
    ok: false,
    output: `Sleep 3456000s: timed out after ${timeoutSeconds}s`,
  });
  await run.done;
});

Deno.test("sleep: a sleep past 2^31-1 ms does not end early on timers that fire such delays after 1 ms, and an abort ends it at once", async () => {
  // Hand-driven timers, like Deno's, fire a delay past 2^31-1 ms after 1 ms.
  using time = new HandDrivenTime();
  const controller = new AbortController();
  const seconds = Math.ceil(MAX_TIMER_MS / 1000) + 1;
  const run = started({ sleep: { seconds } }, 0, controller.signal);
  await time.advance(100);
  assert.equal(run.outcome, undefined, "the sleep ended within 100 ms");
  controller.abort(new Error("agent stopping"));
  // No time passes: the abort alone ends it.
  await time.advance(0);
  assert.deepEqual(run.outcome, {
    ok: false,
    output: `Sleep ${seconds}s: cancelled: agent stopping`,
  });
  await run.done;
});
