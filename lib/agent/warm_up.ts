/**
 * The agent's warm-up: runs the code of a pod's first parse, translation and runtime messages
 * once on a sample pod, with nothing kept, nothing written and no runtime call, so that V8 and
 * protobufjs have compiled it before the next pod's file is read.
 *
 * @module
 */
import { parseManifest } from "../manifest/parse.ts";
import { warmCodecs } from "../runtime/grpc_warm_up.ts";
import { buildContainerConfig } from "../translate/container_config.ts";
import {
  sandboxForAttempt,
  type TranslateOptions,
  translatePod,
} from "../translate/desired_pod.ts";

/** A pod as most manifests declare one: what {@linkcode warmUpTranslation} goes through. */
const WARM_UP_MANIFEST = `apiVersion: v1
kind: Pod
metadata:
  name: warm-up
  labels: {app: warm-up}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: registry.invalid/warm-up:1
      command: ["sh", "-c", "sleep 1"]
      env: [{name: A, value: b}]
      ports: [{containerPort: 80}]
`;

/**
 * How many times the sample goes through: V8 optimises a function only after it ran several
 * times. Five bring a parse from about 8 ms (the first) to under 0.5 ms.
 */
const WARM_UP_ROUNDS = 5;

/**
 * Parses and translates a sample pod, and forms its sandbox and container configs, a few
 * rounds, keeping nothing.
 */
export async function warmUpTranslation(options: TranslateOptions): Promise<void> {
  for (let round = 0; round < WARM_UP_ROUNDS; round++) {
    const m = parseManifest("/warm-up/pod.yaml", WARM_UP_MANIFEST);
    for (const mp of m.pods) {
      const pod = await translatePod(mp.pod, m.file, options);
      sandboxForAttempt(pod, 0);
      for (const c of pod.containers) {
        buildContainerConfig(pod, c.name, { podIPs: ["192.0.2.1"], attempt: 0 }, 0);
      }
      JSON.stringify(pod.pod);
    }
  }
}

/** Warms the runtime's message codecs and the translation of a pod. */
export async function warmUp(options: TranslateOptions): Promise<void> {
  warmCodecs();
  await warmUpTranslation(options);
}
