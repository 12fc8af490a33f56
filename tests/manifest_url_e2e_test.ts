/**
 * `--manifest-url` on a real containerd, with the agent as a process under the compile task's
 * permissions and the document served on loopback (`testing/document_server.ts`) behind a relay
 * that can stop answering (`testing/counting_proxy.ts`): pods from the URL and from the directory
 * run together, each with its source; a change at the URL is applied within one
 * `--manifest-url-interval` and a pod removed from it is torn down; a stopped server, garbage, an
 * empty body and a 500 change nothing (degraded health, failed fetches counted); an agent
 * restarted (SIGTERM, then SIGKILL) while the server is down keeps the pods; the same pod in the
 * directory and at the URL runs the directory's, and both are told. The agent's safety-net
 * `--interval` is 30 s here: what happens within seconds is the URL's own doing.
 *
 * @module
 */
import { COMPILE_PERMISSIONS } from "../testing/agent_args.ts";
import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import type { Cri } from "../lib/runtime/cri.ts";
import { type AgentProcess, startAgent } from "../testing/agent_process.ts";
import { realRuntimeTest } from "../testing/containerd_harness.ts";
import { documentServer } from "../testing/document_server.ts";
import { countingProxy } from "../testing/counting_proxy.ts";
import { envIn, tinylet } from "../testing/in_container.ts";
import {
  AgentEndpoint,
  containerIds,
  podYaml,
  runningPods,
  sandboxesOf,
  statusLine,
} from "../testing/url_e2e_fixtures.ts";
import { waitFor } from "../testing/wait.ts";

