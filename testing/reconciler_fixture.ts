/**
 * One reconciler on the fake runtime with a temporary manifest directory, as the reconciler's
 * tests set it up: its log kept in lines, the host's DNS given, its time on a hand-driven
 * clock (or the system's), and the status file written when asked.
 *
 * @module
 */
import { type Clock, SYSTEM_CLOCK } from "../lib/base/clock.ts";
import { createLogger, type Logger } from "../lib/base/log.ts";
import { StatusHeartbeat } from "../lib/agent/heartbeat.ts";
import { type StatusFile, statusFilePath } from "../lib/agent/status_file.ts";
import { ManifestSource } from "../lib/manifest/source.ts";
import type { PassSource } from "../lib/node/manifest_sources.ts";
import { Reconciler, type ReconcilerOptions } from "../lib/reconcile/reconciler.ts";
import type { Cri } from "../lib/runtime/cri.ts";
import { FakeCri } from "./fake_cri.ts";
import { HandClock } from "./hand_clock.ts";

/** The image the fake runtime has unless told otherwise. */
export const FIXTURE_IMAGE = "docker.io/library/busybox:1.35";

/** How the fixture differs from the usual. */
export interface FixtureOptions extends
  Partial<
    Pick<
      ReconcilerOptions,
      | "instance"
      | "parallel"
      | "intervalMs"
      | "nodeName"
      | "readHostDns"
      | "detectCgroupV2"
      | "failureBackoff"
      | "registryAuth"
      | "logRotation"
      | "logCheckIntervalMs"
      | "metrics"
      | "log"
      | "autoUpdateIntervalMs"
    >
  > {
  /** The runtime socket named in messages and the status file, or how to name it from the directory. */
  socket?: string | ((dir: string) => string);
  /** An existing directory to use instead of a new temporary one; it is left in place. */
  dir?: string;
  /** The temporary directory's name prefix. */
  prefix?: string;
  /** `hand` (the default): time moves only by `clock.advance`; `system`: the real clocks. */
  time?: "hand" | "system";
  /** The wall time the hand-driven clock starts at. */
  epochMs?: number;
  /** The nameservers of the host's resolv.conf (default 192.0.2.53); `readHostDns` overrides. */
  dnsServers?: string[];
  /** Makes the fake runtime (default: one with {@linkcode FIXTURE_IMAGE}, on the fixture's clock). */
  fake?: (clock: Clock) => FakeCri;
  /** Makes the runtime the reconciler uses, from the fixture's directory and fake (default: the fake). */
  cri?: (dir: string, fake: FakeCri) => Cri | Promise<Cri>;
  /** Whether the status file is written, under the root; or by this function. */
  statusFile?: boolean | ((file: string, status: StatusFile) => Promise<void>);
  /** Options of the manifest source. */
  source?: ConstructorParameters<typeof ManifestSource>[1];
  /** Makes what the passes read from the fixture's manifest directory (default: it alone). */
  sources?: (
    directory: ManifestSource,
    parts: { root: string; clock: Clock; log: Logger },
  ) => PassSource;
}

/** A reconciler and everything around it; disposing it stops its probes and removes its directory (unless given). */
export interface ReconcilerFixture extends AsyncDisposable {
  /** The temporary directory holding everything below. */
  dir: string;
  manifests: string;
  root: string;
  /** The pod log root. */
  logs: string;
  /** The status file (written only with `statusFile`). */
  statusFile: string;
  /** The hand-driven clock; the reconciler's, unless `time` is `system`. */
  clock: HandClock;
  cri: FakeCri;
  reconciler: Reconciler;
  /** The status heartbeat, with `statusFile`. */
  heartbeat: StatusHeartbeat | undefined;
  /** The reconciler's log lines. */
  lines: string[];
  /** Writes a manifest file. */
  write(name: string, text: string): Promise<void>;
  /**
   * A new reconciler on the same fake runtime, clock, directories, node and flags, as the agent
   * started again on the same host: reading `source` (default: the manifest directory, read
   * afresh), logging to `log` (default: into `lines`), with `options` on top (the fixture's own
   * reconciler options are not carried over). It writes no status file. The caller stops it.
   */
  restarted(o?: {
    source?: PassSource;
    log?: Logger;
    options?: Partial<ReconcilerOptions>;
  }): Reconciler;
}

