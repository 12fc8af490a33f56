/**
 * `tinylet pods` and `tinylet describe`: what runs and why not, from what
 * the runtime shows and what the agent publishes under `--root`.
 *
 * Every line goes through `printableIo` and every table cell through
 * `printable` before columns are measured, so a value from outside (a file
 * name, probe output, an image name, an error or event message) can neither
 * drive the terminal nor break a row. `-o json` is JSON, with DEL and C1
 * characters escaped as well.
 *
 * @module
 */
import type { AgentConfig, PodRef } from "./cli.ts";
import type { Io } from "./io.ts";
import type { Container, Cri } from "../runtime/cri.ts";
import { printable, printableIo, terminalJson } from "../base/escape.ts";
import { groupObserved, type ObservedPod, ownedBy } from "../reconcile/observe.ts";
import { type ContainerView, type PodView, runtimeView } from "../reconcile/status.ts";
import { readAgentState, statusFilePath } from "../agent/status_file.ts";
import { KEYS } from "../runtime/labels.ts";
import { retryText } from "../reconcile/rollback_images.ts";
import { type Clock, SYSTEM_CLOCK } from "../base/clock.ts";
import { containerUsage } from "./usage_sample.ts";

/** How long ago `iso` was, as kubectl's AGE column writes it: 45s, 3m, 2h, 4d. */
export function age(iso: string | null, now: number): string {
  if (!iso) return "<none>";
  const s = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 3600 * 2) return `${Math.floor(s / 60)}m`;
  if (s < 86400 * 2) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/**
 * Left-aligned columns separated by three spaces, as kubectl prints them.
 * Cells are escaped first, so a tab or a newline in a value keeps its row
 * whole and the columns are measured as they print.
 */
export function table(cells: string[][]): string[] {
  const rows = cells.map((r) => r.map(printable));
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) =>
    r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("   ").trimEnd()
  );
}

/** This agent instance's pods on the runtime. */
export async function listOurs(cri: Cri, instance: string): Promise<ObservedPod[]> {
  const selector = ownedBy(instance);
  const [sandboxes, containers] = await Promise.all([
    cri.listPodSandbox({ labelSelector: selector }),
    cri.listContainers({ labelSelector: selector }),
  ]);
  return [...groupObserved(sandboxes, containers).pods.values()].map((list) =>
    list.find((o) => o.sandbox.state === "SANDBOX_READY") ?? list.at(-1)!
  );
}

/** The pods to show: the agent's views where it knows them, the runtime's otherwise. */
async function gather(config: AgentConfig, cri: Cri, io: Io) {
  // A status file that cannot be read (mode 0600, another user) is said, not taken as none.
  const state = await readAgentState(statusFilePath(config.root), Date.now());
  const status = state.status;
  if (!state.running) io.err(`${state.note}; showing what the runtime has`);
  let runtime: ObservedPod[] = [];
  let runtimeError: string | undefined;
  try {
    runtime = await listOurs(cri, config.instance);
  } catch (err) {
    runtimeError = (err as Error).message;
  }
  const published = state.running ? status?.pods ?? [] : [];
  const byUid = new Map(published.map((p) => [p.uid, p]));
  // A pod whose new spec cannot start yet (its images are not there) runs as it was: the
  // agent's view of the new spec says why.
  const byKey = new Map(published.map((p) => [`${p.namespace}/${p.name}`, p]));
  const views: PodView[] = [];
  const seen = new Set<string>();
  for (const o of runtime) {
    const key = `${o.sandbox.metadata.namespace}/${o.sandbox.metadata.name}`;
    const v = byUid.get(o.sandbox.metadata.uid) ?? byKey.get(key);
    views.push(v ?? runtimeView(o, new Map(), ""));
    seen.add(`${o.sandbox.metadata.namespace}/${o.sandbox.metadata.name}`);
  }
  // Pods the agent wants but the runtime does not have (yet): creating, or failing.
  for (const v of state.running ? status?.pods ?? [] : []) {
    if (!seen.has(`${v.namespace}/${v.name}`)) views.push(v);
  }
  views.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  return { views, status, state, runtimeError };
}

