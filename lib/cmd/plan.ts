/**
 * `tinylet plan`: reads the manifests and the runtime, and prints what the next pass would do,
 * each action with its reason. Changes nothing.
 *
 * What it prints goes through `printableIo`, so names and messages from the runtime or the
 * manifests show their control characters escaped.
 *
 * @module
 */
import type { Pod } from "../manifest/pod.ts";
import { RollbackStore } from "../node/rollback_state.ts";
import type { RollbackHook } from "../reconcile/desired.ts";
import { lastGoodRun, retryText } from "../reconcile/rollback_images.ts";
import type { AgentConfig } from "./cli.ts";
import type { Io } from "./io.ts";
import type { Cri } from "../runtime/cri.ts";
import { printableIo } from "../base/escape.ts";
import { silentLogger } from "../base/log.ts";
import { type DesiredState, desiredState } from "../reconcile/desired.ts";
import { Observer } from "../reconcile/observe.ts";
import { type Action, plan } from "../reconcile/plan.ts";
import { readHostResolvConf } from "../translate/dns.ts";
import { ManifestSource, type Scan } from "../manifest/source.ts";
import { ManifestSources } from "../node/manifest_sources.ts";
import { openUrlSource } from "./manifest_url.ts";

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

/**
 * The agent's rollbacks as its state under `--root` keeps them, read only: a pod whose
 * declared spec was rolled back runs its last good spec (nothing is written; a state that
 * cannot be read counts as none). The state is the agent's word, whatever this command's own
 * `--rollback-window`: an agent whose window is off forgets its rollbacks.
 */
function rolledBackSpecs(config: AgentConfig): RollbackHook {
  const store = new RollbackStore(config.root);
  return async (d) => {
    const s = await store.read(d.key).catch(() => undefined);
    const rb = s?.rolledBack;
    if (!rb || rb.hash !== d.hash || !s?.lastGood) return undefined;
    const pod = lastGoodRun(s.lastGood.pod as Pod, s.lastGood, rb);
    if (!pod) return undefined;
    const rolledBack = { cause: rb.cause, from: rb.hash, at: rb.at, good: s.lastGood.hash };
    return { pod, rolledBack: rb.images ? { ...rolledBack, images: rb.images } : rolledBack };
  };
}

/**
 * The manifests as the agent reads them: the directory and, with `--manifest-url`, the URL
 * fetched now, or its document kept under `--root` when the fetch fails (said on stderr, with
 * why a kept document cannot be used; nothing is written).
 */
async function readManifests(config: AgentConfig, io: Io): Promise<Scan> {
  const directory = new ManifestSource(config.manifests, {
    insecurePermissions: config.insecureManifestPermissions,
  });
  if (!config.manifestUrl) return await directory.scan();
  let opened;
  // The warnings of reading the kept document (one that cannot be used, and why) go to stderr;
  // the fetch's outcome is said below.
  let loading = true;
  const log = { ...silentLogger, warn: (m: string) => loading && io.err(m) };
  try {
    opened = await openUrlSource(config.manifestUrl, { root: config.root, keep: false, log });
  } catch (err) {
    io.err((err as Error).message);
    return await directory.scan();
  }
  using url = opened;
  await url.source.load();
  loading = false;
  await url.source.fetchNow();
  const status = url.source.status();
  if (status.state === "failing") {
    io.err(
      status.fetchedAt === undefined
        ? `${status.reason}; no document of it kept under ${config.root} can be used, so the plan removes no pod`
        : `${status.reason}; planning with its document kept under ${config.root} (fetched at ${
          new Date(status.fetchedAt).toISOString().replace(/\.\d{3}Z$/, "Z")
        }: ${status.declares})`,
    );
  }
  return await new ManifestSources(directory, url.source).scan();
}

/**
 * The pods the manifests declare, as the agent reads them; a directory that is missing or
 * refused, and each invalid file, is said on stderr.
 */
export async function readDeclaredPods(config: AgentConfig, io: Io): Promise<DesiredState> {
  const scan = await readManifests(config, io);
  if (scan.refused) io.err(scan.refused);
  if (!scan.present && !config.manifestUrl) {
    io.err(`The manifest directory ${config.manifests} does not exist`);
  }
  const desired = await desiredState(
    scan,
    {
      instance: config.instance,
      podLogRoot: config.podLogRoot,
      root: config.root,
      nodeName: config.nodeName,
      hostDns: await readHostResolvConf(),
    },
    undefined,
    rolledBackSpecs(config),
  );
  for (const m of scan.manifests) {
    if (m.valid || (m.file === config.manifestUrl?.url && m.problems.length === 0)) continue;
    io.err(`${m.file} is invalid: its pods are kept as they are (see tinylet check)`);
  }
  return desired;
}

/** `tinylet plan`: what the next pass would do, each with its reason. Changes nothing. */
export async function planCommand(config: AgentConfig, cri: Cri, raw: Io): Promise<number> {
  const io = printableIo(raw);
  const desired = await readDeclaredPods(config, io);
  const observed = await new Observer({ podLogRoot: config.podLogRoot }).observe(
    cri,
    config.instance,
  );
  const { actions } = plan(desired, observed, {
    now: Date.now(),
    restartAllowedAt: () => undefined,
  });
  // A pod waiting for a ConfigMap or Secret is planned nothing, a rolled-back one is kept on
  // its last good spec: say why.
  const waits = [...desired.pods.values()].flatMap((d) => [
    ...(d.waiting ? [`wait     ${d.key}: ${d.waiting.reason}: ${d.waiting.message}`] : []),
    ...(d.rolledBack
      ? [
        d.rolledBack.images
          ? `kept     ${d.key}: rolled back to its last good images: ${d.rolledBack.cause}; back to its tags once ${
            retryText(d.rolledBack.images)
          }, or edit ${d.source}`
          : `kept     ${d.key}: rolled back to its last good spec: ${d.rolledBack.cause}; edit ${d.source} to try again`,
      ]
      : []),
  ]);
  for (const line of waits) io.out(line);
  if (actions.length === 0 && waits.length > 0) return 0;
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