/** Builds a reconciler on the fake runtime over a new temporary manifest directory. */
export async function reconcilerFixture(options: FixtureOptions = {}): Promise<ReconcilerFixture> {
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: options.prefix ?? "tinylet-rec-" });
  const manifests = `${dir}/manifests`;
  await Deno.mkdir(manifests, { mode: 0o755 });
  const root = `${dir}/root`;
  const hand = new HandClock(options.epochMs);
  const clock: Clock = options.time === "system" ? SYSTEM_CLOCK : hand;
  const cri = options.fake?.(clock) ??
    new FakeCri({
      images: [FIXTURE_IMAGE],
      ...(options.time === "system" ? {} : { now: () => clock.epochMs() }),
    });
  const lines: string[] = [];
  const log = options.log ?? createLogger({ write: (l) => lines.push(l) });
  const socket = typeof options.socket === "function"
    ? options.socket(dir)
    : options.socket ?? "/run/fake.sock";
  const file = statusFilePath(root);
  const heartbeat = options.statusFile
    ? new StatusHeartbeat({
      file,
      instance: options.instance ?? "default",
      socket,
      manifests,
      log,
      clock,
      ...(typeof options.statusFile === "function" ? { write: options.statusFile } : {}),
    })
    : undefined;
  const servers = options.dnsServers ?? ["192.0.2.53"];
  const directory = new ManifestSource(manifests, options.source);
  // What an agent started again on this host keeps: its node, its flags and its directories.
  const host = {
    clock,
    socket,
    nodeName: options.nodeName ?? "node1",
    readHostDns: options.readHostDns ??
      (() => Promise.resolve({ servers, searches: [], options: [] })),
    instance: options.instance ?? "default",
    root,
    podLogRoot: `${dir}/logs`,
    parallel: options.parallel ?? 4,
    intervalMs: options.intervalMs ?? 2000,
  };
  const reconciler = new Reconciler({
    ...pick(options),
    ...host,
    cri: options.cri ? await options.cri(dir, cri) : cri,
    source: options.sources?.(directory, { root, clock, log }) ?? directory,
    log,
    ...(heartbeat ? { status: heartbeat } : {}),
  });
  return {
    dir,
    manifests,
    root,
    logs: `${dir}/logs`,
    statusFile: file,
    clock: hand,
    cri,
    reconciler,
    heartbeat,
    lines,
    write: (name, text) => Deno.writeTextFile(`${manifests}/${name}`, text),
    restarted: (o = {}) =>
      new Reconciler({
        ...o.options,
        ...host,
        cri,
        source: o.source ?? new ManifestSource(manifests),
        log: o.log ?? createLogger({ write: (l) => lines.push(l) }),
      }),
    [Symbol.asyncDispose]: async () => {
      await reconciler.stop();
      if (options.dir === undefined) await Deno.remove(dir, { recursive: true });
    },
  };
}

/** The reconciler options among the fixture's, those given only. */
function pick(o: FixtureOptions): Partial<ReconcilerOptions> {
  const out: Partial<ReconcilerOptions> = {};
  if (o.detectCgroupV2) out.detectCgroupV2 = o.detectCgroupV2;
  if (o.failureBackoff) out.failureBackoff = o.failureBackoff;
  if (o.registryAuth) out.registryAuth = o.registryAuth;
  if (o.logRotation) out.logRotation = o.logRotation;
  if (o.logCheckIntervalMs !== undefined) out.logCheckIntervalMs = o.logCheckIntervalMs;
  if (o.metrics) out.metrics = o.metrics;
  if (o.autoUpdateIntervalMs !== undefined) out.autoUpdateIntervalMs = o.autoUpdateIntervalMs;
  return out;
}