/** `tinylet pods`: like `kubectl get pods`. */
export async function podsCommand(
  config: AgentConfig,
  cri: Cri,
  options: { output: "table" | "wide" | "json"; namespace: string | undefined },
  raw: Io,
): Promise<number> {
  const io = printableIo(raw);
  const { views, runtimeError } = await gather(config, cri, io);
  if (runtimeError) io.err(`Cannot list the runtime: ${runtimeError}`);
  const shown = views.filter((v) => !options.namespace || v.namespace === options.namespace);
  if (options.output === "json") {
    raw.out(terminalJson(shown, 2));
    return runtimeError ? 1 : 0;
  }
  if (shown.length === 0) {
    io.err(options.namespace ? `No pods in namespace ${options.namespace}` : "No pods");
    return runtimeError ? 1 : 0;
  }
  const now = Date.now();
  const wide = options.output === "wide";
  const rows = [[
    "NAMESPACE",
    "NAME",
    "READY",
    "STATUS",
    "RESTARTS",
    "AGE",
    ...(wide ? ["IP", "SANDBOX", "SOURCE"] : []),
  ]];
  for (const v of shown) {
    rows.push([
      v.namespace,
      v.name,
      v.ready,
      v.stale ? `${v.status} (file invalid)` : v.status,
      String(v.restarts),
      age(v.createdAt, now),
      ...(wide ? [v.ip || "<none>", v.sandboxId?.slice(0, 13) ?? "<none>", v.source] : []),
    ]);
  }
  for (const line of table(rows)) io.out(line);
  return runtimeError ? 1 : 0;
}

function containerLines(c: ContainerView, usage: string[]): string[] {
  const lines = [`  ${c.name}:${c.type === "regular" ? "" : ` (${c.type})`}`];
  lines.push(`    Container ID:   ${c.containerId ?? "<none>"}`);
  lines.push(`    Image:          ${c.image}`);
  if (c.state === "running") {
    lines.push(`    State:          Running`);
    if (c.startedAt) lines.push(`      Started:      ${c.startedAt}`);
  } else if (c.state === "terminated") {
    lines.push(`    State:          Terminated`);
    lines.push(`      Reason:       ${c.reason}`);
    lines.push(`      Exit Code:    ${c.exitCode ?? "<unknown>"}`);
    if (c.startedAt) lines.push(`      Started:      ${c.startedAt}`);
    if (c.finishedAt) lines.push(`      Finished:     ${c.finishedAt}`);
  } else {
    lines.push(`    State:          Waiting`);
    lines.push(`      Reason:       ${c.reason}`);
    if (c.message) lines.push(`      Message:      ${c.message}`);
  }
  if (c.lastTermination) {
    lines.push(`    Last State:     Terminated`);
    lines.push(`      Reason:       ${c.lastTermination.reason}`);
    lines.push(`      Exit Code:    ${c.lastTermination.exitCode}`);
    if (c.lastTermination.finishedAt) {
      lines.push(`      Finished:     ${c.lastTermination.finishedAt}`);
    }
  }
  lines.push(`    Ready:          ${c.ready ? "True" : "False"}`);
  lines.push(`    Restart Count:  ${c.restartCount}`);
  lines.push(...usage);
  for (const p of c.probes ?? []) {
    const name = `${p.kind[0]!.toUpperCase()}${p.kind.slice(1)}:`.padEnd(16);
    lines.push(
      `    ${name}${p.result}${
        p.lastRunAt ? ` (last run ${new Date(p.lastRunAt).toISOString()})` : " (not run yet)"
      }`,
    );
    if (p.lastFailureAt) {
      lines.push(
        `      Last failure: ${new Date(p.lastFailureAt).toISOString()}: ${
          (p.lastFailureOutput ?? p.lastOutput) || "no output"
        }`,
      );
    }
  }
  return lines;
}

/**
 * `tinylet describe POD`: containers, state, reasons, usage, restarts, events, the last error,
 * the file. `clock` times the second between the two samples of usage.
 */
