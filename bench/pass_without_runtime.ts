/**
 * Figure 5: what one pass costs without a runtime: read, parse, translate and plan, in-process,
 * cold, with recently changed files, and warm; and a whole pass on the fake runtime.
 *
 * @module
 */
import { desiredState, TranslationCache } from "../lib/reconcile/desired.ts";
import { Observer } from "../lib/reconcile/observe.ts";
import { plan } from "../lib/reconcile/plan.ts";
import { readHostResolvConf } from "../lib/translate/dns.ts";
import { ManifestSource } from "../lib/manifest/source.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { BUSYBOX_IMAGE } from "../testing/busybox_images.ts";
import { fakeRuntimeReconciler } from "./fake_runtime_reconciler.ts";
import { manifest, PASS_SAMPLES, STAMP_QUIET_MS } from "./settings.ts";
import { range } from "./stats.ts";
import { sleep } from "./run_control.ts";

/** The runtime-free pass figures of one pod count, in ms. */
export interface PassResult {
  pods: number;
  cold: number[];
  /** Every file read again, none parsed or translated again. */
  recent: number[];
  warm: number[];
  full: number[];
  /** Actions the timed plan returned (0 when converged, as it should be). */
  actions: number;
}

/** Times the runtime-free pass over `pods` manifest files written under `dir`. */
export async function passWithoutRuntime(dir: string, pods: number): Promise<PassResult> {
  const base = `${dir}/pass-${pods}`;
  const manifests = `${base}/manifests`;
  const root = `${base}/root`;
  const podLogRoot = `${base}/logs`;
  const instance = "bench-pass";
  const nodeName = "bench";
  await Deno.mkdir(manifests, { recursive: true });
  await Promise.all(
    range(pods).map((i) => {
      const name = `pass-${String(i).padStart(4, "0")}`;
      return Deno.writeTextFile(`${manifests}/${name}.yaml`, manifest(name, BUSYBOX_IMAGE));
    }),
  );
  const written = Date.now();
  const fake = new FakeCri({ images: [BUSYBOX_IMAGE] });
  const hostDns = await readHostResolvConf();
  const reconciler = fakeRuntimeReconciler({
    cri: fake,
    nodeName,
    manifests,
    instance,
    root,
    podLogRoot,
    parallel: pods,
    hostDns,
  });
  try {
    // Converge the fake runtime: one pass creates every pod, the next finds nothing to do.
    for (let i = 0; i < 5; i++) {
      if (await reconciler.pass() === 0) break;
    }
    const observed = await new Observer().observe(fake, instance);
    const ctx = { now: Date.now(), restartAllowedAt: () => undefined };
    let actions = 0;
    /**
     * What one pass does before it changes anything: read, parse, translate, plan, with the
     * source and the translation cache the reconciler keeps from pass to pass.
     */
    const once = async (source: ManifestSource, cache: TranslationCache) => {
      const t0 = performance.now();
      const scan = await source.scan();
      const desired = await desiredState(scan, {
        instance,
        podLogRoot,
        root,
        nodeName,
        hostDns: await readHostResolvConf(),
      }, cache);
      const planned = plan(desired, observed, ctx);
      const t = performance.now() - t0;
      actions = planned.actions.length;
      return t;
    };
    const cold: number[] = [];
    for (let i = 0; i < PASS_SAMPLES; i++) {
      cold.push(await once(new ManifestSource(manifests), new TranslationCache()));
    }
    // Files changed within the last 2 s are read every pass (their stat cannot vouch for them
    // yet); a clock stuck at the epoch makes every file look that recent.
    const recentSource = new ManifestSource(manifests, { clock: () => 0 });
    const recentCache = new TranslationCache();
    await once(recentSource, recentCache);
    const recent: number[] = [];
    for (let i = 0; i < PASS_SAMPLES; i++) recent.push(await once(recentSource, recentCache));
    // The steady state: files quiet for more than 2 s, as manifests are between edits.
    await sleep(Math.max(0, written + STAMP_QUIET_MS - Date.now()));
    const source = new ManifestSource(manifests);
    const cache = new TranslationCache();
    await once(source, cache); // reads every file once; the samples below find them unchanged
    const warm: number[] = [];
    for (let i = 0; i < PASS_SAMPLES; i++) warm.push(await once(source, cache));
    const full: number[] = [];
    for (let i = 0; i < PASS_SAMPLES; i++) {
      const t0 = performance.now();
      await reconciler.pass();
      full.push(performance.now() - t0);
    }
    return { pods, cold, recent, warm, full, actions };
  } finally {
    await reconciler.stop();
    fake.close();
  }
}
