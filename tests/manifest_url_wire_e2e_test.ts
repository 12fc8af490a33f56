/**
 * What `--manifest-url` costs on the wire, with everything at its default (`--interval`,
 * `--manifest-url-interval` 20 s): two agents on a real containerd, under the compile task's
 * permissions, each polling a one-pod document that does not change, one over plain HTTP on
 * loopback and one over HTTPS (a CA made by `openssl`, given with `--manifest-url-ca`), each
 * behind a relay that counts the bytes each way (`testing/counting_proxy.ts`). Three polls each:
 * the first fetches the document (200), the next two are conditional and answered 304 on the
 * same connection. Prints the requests an hour and the bytes of each poll, headers included.
 *
 * @module
 */
import { COMPILE_PERMISSIONS } from "../testing/agent_args.ts";
import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import type { Cri } from "../lib/runtime/cri.ts";
import { type AgentProcess, startAgent } from "../testing/agent_process.ts";
import { realRuntimeTest } from "../testing/containerd_harness.ts";
import { documentServer, makeTestCertificates } from "../testing/document_server.ts";
import { countingProxy } from "../testing/counting_proxy.ts";
import {
  AgentEndpoint,
  podYaml,
  type Poll,
  pollsOf,
  runningPods,
  statusLine,
} from "../testing/url_e2e_fixtures.ts";
import { waitFor } from "../testing/wait.ts";

const INSTANCE = "manifest-url-wire";
const SERVING = /Serving \/healthz, \/metrics and \/pods on \S+$/;
const DEFAULT_INTERVAL_S = 20;
const LAST_MODIFIED = "Thu, 01 Jan 2026 00:00:00 GMT";

