/**
 * The reconciler the runtime-free pass figure runs: the agent's whole pass, on the fake
 * runtime, with no watcher and no logging.
 *
 * @module
 */
import { silentLogger } from "../lib/base/log.ts";
import type { ResolvConf } from "../lib/translate/dns.ts";
import { ManifestSource } from "../lib/manifest/source.ts";
import { Reconciler } from "../lib/reconcile/reconciler.ts";
import type { FakeCri } from "../testing/fake_cri.ts";

/** What the bench asks of the reconciler. */
export interface TimedReconciler {
  /** Runs one whole pass; returns how many actions it planned. */
  pass(): Promise<number>;
  /** Stops it and releases what it holds. */
  stop(): Promise<void>;
}

/** A reconciler of `manifests` on the fake runtime `cri`, every pod at once. */
export function fakeRuntimeReconciler(options: {
  cri: FakeCri;
  nodeName: string;
  manifests: string;
  instance: string;
  root: string;
  podLogRoot: string;
  parallel: number;
  hostDns: ResolvConf;
}): TimedReconciler {
  const reconciler = new Reconciler({
    cri: options.cri,
    nodeName: options.nodeName,
    source: new ManifestSource(options.manifests),
    log: silentLogger,
    socket: "fake",
    instance: options.instance,
    root: options.root,
    podLogRoot: options.podLogRoot,
    parallel: options.parallel,
    intervalMs: 2_000,
    readHostDns: () => Promise.resolve(options.hostDns),
  });
  return {
    pass: async () => (await reconciler.pass()).actions.length,
    stop: () => reconciler.stop(),
  };
}
