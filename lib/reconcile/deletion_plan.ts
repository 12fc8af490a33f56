/**
 * Planning the removal of one sandbox: its containers in stop order, its grace period, and
 * whether its directories go with it. Pure.
 *
 * @module
 */
import type { Container } from "../runtime/cri.ts";
import type { ObservedPod } from "./observe.ts";
import { DEFAULT_GRACE_PERIOD_SECONDS } from "../manifest/pod.ts";
import { KEYS } from "../runtime/labels.ts";
import type { DeletePod } from "./actions.ts";
import type { DesiredPod } from "../translate/desired_pod.ts";
import { type DesiredState, judgesSource } from "./desired.ts";
import { isUrlSource } from "../manifest/url_rules.ts";

function short(hash: string | undefined): string {
  return hash ? hash.replace(/^v1:/, "").slice(0, 12) : "none";
}

/**
 * The replacement of `keep`, the running sandbox of `d`'s very spec, when the values its env
 * reads from ConfigMaps and Secrets changed (its `tinylet/env-hash` is not `d.envHash`): an
 * env cannot change inside a running container, so the pod gets a new sandbox, with the same
 * UID (its directories stay, restart counts go on), as for an image update.
 */
export function envReplacement(
  d: DesiredPod,
  keep: ObservedPod | undefined,
): { sandboxId: string; reason: string } | undefined {
  if (
    !keep || d.held || d.envHash === undefined ||
    keep.sandbox.annotations[KEYS.envHash] === d.envHash
  ) {
    return undefined;
  }
  const envRefs = d.configRefs.filter((r) => !r.field.startsWith("spec.volumes"));
  const names = [...new Set(envRefs.map((r) => `${r.kind} "${r.name}"`))].join(", ");
  return {
    sandboxId: keep.sandbox.id,
    reason: `a value its env reads changed (it reads ${names})`,
  };
}

/** Why pod `d` runs its last good spec (or images) again, when it does. */
export function rollbackReason(d: DesiredPod): string | undefined {
  const r = d.rolledBack;
  if (!r) return undefined;
  return `rolled back to its last good ${r.images ? "images" : "spec"}: ${r.cause}`;
}

/** Why sandbox `o` is replaced by desired pod `d` of another spec hash. */
export function replaceReason(o: ObservedPod, d: DesiredPod): string {
  const rolledBack = rollbackReason(d);
  if (rolledBack) return rolledBack;
  if (o.source && o.source !== d.source) {
    return `its spec changed and it is now declared in ${d.source}`;
  }
  return `its spec changed in ${d.source} (${short(o.sandbox.annotations[KEYS.specHash])} → ${
    short(d.hash)
  })`;
}

function gracePeriodOf(containers: Container[]): number {
  let grace: number | undefined;
  for (const c of containers) {
    const v = Number(c.annotations[KEYS.gracePeriod]);
    if (Number.isFinite(v) && v >= 0) grace = Math.max(grace ?? 0, v);
  }
  return grace ?? DEFAULT_GRACE_PERIOD_SECONDS;
}

/** Regular containers first, all at once; then each sidecar, the last started first. */
function stopGroups(containers: Container[]): string[][] {
  const sidecars = new Map<string, string[]>();
  const order: string[] = [];
  const regular: string[] = [];
  for (const c of containers) {
    if (c.state === "CONTAINER_EXITED") continue;
    if (c.annotations[KEYS.containerType] === "sidecar") {
      const name = c.metadata.name;
      if (!sidecars.has(name)) order.push(name);
      sidecars.set(name, [...(sidecars.get(name) ?? []), c.id]);
    } else {
      regular.push(c.id);
    }
  }
  const groups = regular.length > 0 ? [regular] : [];
  for (const name of order.reverse()) groups.push(sidecars.get(name) ?? []);
  return groups;
}

/**
 * The graceful removal of one sandbox and what belongs to it. The pod's directories go with
 * it only when its identity can name them.
 */
export function deletionOf(o: ObservedPod, reason: string, removeState = true): DeletePod {
  return {
    type: "deletePod",
    key: o.key,
    reason,
    sandboxId: o.sandbox.id,
    namespace: o.sandbox.metadata.namespace,
    name: o.sandbox.metadata.name,
    uid: o.sandbox.metadata.uid,
    stopGroups: stopGroups(o.containers),
    containerNames: Object.fromEntries(o.containers.map((c) => [c.id, c.metadata.name])),
    gracePeriodSeconds: gracePeriodOf(o.containers),
    removeState: removeState && o.unsafeIdentity === undefined,
    hostPaths: o.unsafeIdentity === undefined,
  };
}

/**
 * Whether pod `d`, declared at a URL, must be left as it runs because the file its running
 * sandbox was made from cannot be judged now (its directory is missing or refused, or the file
 * is invalid and was never read valid): that file may still declare the pod, and a file wins
 * over the URL. Replacing it now would restart it twice, to the URL's spec and back.
 */
export function heldByItsFile(
  d: DesiredPod,
  running: readonly ObservedPod[] | undefined,
  desired: DesiredState,
): boolean {
  if (!isUrlSource(d.source)) return false;
  return (running ?? []).some((o) =>
    o.source !== "" && o.source !== d.source && !isUrlSource(o.source) &&
    (desired.keepSources.has(o.source) || !judgesSource(desired, o.source))
  );
}

/** Why a pod recorded from `source` that no source declares now is removed. */
export function undeclaredReason(desired: DesiredState, source: string): string {
  if (desired.files.has(source)) return `no longer declared in ${source}`;
  if (isUrlSource(source)) return `its URL ${source} is no longer read (--manifest-url)`;
  return `its file ${source || "(unknown)"} was deleted`;
}