realRuntimeTest(
  "an unchanged document at the default interval: three polls a minute, each a small conditional request answered 304, on one connection",
  async (t, rc) => {
    using cri = connectCri(rc.socket);
    const dir = `${rc.dir}/manifest-url-wire`;
    await Deno.mkdir(`${dir}/certs`, { recursive: true });
    const certs = await makeTestCertificates(`${dir}/certs`);
    const plainDoc = podYaml("edge", "v1", rc.busyboxImage);
    const tlsDoc = podYaml("edge-tls", "v1", rc.busyboxImage);
    await using plainServer = documentServer({
      kind: "document",
      text: plainDoc,
      etag: '"edge-1"',
      lastModified: LAST_MODIFIED,
    });
    await using tlsServer = documentServer(
      { kind: "document", text: tlsDoc, etag: '"edge-tls-1"', lastModified: LAST_MODIFIED },
      { tls: { cert: certs.cert, key: certs.key } },
    );
    await using plainProxy = countingProxy(plainServer.port);
    await using tlsProxy = countingProxy(tlsServer.port);
    const plainUrl = `http://127.0.0.1:${plainProxy.port}/pods.yaml`;
    const tlsUrl = `https://127.0.0.1:${tlsProxy.port}/pods.yaml`;
    /** An agent of instance `name` reading only `url` (its manifest directory is missing). */
    const start = (name: string, url: string, extra: string[] = []) =>
      startAgent([
        `--socket=${rc.socket}`,
        `--manifests=${dir}/${name}/manifests`,
        `--instance=${name}`,
        `--root=${dir}/${name}/root`,
        `--pod-log-root=${dir}/${name}/logs`,
        "--listen=127.0.0.1:0",
        `--manifest-url=${url}`,
        ...extra,
      ], { permissions: COMPILE_PERMISSIONS });
    const agents: AgentProcess[] = [
      start(INSTANCE, plainUrl),
      start(`${INSTANCE}-tls`, tlsUrl, [`--manifest-url-ca=${certs.caFile}`]),
    ];
    const said = () => agents.map((a) => a.lines.join("\n")).join("\n");
    try {
      const [plain, tls] = await Promise.all(
        agents.map(async (a) => AgentEndpoint.fromLog(await a.waitForLine(SERVING))),
      ) as [AgentEndpoint, AgentEndpoint];
      const unchanged = (e: AgentEndpoint) =>
        e.metric("tinylet_manifest_url_fetches_total", { result: "unchanged" });
      // Counted by the agents: every byte of the third poll has passed the relay.
      await waitFor(
        () => `three polls of each agent; they logged:\n${said()}`,
        async () => (await unchanged(plain)) >= 2 && (await unchanged(tls)) >= 2,
        { timeoutMs: 3 * DEFAULT_INTERVAL_S * 1000, everyMs: 250 },
      );
      const plainPolls = pollsOf(plainProxy.exchanges);
      const tlsPolls = pollsOf(tlsProxy.exchanges);

      await t.step(
        "both agents run their pod and are healthy without a manifest directory",
        async () => {
          for (
            const [name, url, endpoint] of [
              [INSTANCE, plainUrl, plain],
              [`${INSTANCE}-tls`, tlsUrl, tls],
            ] as const
          ) {
            const pods = await runningPods(cri, name);
            assert.deepEqual(Object.keys(pods), [name === INSTANCE ? "edge" : "edge-tls"]);
            assert.equal(Object.values(pods)[0]!.source, url);
            assert.deepEqual(await endpoint.health(), { status: 200, body: "ok\n" });
            assert.equal(await endpoint.metric("tinylet_manifest_url_up"), 1);
            assert.equal(
              await endpoint.metric("tinylet_manifest_url_fetches_total", { result: "changed" }),
              1,
            );
          }
        },
      );

      await t.step("polls come one interval apart", () => {
        assert.equal(plainPolls.length, 3, JSON.stringify(plainPolls));
        assert.equal(tlsPolls.length, 3, JSON.stringify(tlsPolls));
        for (const g of [...gapsS(plainPolls), ...gapsS(tlsPolls)]) {
          assert.ok(
            g >= DEFAULT_INTERVAL_S - 0.5 && g < DEFAULT_INTERVAL_S + 1,
            `polls ${g} s apart`,
          );
        }
      });

      await t.step(
        "over plain HTTP: the document once, then a conditional GET and a bare 304",
        () => {
          const body = new TextEncoder().encode(plainDoc).length;
          const [first, ...later] = plainPolls as [Poll, Poll, Poll];
          assert.match(first.requestHead, /^GET \/pods\.yaml HTTP\/1\.1\r\n/);
          assert.doesNotMatch(first.requestHead, /\r\nif-none-match:/);
          assert.equal(statusLine(first.responseHead), "HTTP/1.1 200 OK");
          assert.match(first.responseHead, new RegExp(`\r\ncontent-length: ${body}\r\n`));
          assert.equal(first.received, first.responseHead.length + body);
          for (const p of later) {
            assert.match(p.requestHead, /\r\nif-none-match: "edge-1"\r\n/);
            assert.match(p.requestHead, /\r\nif-modified-since: Thu, 01 Jan 2026 00:00:00 GMT\r\n/);
            assert.equal(statusLine(p.responseHead), "HTTP/1.1 304 Not Modified");
            // Nothing but the heads: a GET has no body, nor has a 304.
            assert.equal(p.sent, p.requestHead.length);
            assert.equal(p.received, p.responseHead.length);
          }
          assert.deepEqual(plainPolls.map((p) => p.connections), [[1], [1], [1]]);
        },
      );

      await t.step("over HTTPS: one connection, its handshake paid once", () => {
        assert.deepEqual(tlsPolls.map((p) => p.connections), [[1], [1], [1]]);
        for (const p of tlsPolls.slice(1)) assert.ok(p.sent < 200 && p.received < 200);
      });

      const gaps = [...gapsS(plainPolls), ...gapsS(tlsPolls)];
      const perHour = 3600 / (gaps.reduce((a, b) => a + b, 0) / gaps.length);
      const hourly = (bytes: number) => `${(perHour * bytes / 1000).toFixed(1)} kB`;
      const [p0, p1] = plainPolls as [Poll, Poll];
      const [s0, s1, s2] = tlsPolls as [Poll, Poll, Poll];
      console.log([
        `manifest-url wire: an unchanged document at the default interval (${DEFAULT_INTERVAL_S} s): polls ${
          gaps.map((g) => g.toFixed(2)).join(", ")
        } s apart: ${perHour.toFixed(1)} requests an hour per node (${
          3600 / DEFAULT_INTERVAL_S
        } at exactly ${DEFAULT_INTERVAL_S} s)`,
        `  http:// (HTTP/1.1, one connection kept for the 3 polls)`,
        `    the first poll: ${p0.sent} bytes sent, ${p0.received} received (200: ${p0.responseHead.length} of headers, ${
          p0.received - p0.responseHead.length
        } of document)`,
        `    each later poll: ${p1.sent} bytes sent (request line and headers) + ${p1.received} received (304, headers only) = ${
          p1.sent + p1.received
        } bytes; ${hourly(p1.sent + p1.received)} an hour`,
        ...`${p1.requestHead}${p1.responseHead}`.trimEnd().split("\r\n").map((l) => `      ${l}`),
        `  https:// (TLS; HTTP/2 as Deno's fetch and Deno.serve negotiate it; one connection kept)`,
        `    the first poll (handshake, then the 200): ${s0.sent} bytes sent, ${s0.received} received`,
        `    each later poll: ${s1.sent} + ${s1.received} and ${s2.sent} + ${s2.received} bytes; ${
          hourly(s2.sent + s2.received)
        } an hour`,
      ].join("\n"));
    } finally {
      for (const a of agents) await a.stop();
      for (const name of [INSTANCE, `${INSTANCE}-tls`]) await removeAll(cri, name);
    }
  },
);

/** Seconds between one poll and the next. */
function gapsS(polls: Poll[]): number[] {
  return polls.slice(1).map((p, i) => (p.at - polls[i]!.at) / 1000);
}

async function removeAll(cri: Cri, instance: string): Promise<void> {
  const ours = await cri.listPodSandbox({ labelSelector: { "tinylet/instance": instance } });
  for (const s of ours) {
    await cri.stopPodSandbox(s.id);
    await cri.removePodSandbox(s.id);
  }
}
