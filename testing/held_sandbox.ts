/**
 * A runtime whose `RunPodSandbox` for one pod waits until the test releases it, so that pod's
 * flight runs for as long as the test needs while the other pods' calls go through.
 *
 * @module
 */
import type { Cri, PodSandboxConfig } from "../lib/runtime/cri.ts";

/** `cri`, with the sandbox of pod `name` held; `release` lets it be made. */
export function holdSandbox(cri: Cri, name: string): { cri: Cri; release: () => void } {
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  const held = new Proxy(cri, {
    get(target, prop, receiver) {
      if (prop === "runPodSandbox") {
        return async (config: PodSandboxConfig, ...rest: unknown[]) => {
          if (config.metadata.name === name) await released;
          return (target.runPodSandbox as (...a: unknown[]) => unknown)(config, ...rest);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { cri: held, release };
}
