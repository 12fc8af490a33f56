/**
 * What the end-to-end tests of `--manifest-url` share: the pods they serve, a snapshot of what
 * an agent instance runs on the real runtime (each pod's sandbox, container and recorded source),
 * the agent's `/healthz` and `/metrics` read over loopback, and the wire figures of a run of
 * polls counted by `testing/counting_proxy.ts`.
 *
 * @module
 */
import type { Cri } from "../lib/runtime/cri.ts";
import { KEYS, LABEL_INSTANCE } from "../lib/runtime/labels.ts";
import type { Exchange } from "./counting_proxy.ts";
import { parsePrometheus } from "./prometheus_text.ts";

/** A container that stops at once on SIGTERM and otherwise runs for an hour. */
const RUNS = "trap 'exit 0' TERM; sleep 3600 & wait";

/** A `v1` Pod `name` on the host network whose container `app` has env `VERSION=version`. */
export function podYaml(name: string, version: string, image: string): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 0
  containers:
    - name: app
      image: ${image}
      imagePullPolicy: IfNotPresent
      command: ["sh", "-c", ${JSON.stringify(RUNS)}]
      env: [{name: VERSION, value: ${version}}]
`;
}

/** One pod of an instance as the runtime shows it. */
export interface RunningView {
  sandbox: string;
  /** The id of its running container `app`. */
  container: string;
  /** Its `tinylet/source` annotation. */
  source: string;
}

/** The pods of `instance` with a ready sandbox and a running container, by name. */
export async function runningPods(
  cri: Cri,
  instance: string,
): Promise<Record<string, RunningView>> {
  const selector = { [LABEL_INSTANCE]: instance };
  const [sandboxes, containers] = await Promise.all([
    cri.listPodSandbox({ state: "SANDBOX_READY", labelSelector: selector }),
    cri.listContainers({ state: "CONTAINER_RUNNING", labelSelector: selector }),
  ]);
  const out: Record<string, RunningView> = {};
  for (const s of sandboxes) {
    const c = containers.find((c) => c.podSandboxId === s.id);
    if (!c) continue;
    out[s.metadata.name] = {
      sandbox: s.id,
      container: c.id,
      source: s.annotations[KEYS.source] ?? "",
    };
  }
  return out;
}

/** Each running pod's container id, by pod name. */
export function containerIds(pods: Record<string, RunningView>): Record<string, string> {
  return Object.fromEntries(Object.entries(pods).map(([name, v]) => [name, v.container]).sort());
}

/** The sandboxes of pod `name` of `instance`, in any state. */
export async function sandboxesOf(cri: Cri, instance: string, name: string): Promise<number> {
  const list = await cri.listPodSandbox({
    labelSelector: { [LABEL_INSTANCE]: instance, [KEYS.podName]: name },
  });
  return list.length;
}

/** The agent's endpoint (`--listen`). */
export class AgentEndpoint {
  readonly #base: string;

  /** The endpoint an agent said it serves on, in its line `Serving ... on HOST:PORT`. */
  static fromLog(line: string): AgentEndpoint {
    const at = / on (\S+:\d+)$/.exec(line)?.[1];
    if (at === undefined) throw new Error(`No HOST:PORT at the end of the line: ${line}`);
    return new AgentEndpoint(at);
  }

  /** `at` is `HOST:PORT`. */
  constructor(at: string) {
    this.#base = `http://${at}`;
  }

  /** `/healthz`: its status and body. */
  async health(): Promise<{ status: number; body: string }> {
    const res = await fetch(`${this.#base}/healthz`);
    return { status: res.status, body: await res.text() };
  }

  /** `/pods`: each pod's name, source, status and whether it runs other than declared. */
  async pods(): Promise<{ name: string; source: string; status: string; stale: boolean }[]> {
    const list = await (await fetch(`${this.#base}/pods`)).json() as {
      name: string;
      source: string;
      status: string;
      stale: boolean;
    }[];
    return list.map(({ name, source, status, stale }) => ({ name, source, status, stale }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The lines of `/metrics` whose metric name starts with `prefix`, comments left out. */
  async metricLines(prefix: string): Promise<string[]> {
    const text = await (await fetch(`${this.#base}/metrics`)).text();
    return text.split("\n").filter((l) => l.startsWith(prefix));
  }

  /** The value of the sample `name{labels}` of `/metrics`, 0 when it has none yet. */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const text = await (await fetch(`${this.#base}/metrics`)).text();
    const family = parsePrometheus(text).get(name);
    const want = JSON.stringify(Object.entries(labels).sort());
    const sample = family?.samples.find((s) =>
      JSON.stringify(Object.entries(s.labels).sort()) === want
    );
    return sample?.value ?? 0;
  }
}

/** One poll as the relay saw it: the exchanges that came within a few seconds of each other. */
export interface Poll {
  /** When its first byte came (`performance.now()`). */
  at: number;
  /** The connections it used. */
  connections: number[];
  /** Bytes from the client, and from the server. */
  sent: number;
  received: number;
  /** The heads of its first exchange (plain HTTP). */
  requestHead: string;
  responseHead: string;
}

/**
 * The polls of `exchanges`: an exchange that starts more than `gapMs` after the one before it
 * starts a new poll (a TLS handshake and the request after it are one poll).
 */
export function pollsOf(exchanges: readonly Exchange[], gapMs = 5_000): Poll[] {
  const polls: Poll[] = [];
  let last = -Infinity;
  for (const e of exchanges) {
    let p = polls.at(-1);
    if (!p || e.at - last > gapMs) {
      p = {
        at: e.at,
        connections: [],
        sent: 0,
        received: 0,
        requestHead: e.requestHead,
        responseHead: e.responseHead,
      };
      polls.push(p);
    }
    if (!p.connections.includes(e.connection)) p.connections.push(e.connection);
    p.sent += e.sent;
    p.received += e.received;
    last = e.at;
  }
  return polls;
}

/** The status line of an HTTP/1.1 head, e.g. `HTTP/1.1 304 Not Modified`. */
export function statusLine(head: string): string {
  return head.slice(0, head.indexOf("\r\n"));
}
