/**
 * The operator commands that act on the runtime: `plan`, `logs`, `exec` and
 * `down`.
 *
 * What they print for people goes through `printableIo`, so names and
 * messages from the runtime or the manifests show their control characters
 * escaped. The container's own output (`logs`, `exec`) is passed through as
 * it is, as `kubectl logs` and `kubectl exec` do.
 *
 * @module
 */
import type { AgentConfig, PodRef } from "./cli.ts";
import type { Io } from "./io.ts";
import { findPod, listOurs, pickContainer } from "./pods.ts";
import type { Cri } from "../runtime/cri.ts";
import { formatLogLine } from "../node/container_log_format.ts";
import { readCriLog } from "../node/container_log.ts";
import { followCriLog } from "../node/container_log_follow.ts";
import { printableIo } from "../base/escape.ts";
import { desiredState } from "../reconcile/desired.ts";
import { execute } from "../reconcile/executor.ts";
import { ImagePuller } from "../node/images.ts";
import { silentLogger } from "../base/log.ts";
import { containerLogPathProblem } from "../node/paths.ts";
import { type ObservedState, Observer } from "../reconcile/observe.ts";
import { type Action, plan } from "../reconcile/plan.ts";
import { deletionOf } from "../reconcile/deletion_plan.ts";
import { readHostResolvConf } from "../translate/dns.ts";
import { ManifestSource } from "../manifest/source.ts";
import { readAgentState, statusFilePath } from "../agent/status_file.ts";

function describeAction(a: Action): string {
  switch (a.type) {
    case "createPod":
      return `create   ${a.key}: ${a.reason} (starts ${a.start.map((s) => s.name).join(", ")})`;
    case "deletePod":
      return `${a.reason.startsWith("replace:") ? "replace" : "delete "}  ${a.key}: ${a.reason}`;
    case "startContainers":
      return `start    ${a.key}: ${a.reason}`;
    case "startCreated":
      return `start    ${a.key}: ${a.reason}`;
    case "removeContainers":
      return `clean    ${a.key}: ${a.reason}`;
    case "killContainer":
      return `kill     ${a.key}: container "${a.container}": ${a.message}`;
    case "rotateLogs":
      return `rotate   ${a.key}: ${a.reason}`;
    case "removeOrphan":
      return `clean    ${a.key}: ${a.reason}`;
  }
}

/** `tinylet plan`: what the next pass would do, each with its reason. Changes nothing. */
export async function planCommand(config: AgentConfig, cri: Cri, raw: Io): Promise<number> {
  const io = printableIo(raw);
  const scan = await new ManifestSource(config.manifests, {
    insecurePermissions: config.insecureManifestPermissions,
  }).scan();
  if (scan.refused) io.err(scan.refused);
  if (!scan.present) io.err(`The manifest directory ${config.manifests} does not exist`);
  const desired = await desiredState(scan, {
    instance: config.instance,
    podLogRoot: config.podLogRoot,
    root: config.root,
    nodeName: config.nodeName,
    hostDns: await readHostResolvConf(),
  });
  for (const m of scan.manifests) {
    if (!m.valid) io.err(`${m.file} is invalid: its pods are kept as they are (see tinylet check)`);
  }
  const observed = await new Observer({ podLogRoot: config.podLogRoot }).observe(
    cri,
    config.instance,
  );
  const { actions } = plan(desired, observed, {
    now: Date.now(),
    restartAllowedAt: () => undefined,
  });
  if (actions.length === 0) {
    io.out(
      `Nothing to do: ${desired.pods.size} pod${desired.pods.size === 1 ? "" : "s"} as declared`,
    );
    return 0;
  }
  for (const a of actions) io.out(describeAction(a));
  io.err(
    "Backoffs live in the running agent: it may wait before some of these (see tinylet describe)",
  );
  return 0;
}

/** `tinylet logs`: the container's output from its CRI log files. */
export async function logsCommand(
  config: AgentConfig,
  cri: Cri,
  options: {
    pod: PodRef;
    container: string | undefined;
    follow: boolean;
    tail: number | undefined;
    previous: boolean;
    timestamps: boolean;
    signal?: AbortSignal;
  },
  raw: Io,
): Promise<number> {
  const io = printableIo(raw);
  const o = findPod(await listOurs(cri, config.instance), options.pod);
  if (!o) {
    io.err(`Pod ${options.pod.namespace}/${options.pod.name} not found: see "tinylet pods"`);
    return 1;
  }
  const picked = pickContainer(o, options.container, io);
  if (typeof picked === "string") {
    io.err(picked);
    return 1;
  }
  const instances = picked.instances;
  const target = options.previous ? instances.at(-2) : instances.at(-1);
  if (!target) {
    io.err(
      `Container "${picked.name}" of pod ${o.key} has no previous instance: it has not restarted, or its dead instance was removed`,
    );
    return 1;
  }
  const logPath = (await cri.containerStatus(target.id)).logPath;
  if (!logPath) {
    io.err(`Container "${picked.name}" of pod ${o.key} has no log file`);
    return 1;
  }
  const m = o.sandbox.metadata;
  const unsafe = o.unsafeIdentity ??
    containerLogPathProblem(
      logPath,
      { namespace: m.namespace, name: m.name, uid: m.uid },
      config.podLogRoot,
    );
  if (unsafe) {
    io.err(`Cannot read the log of container "${picked.name}" of pod ${o.key}: ${unsafe}`);
    return 1;
  }
  const lines = await readCriLog(logPath, {
    includeRotated: true,
    ...(options.tail !== undefined ? { tail: options.tail } : {}),
  });
  for (const l of lines) raw.out(formatLogLine(l, options.timestamps));
  if (options.follow && !options.previous && options.signal) {
    await followCriLog(
      logPath,
      (l) => raw.out(formatLogLine(l, options.timestamps)),
      options.signal,
    );
  }
  return 0;
}

