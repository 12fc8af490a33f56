/**
 * `tinylet auto-update`: checks the tags of the pods annotated `tinylet.dev/auto-update:
 * registry` now, and prints, per container, what it runs and what its tag names. With
 * `--dry-run` that is all (the new images are pulled, no pod changes). Without, the running
 * agent is asked to check and replace those pods (a request file under `--root`, taken at its
 * next pass), and the command waits until each runs its new image, or `--timeout` passes.
 *
 * What it prints goes through `printableIo`, so names and messages from the runtime or the
 * manifests show their control characters escaped.
 *
 * @module
 */
import type { AgentConfig } from "./cli.ts";
import type { Io } from "./io.ts";
import type { Cri } from "../runtime/cri.ts";
import { printableIo } from "../base/escape.ts";
import { type Clock, SYSTEM_CLOCK } from "../base/clock.ts";
import { formatDuration } from "../base/duration.ts";
import { Observer } from "../reconcile/observe.ts";
import {
  checked,
  type ContainerVerdict,
  containerVerdicts,
  imagesToCheck,
  type PodUpdate,
  podUpdates,
  shortId,
} from "../reconcile/auto_update.ts";
import { readAgentState, statusFilePath } from "../agent/status_file.ts";
import { autoUpdateRequestPath } from "../reconcile/image_updates.ts";
import { readDeclaredPods } from "./plan.ts";

/** How often the command looks whether the agent has replaced the pods. */
const POLL_MS = 250;

/** What `auto-update` does besides reading the manifests and the runtime. */
export interface AutoUpdateOptions {
  dryRun: boolean;
  /** How long to wait for the agent to replace the pods. */
  timeoutMs: number;
  /** Pulls `image` (with the registry credentials) and returns the image id its tag names. */
  resolve(image: string): Promise<string>;
  clock?: Clock;
}

const OUTCOME_TEXT: Record<ContainerVerdict["outcome"], string> = {
  update: "new image",
  current: "up to date",
  pinned: "pinned by digest",
  never: "imagePullPolicy Never",
  "not running": "not running",
  finished: "pod finished, not restarted",
  failed: "check failed",
  "rolled back":
    "rolled back from the image its tag names (LATEST): tried again once it names another",
  retry: "rolled back from another image: its tag names a new one now, which the pod runs",
};

/** `tinylet auto-update [--dry-run]`. */
export async function autoUpdateCommand(
  config: AgentConfig,
  cri: Cri,
  options: AutoUpdateOptions,
  raw: Io,
): Promise<number> {
  const io = printableIo(raw);
  const clock = options.clock ?? SYSTEM_CLOCK;
  const desired = await readDeclaredPods(config, io);
  if (![...desired.pods.values()].some(checked)) {
    io.out('No pod is annotated tinylet.dev/auto-update: "registry": nothing to check');
    return 0;
  }
  const observer = new Observer({ podLogRoot: config.podLogRoot });
  const observed = await observer.observe(cri, config.instance);
  const resolved = new Map<string, string | Error>();
  for (const image of imagesToCheck(desired, observed)) {
    try {
      resolved.set(image, await options.resolve(image));
    } catch (err) {
      resolved.set(image, err instanceof Error ? err : new Error(String(err)));
    }
  }
  const verdicts = containerVerdicts(desired, observed, resolved);
  printTable(io, verdicts);
  const failed = verdicts.some((v) => v.outcome === "failed");
  // A rolled-back container whose tag moved is tried by the agent: waited for as an update
  // (of whatever sandbox runs, when none runs it now).
  const updates = podUpdates(
    verdicts.map((v) =>
      v.outcome === "retry" ? { ...v, outcome: "update", sandboxId: v.sandboxId ?? "" } : v
    ),
  );
  if (updates.length === 0) {
    io.out(failed ? "No new image found where the check worked" : "Every image is up to date");
    return failed ? 1 : 0;
  }
  const pods = updates.map((u) => u.key).join(", ");
  if (options.dryRun) {
    io.out(`Would replace ${updates.length} pod${updates.length === 1 ? "" : "s"}: ${pods}`);
    return failed ? 1 : 0;
  }
  const state = await readAgentState(statusFilePath(config.root), clock.epochMs());
  const agent = state.status?.agent;
  if (!state.running || !agent) {
    io.err(
      `${state.note}. The new images are pulled; the agent replaces ${pods} when it runs (it checks at start)`,
    );
    return 1;
  }
  // A file, not a signal: the agent takes it at its next pass (within --interval), and no
  // process but the agent that owns --root acts on it.
  const request = autoUpdateRequestPath(config.root);
  try {
    await Deno.writeTextFile(request, `${new Date(clock.epochMs()).toISOString()}\n`, {
      mode: 0o600,
    });
  } catch (err) {
    io.err(
      `Cannot ask the agent through ${request}: ${
        err instanceof Error ? err.message : String(err)
      } (run tinylet auto-update as the agent's user, with its --root)`,
    );
    return 1;
  }
  io.out(`Asked the agent (PID ${agent.pid}) to replace ${pods}`);
  const left = await waitForUpdates(cri, config.instance, observer, updates, clock, options);
  for (const u of updates) {
    if (left.includes(u)) continue;
    io.out(
      `Updated ${u.key}: ${
        u.containers.map((c) => `${c.container} runs ${shortId(c.latest)}`).join(", ")
      }`,
    );
  }
  if (left.length > 0) {
    io.err(
      `Not replaced within ${formatDuration(options.timeoutMs)}: ${
        left.map((u) => u.key).join(", ")
      } (see tinylet describe POD)`,
    );
    return 1;
  }
  return failed ? 1 : 0;
}

/** One row per container of each annotated pod. */
function printTable(io: Io, verdicts: readonly ContainerVerdict[]): void {
  const rows = [
    ["POD", "CONTAINER", "IMAGE", "RUNNING", "LATEST", "RESULT"],
    ...verdicts.map((v) => [
      v.key,
      v.container,
      v.image,
      v.running ? shortId(v.running) : "-",
      v.latest ? shortId(v.latest) : "-",
      v.outcome === "failed" ? `${OUTCOME_TEXT.failed}: ${v.detail}` : OUTCOME_TEXT[v.outcome],
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) {
    io.out(r.map((cell, i) => i === r.length - 1 ? cell : cell.padEnd(widths[i]!)).join("  "));
  }
}

/**
 * Waits until every updated pod runs each updated container on its new image, in a sandbox
 * other than the one replaced; returns those that do not by the deadline.
 */
async function waitForUpdates(
  cri: Cri,
  instance: string,
  observer: Observer,
  updates: PodUpdate[],
  clock: Clock,
  options: AutoUpdateOptions,
): Promise<PodUpdate[]> {
  const deadline = clock.now() + options.timeoutMs;
  let left = updates;
  while (true) {
    const observed = await observer.observe(cri, instance);
    left = left.filter((u) => {
      const sandboxes = (observed.pods.get(u.key) ?? []).filter((o) =>
        o.sandbox.id !== u.sandboxId && o.sandbox.state === "SANDBOX_READY"
      );
      return !u.containers.every((c) =>
        sandboxes.some((o) =>
          o.containers.some((x) =>
            x.metadata.name === c.container && x.state === "CONTAINER_RUNNING" &&
            x.imageRef === c.latest
          )
        )
      );
    });
    if (left.length === 0 || clock.now() >= deadline) return left;
    await new Promise<void>((r) => clock.schedule(r, Math.min(POLL_MS, deadline - clock.now())));
  }
}
