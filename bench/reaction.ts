/**
 * Figure 2: one file written to a converged agent until its container runs, beside the bare
 * client bringing up one pod.
 *
 * @module
 */
import { bareRun } from "./bare_client.ts";
import type { Bench } from "./context.ts";
import { manifest, podName, SETTLE_MS } from "./settings.ts";
import { ms } from "./stats.ts";
import { progress, sleep } from "./run_control.ts";

/** Samples the reaction time of tinylet and of the bare client, `--reaction-samples` times. */
export async function reaction(b: Bench): Promise<{ tinylet: number[]; bare: number[] }> {
  const instance = "react";
  const agent = await b.startAgent(instance, "60s");
  const d = b.dirs(instance);
  const tinylet: number[] = [];
  const bare: number[] = [];
  try {
    for (let i = 0; i < b.options.reactionSamples; i++) {
      const name = podName("react", i);
      const path = `${d.manifests}/${name}.yaml`;
      const t = await b.writeAndWait(
        instance,
        [{ path, text: manifest(name, b.rc.busyboxImage) }],
        1,
        { pod: name, agent },
      );
      tinylet.push(t);
      await sleep(SETTLE_MS);
      await b.deleteAndWait(instance, [path]);
      await sleep(SETTLE_MS);
      const one = (await bareRun(b, `bare-react-${i}`, "bare", 1)).startedMs;
      bare.push(one);
      progress(
        `reaction sample ${i + 1}/${b.options.reactionSamples}: tinylet ${ms(t)}, bare one pod ${
          ms(one)
        }`,
      );
      await sleep(SETTLE_MS);
    }
  } finally {
    await b.stopAgent(agent);
  }
  return { tinylet, bare };
}