/** `tinylet exec`: runs a command in a container through ExecSync; its exit code is passed through. */
export async function execCommand(
  config: AgentConfig,
  cri: Cri,
  options: { pod: PodRef; container: string | undefined; cmd: string[] },
  raw: Io & { outBytes(b: Uint8Array): void; errBytes(b: Uint8Array): void },
): Promise<number> {
  const io = printableIo(raw);
  const o = findPod(await listOurs(cri, config.instance), options.pod);
  if (!o || o.sandbox.state !== "SANDBOX_READY") {
    io.err(`Pod ${options.pod.namespace}/${options.pod.name} is not running: see "tinylet pods"`);
    return 1;
  }
  const picked = pickContainer(o, options.container, io);
  if (typeof picked === "string") {
    io.err(picked);
    return 1;
  }
  const c = picked.instances.at(-1)!;
  if (c.state !== "CONTAINER_RUNNING") {
    io.err(
      `Container "${picked.name}" of pod ${o.key} is not running: see "tinylet describe ${o.key}"`,
    );
    return 1;
  }
  const r = await cri.execSync(c.id, options.cmd, 0);
  raw.outBytes(r.stdout);
  raw.errBytes(r.stderr);
  return r.exitCode;
}

/** How long `down` keeps trying a pod whose removal failed. */
const DOWN_RETRY_MS = 10_000;
/** How often `down` tries such a pod again. */
const DOWN_RETRY_EVERY_MS = 250;

/** `tinylet down`: removes tinylet's pods gracefully, for uninstalling. */
export async function downCommand(
  config: AgentConfig,
  cri: Cri,
  options: { pods: PodRef[]; all: boolean; retryForMs?: number },
  raw: Io,
): Promise<number> {
  const io = printableIo(raw);
  const ours = await listOurs(cri, config.instance);
  const chosen = options.all
    ? ours
    : ours.filter((o) =>
      options.pods.some((p) =>
        p.namespace === o.sandbox.metadata.namespace && p.name === o.sandbox.metadata.name
      )
    );
  let code = 0;
  for (const p of options.pods) {
    if (!findPod(ours, p)) {
      io.err(`Pod ${p.namespace}/${p.name} not found`);
      code = 1;
    }
  }
  const observer = new Observer({ podLogRoot: config.podLogRoot });
  const deletions = (keys: Iterable<string>, state: ObservedState) =>
    [...keys].flatMap((key) =>
      (state.pods.get(key) ?? []).map((x) => deletionOf(x, "removed by tinylet down"))
    );
  const executorOptions = {
    cri,
    log: silentLogger,
    images: new ImagePuller({ cri, now: Date.now }),
    root: config.root,
    podLogRoot: config.podLogRoot,
    parallel: config.parallel,
  };
  // Per pod, in order: undefined once removed, else the last error. A pod whose removal failed
  // is looked at and tried again until the deadline: the runtime cannot remove a container it
  // is still starting (an agent stopped while a start was in flight), which ends on its own.
  const outcome = new Map<string, Error | undefined>();
  const deadline = Date.now() + (options.retryForMs ?? DOWN_RETRY_MS);
  let todo = deletions(
    chosen.map((o) => o.key),
    await observer.observe(cri, config.instance),
  );
  for (;;) {
    const failed = new Map<string, Error>();
    for (const r of await execute(todo, executorOptions)) {
      if (r.error && !failed.has(r.action.key)) failed.set(r.action.key, r.error);
      outcome.set(r.action.key, failed.get(r.action.key));
    }
    if (failed.size === 0 || Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, DOWN_RETRY_EVERY_MS));
    const again = await observer.observe(cri, config.instance);
    for (const key of failed.keys()) if (!again.pods.has(key)) outcome.set(key, undefined);
    todo = deletions(failed.keys(), again);
  }
  for (const [key, error] of outcome) {
    if (error) {
      io.err(`Cannot remove pod ${key}: ${error.message}`);
      code = 1;
    } else {
      io.out(`pod ${key} removed`);
    }
  }
  const state = await readAgentState(statusFilePath(config.root), Date.now());
  if (state.running && outcome.size > 0) {
    io.err(
      "The agent is running: it starts these pods again while their files exist. Remove the files, or stop the agent first",
    );
  }
  return code;
}