export async function describeCommand(
  config: AgentConfig,
  cri: Cri,
  ref: PodRef,
  raw: Io,
  options: { clock?: Clock } = {},
): Promise<number> {
  const io = printableIo(raw);
  const { views, status } = await gather(config, cri, io);
  const v = views.find((x) => x.namespace === ref.namespace && x.name === ref.name);
  if (!v) {
    io.err(`Pod ${ref.namespace}/${ref.name} not found: see "tinylet pods" for the pods there are`);
    return 1;
  }
  const now = Date.now();
  const out = [
    `Name:         ${v.name}`,
    `Namespace:    ${v.namespace}`,
    `UID:          ${v.uid}`,
    `Source:       ${v.source}${v.stale ? " (invalid: the pod runs as it was)" : ""}`,
    `Status:       ${v.status}`,
    `Phase:        ${v.phase}`,
    `Ready:        ${v.ready}`,
    `IP:           ${v.ip || "<none>"}`,
    `Sandbox:      ${v.sandboxId ?? "<none>"}`,
    `Created:      ${v.createdAt ?? "<not yet>"}${
      v.createdAt ? ` (${age(v.createdAt, now)} ago)` : ""
    }`,
  ];
  if (v.rolledBack?.failedImages) {
    const r = v.rolledBack;
    out.push(
      `Rolled Back:  at ${r.at}: new images of the spec in the file failed within its rollback window: ${r.cause}`,
      `              running its last good images, pinned by digest; back to its tags once ${
        retryText(v.rolledBack.failedImages)
      }, or when the file is edited`,
    );
  } else if (v.rolledBack) {
    const r = v.rolledBack;
    out.push(
      `Rolled Back:  at ${r.at}: the spec in the file (${
        short(r.failedHash)
      }) failed within its rollback window: ${r.cause}`,
      `              running its last good spec (${
        short(r.runningHash)
      }); edit the file to try again`,
    );
  }
  if (v.backoffUntil) out.push(`Back-off:     until ${v.backoffUntil}`);
  if (v.lastError) out.push(`Last Error:   ${v.lastError}`);
  out.push("Containers:");
  const usage = await containerUsage(config, cri, v, options.clock ?? SYSTEM_CLOCK);
  for (const c of v.containers) out.push(...containerLines(c, usage(c)));
  const events = status?.events[`${v.namespace}/${v.name}`] ?? [];
  out.push("Events:");
  if (events.length === 0) out.push("  <none>");
  else {
    const rows = [["  TIME", "TYPE", "REASON", "MESSAGE"]];
    for (const e of events) rows.push([`  ${e.time}`, e.type, e.reason, e.message]);
    out.push(...table(rows));
  }
  for (const line of out) io.out(line);
  return 0;
}

/** The sandbox of a pod, ready ones first; undefined when the runtime has none. */
export function findPod(pods: ObservedPod[], ref: PodRef): ObservedPod | undefined {
  return pods.find((o) =>
    o.sandbox.metadata.namespace === ref.namespace && o.sandbox.metadata.name === ref.name
  );
}

/** The newest instance of a container (or the default container: the first regular one). */
export function pickContainer(
  o: ObservedPod,
  name: string | undefined,
  io: Io,
): { name: string; instances: Container[] } | string {
  const names = [...new Set(o.containers.map((c) => c.metadata.name))];
  let chosen = name;
  if (!chosen) {
    const regular = o.containers.filter((c) =>
      (c.annotations[KEYS.containerType] ?? "regular") === "regular"
    );
    chosen = regular[0]?.metadata.name ?? names[0];
    if (chosen && names.length > 1) {
      io.err(`Defaulted container "${chosen}" out of: ${names.join(", ")}`);
    }
  }
  const instances = o.containers.filter((c) => c.metadata.name === chosen)
    .sort((a, b) => a.metadata.attempt - b.metadata.attempt);
  if (!chosen || instances.length === 0) {
    return `Container "${name ?? ""}" not found in pod ${o.key}: it has ${
      names.join(", ") || "none"
    }`;
  }
  return { name: chosen, instances };
}

/** A spec hash as `describe` shows it: its first 12 hex digits. */
function short(hash: string): string {
  return hash.replace(/^v1:/, "").slice(0, 12);
}