const INSTANCE = "manifest-url-e2e";
const INTERVAL_MS = 2_000;
const SERVING = /Serving \/healthz, \/metrics and \/pods on \S+$/;
const ISO = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`;
const esc = (s: string) => RegExp.escape(s);

realRuntimeTest(
  "pods from --manifest-url beside the directory on containerd: changes within an interval, failures and restarts keep the pods, the directory wins",
  async (t, rc) => {
    using cri = connectCri(rc.socket);
    const dir = `${rc.dir}/manifest-url-e2e`;
    const manifests = `${dir}/manifests`;
    const root = `${dir}/root`;
    await Deno.mkdir(manifests, { recursive: true, mode: 0o755 });
    const pod = (name: string, version: string) => podYaml(name, version, rc.busyboxImage);
    const localFile = `${manifests}/local.yaml`;
    await Deno.writeTextFile(localFile, pod("local", "dir-1"));

    // Each new document comes with a new ETag and Last-Modified, as a static server's does.
    let version = 0;
    const serve = (text: string) => {
      version++;
      server.answer = {
        kind: "document",
        text,
        etag: `"${version}"`,
        lastModified: new Date(Date.UTC(2026, 0, 1, 0, version)).toUTCString(),
      };
    };
    await using server = documentServer({ kind: "status", status: 404 });
    serve(pod("web", "url-1") + "---\n" + pod("db", "url-1"));
    await using proxy = countingProxy(server.port);
    const url = `http://127.0.0.1:${proxy.port}/pods.yaml`;
    const agents: AgentProcess[] = [];
    const start = () => {
      const a = startAgent([
        `--socket=${rc.socket}`,
        `--manifests=${manifests}`,
        `--instance=${INSTANCE}`,
        `--root=${root}`,
        `--pod-log-root=${dir}/logs`,
        "--listen=127.0.0.1:0",
        "--interval=30s",
        `--manifest-url=${url}`,
        "--manifest-url-header=X-Fleet-Token:s3cret",
        `--manifest-url-interval=${INTERVAL_MS / 1000}s`,
      ], { permissions: COMPILE_PERMISSIONS });
      agents.push(a);
      return a;
    };
    let agent = start();
    const said = () => agent.lines.join("\n");
    let endpoint = AgentEndpoint.fromLog(await agent.waitForLine(SERVING));
    const pods = () => runningPods(cri, INSTANCE);
    /** Waits until exactly `names` run, none of them in the container of `not`. */
    const podsWith = (names: string[], not: Record<string, string> = {}) =>
      waitFor(() => `pods ${names} running; the agent logged:\n${said()}`, async () => {
        const now = await pods();
        return Object.keys(now).length === names.length &&
          names.every((n) => now[n] && now[n].container !== not[n]) && now;
      }, { timeoutMs: 30_000, everyMs: 20 });
    const fetches = (result: string) =>
      endpoint.metric("tinylet_manifest_url_fetches_total", { result });

    try {
      await t.step(
        "pods from the URL and from the directory run together, each with its source",
        async () => {
          const first = await podsWith(["db", "local", "web"]);
          assert.deepEqual(
            Object.fromEntries(Object.entries(first).map(([n, v]) => [n, v.source])),
            { db: url, local: localFile, web: url },
          );
          assert.equal(server.requests[0]?.headers["x-fleet-token"], "s3cret");
          const r = await tinylet([
            ...["pods", "-o", "wide", `--socket=${rc.socket}`, `--root=${root}`],
            `--instance=${INSTANCE}`,
          ], COMPILE_PERMISSIONS);
          assert.equal(r.code, 0, r.out + r.err);
          const rows = r.out.trimEnd().split("\n");
          assert.match(
            rows[0]!,
            /^NAMESPACE +NAME +READY +STATUS +RESTARTS +AGE +IP +SANDBOX +SOURCE$/,
          );
          const want = [["db", url], ["local", localFile], ["web", url]] as const;
          want.forEach(([name, source], i) => {
            const sandbox = first[name]!.sandbox.slice(0, 13);
            assert.match(
              rows[i + 1]!,
              new RegExp(
                `^default +${name} +1/1 +Running +0 +\\S+ +\\S+ +${sandbox} +${esc(source)}$`,
              ),
            );
          });
          console.log(`manifest-url e2e: tinylet pods -o wide\n${r.out.trimEnd()}`);
        },
      );

      await t.step(
        "a change at the URL runs within one interval; a pod removed from it is torn down",
        async () => {
          const before = containerIds(await pods());
          const asked = proxy.exchanges.length;
          const changed = performance.now();
          serve(pod("web", "url-2") + "---\n" + pod("db", "url-1"));
          const now = await podsWith(["db", "local", "web"], { web: before.web! });
          const ms = Math.round(performance.now() - changed);
          const fetched = Math.round(proxy.exchanges[asked]!.at - changed);
          assert.ok(fetched <= INTERVAL_MS + 250, `fetched ${fetched} ms after the change`);
          assert.equal((await envIn(cri, now.web!.container)).VERSION, "url-2");
          assert.equal(now.db!.container, before.db);
          assert.equal(now.local!.container, before.local);
          console.log(
            `manifest-url e2e: change at the URL to the new container running: ${ms} ms (fetched after ${fetched} ms; --manifest-url-interval ${INTERVAL_MS} ms)`,
          );

          const removed = performance.now();
          serve(pod("web", "url-2"));
          await waitFor(
            () => `db torn down; the agent logged:\n${said()}`,
            async () => (await sandboxesOf(cri, INSTANCE, "db")) === 0,
            { timeoutMs: 30_000, everyMs: 20 },
          );
          const gone = Math.round(performance.now() - removed);
          assert.deepEqual(containerIds(await pods()), {
            local: before.local,
            web: now.web!.container,
          });
          assert.ok(agent.lines.some((l) => l.includes("Removed pod default/db")), said());
          console.log(
            `manifest-url e2e: pod removed from the document to its sandbox gone: ${gone} ms`,
          );
        },
      );

      const kept = containerIds(await pods());
      const lastGood = `running the pods of its last good document \\(fetched at ${ISO}: 1 pod\\)`;
      /**
       * Waits until /healthz says degraded by `reason`; then two more polls fail, the pods keep
       * their containers, and the reason was logged once.
       */
      const failsWith = async (reason: string) => {
        const body = new RegExp(`^degraded: ${esc(reason)}; ${lastGood}\n$`);
        const seen = await waitFor(
          () => `/healthz degraded by ${reason}; the agent logged:\n${said()}`,
          async () => {
            const h = await endpoint.health();
            return h.status === 200 && body.test(h.body) && h;
          },
          { timeoutMs: INTERVAL_MS * 3 + 5_000 },
        );
        const failed = await fetches("failed");
        await waitFor(
          () => `two more failed fetches; the agent logged:\n${said()}`,
          async () => (await fetches("failed")) >= failed + 2,
          { timeoutMs: INTERVAL_MS * 2 + 1_000 },
        );
        assert.deepEqual(containerIds(await pods()), kept);
        assert.equal(await endpoint.metric("tinylet_manifest_url_up"), 0);
        const logged = agent.lines.filter((l) => l.includes(`${reason}; running the pods`));
        assert.equal(logged.length, 1, said());
        assert.equal((await endpoint.health()).body, seen.body);
        return seen.body.trimEnd();
      };

      await t.step(
        "a stopped server, garbage, an empty body and a 500 change nothing",
        async () => {
          const changed = await fetches("changed");
          const good = server.answer;
          const shown: string[] = [];
          await proxy.stop();
          shown.push(
            await failsWith(
              `Check that ${url} is reachable: tcp connect error: Connection refused`,
            ),
          );
          proxy.start();
          server.answer = {
            kind: "document",
            text: "apiVersion: v1\nkind: Pod\nmetadata: {name: web\n",
          };
          shown.push(
            await failsWith(
              `Fix the document at ${url}: it has 1 error (see tinylet check --manifest-url ${url})`,
            ),
          );
          server.answer = { kind: "bytes", body: new Uint8Array(0), length: true };
          shown.push(
            await failsWith(
              `Fix the document at ${url}: it is empty (0 bytes), and an empty answer removes no pod`,
            ),
          );
          server.answer = { kind: "status", status: 500, body: "upstream error\n" };
          shown.push(
            await failsWith(
              `Check the server of ${url}: it answered HTTP 500 Internal Server Error, not 200`,
            ),
          );
          const failed = await fetches("failed");
          console.log(
            `manifest-url e2e: /healthz while the URL fails (${failed} failed fetches):\n${
              shown.join("\n")
            }`,
          );
          const lines = await endpoint.metricLines("tinylet_manifest_url_");
          console.log(`manifest-url e2e: /metrics while the URL fails:\n${lines.join("\n")}`);
          // Back: the document held (its ETag) answers 304, and the agent is ok again.
          server.answer = good;
          await waitFor(
            () => `/healthz ok; the agent logged:\n${said()}`,
            async () => (await endpoint.health()).body === "ok\n",
          );
          assert.equal(await endpoint.metric("tinylet_manifest_url_up"), 1);
          assert.equal(await fetches("changed"), changed);
          const unchanged = new RegExp(
            `${esc(url)} answers: its document is unchanged \\(fetched at ${ISO}: 1 pod\\)`,
          );
          assert.ok(agent.lines.some((l) => unchanged.test(l)), said());
          assert.deepEqual(containerIds(await pods()), kept);
        },
      );

      for (const how of ["SIGTERM", "SIGKILL"] as const) {
        await t.step(
          `an agent restarted after ${how} while the server is down keeps the pods`,
          async () => {
            await proxy.stop();
            if (how === "SIGTERM") assert.equal(await agent.stop(), 0, said());
            else await agent.kill();
            const restarted = performance.now();
            agent = start();
            endpoint = AgentEndpoint.fromLog(await agent.waitForLine(SERVING));
            await agent.waitForLine(
              new RegExp(
                `Running the pods of the document of ${esc(url)} kept in ${
                  esc(root)
                }/manifest-url/document\\.json \\(fetched at ${ISO}: 1 pod\\) until it is fetched again$`,
              ),
            );
            await failsWith(
              `Check that ${url} is reachable: tcp connect error: Connection refused`,
            );
            assert.ok((await endpoint.metric("tinylet_passes_total")) >= 2);
            assert.deepEqual(await endpoint.pods(), [
              { name: "local", source: localFile, status: "Running", stale: false },
              // Declared by the kept document, which is valid: not "stale" (a kept invalid file's is).
              { name: "web", source: url, status: "Running", stale: false },
            ]);
            assert.ok(!agent.lines.some((l) => /Removed pod|Started pod/.test(l)), said());
            assert.deepEqual(containerIds(await pods()), kept);
            const ms = Math.round(performance.now() - restarted);
            console.log(
              `manifest-url e2e: restarted after ${how} with the server down: same containers through ${await fetches(
                "failed",
              )} failed fetches, ${ms} ms`,
            );
          },
        );
      }

      await t.step(
        "the same pod in the directory and at the URL: the directory's runs, both are told",
        async () => {
          const from = proxy.exchanges.length;
          proxy.start();
          await waitFor(
            () => `/healthz ok; the agent logged:\n${said()}`,
            async () => (await endpoint.health()).body === "ok\n",
          );
          // The restarted agent's first poll asks with the kept document's validators.
          const first = proxy.exchanges[from]!;
          assert.match(first.requestHead, new RegExp(`\r\nif-none-match: "${version}"\r\n`));
          assert.equal(statusLine(first.responseHead), "HTTP/1.1 304 Not Modified");
          const webFile = `${manifests}/web.yaml`;
          await Deno.writeTextFile(webFile, pod("web", "dir-2"));
          const now = await podsWith(["local", "web"], { web: kept.web! });
          assert.equal(now.web!.source, webFile);
          assert.equal((await envIn(cri, now.web!.container)).VERSION, "dir-2");
          assert.equal(now.local!.container, kept.local);
          const lost =
            `Rename or remove this pod: "default/web" is also declared in ${webFile}:1, which wins (the lexically first file)`;
          const won =
            `Pod "default/web" is also declared in ${url}:1; this file wins (the lexically first file)`;
          const told = [
            // The document is valid: only the pod is left out, nothing is said of the document.
            await agent.waitForLine(
              new RegExp(`ERROR +${esc(`${url}:1:1: error: ${lost} file=${url}`)}$`),
            ),
            await agent.waitForLine(
              new RegExp(`WARN +${esc(`${webFile}:1:1: warning: ${won} file=${webFile}`)}$`),
            ),
          ];
          console.log(`manifest-url e2e: the agent on the conflict:\n${told.join("\n")}`);
          // The files named, judged with the URL as the agent judges them.
          const r = await tinylet([
            ...["check", `--manifest-url=${url}`, "--manifest-url-header=X-Fleet-Token:s3cret"],
            localFile,
            webFile,
          ], COMPILE_PERMISSIONS);
          assert.equal(r.code, 1, r.out + r.err);
          assert.deepEqual(r.out.trimEnd().split("\n"), [
            `${url}:1:1: error: ${lost}`,
            `${webFile}:1:1: warning: ${won}`,
          ]);
          assert.equal(r.err, "3 files, 3 pods: 1 error, 1 warning\n");
          console.log(
            `manifest-url e2e: tinylet check --manifest-url URL FILE...\n${r.out}${r.err}`,
          );
          // The directory's declaration gone, the URL's runs again.
          await Deno.remove(webFile);
          const back = await podsWith(["local", "web"], { web: now.web!.container });
          assert.equal(back.web!.source, url);
          assert.equal((await envIn(cri, back.web!.container)).VERSION, "url-2");
          assert.equal(back.local!.container, kept.local);
        },
      );
    } finally {
      for (const a of agents) await a.stop();
      await removeAll(cri);
    }
  },
);

async function removeAll(cri: Cri): Promise<void> {
  const ours = await cri.listPodSandbox({ labelSelector: { "tinylet/instance": INSTANCE } });
  for (const s of ours) {
    await cri.stopPodSandbox(s.id);
    await cri.removePodSandbox(s.id);
  }
}
