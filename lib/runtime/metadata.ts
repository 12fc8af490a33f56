/**
 * The names the runtime keeps with each sandbox and container (CRI `PodSandboxMetadata` and
 * `ContainerMetadata`) and their labels: shared by the calls (`cri.ts`) and the usage figures
 * (`stats.ts`), which both describe the same objects.
 *
 * @module
 */

/** Labels or annotations as the runtime stores them: string keys to string values. */
export type Labels = Record<string, string>;

/** Who a sandbox is for: the pod's name, UID and namespace, and the how-manieth attempt. */
export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

/** Which container of its pod a container is, and the how-manieth attempt (its restarts). */
export interface ContainerMetadata {
  name: string;
  attempt: number;
}
