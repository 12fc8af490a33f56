/**
 * kubelet's runAsNonRoot check, made once the image is known: a container that must not run as
 * root starts only when its effective user is known and is not 0.
 *
 * @module
 */
import type { Image } from "../runtime/cri.ts";
import type { DesiredContainer, DesiredPod } from "./desired_pod.ts";

/** A container cannot run as configured; the message says why and what to do. */
export class ContainerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ContainerConfigError";
  }
}

/** kubelet's runAsNonRoot check: the effective user must be known and not 0. */
export function checkNonRoot(pod: DesiredPod, c: DesiredContainer, image: Image | null): void {
  if (!c.runAsNonRoot) return;
  const where = `container "${c.name}" of pod ${pod.key}`;
  if (c.runAsUser !== undefined) {
    if (c.runAsUser === 0) {
      throw new ContainerConfigError(
        `Set runAsUser to a non-zero user for ${where}: it has runAsNonRoot and runAsUser 0`,
      );
    }
    return;
  }
  if (image?.uid) {
    if (image.uid.value === 0) {
      throw new ContainerConfigError(
        `Set runAsUser for ${where}: it has runAsNonRoot and image "${c.image}" runs as root`,
      );
    }
    return;
  }
  if (image?.username) {
    throw new ContainerConfigError(
      `Set a numeric runAsUser for ${where}: it has runAsNonRoot and image "${c.image}" runs as user "${image.username}", which cannot be checked`,
    );
  }
  throw new ContainerConfigError(
    `Set runAsUser for ${where}: it has runAsNonRoot and image "${c.image}" runs as root (it names no user)`,
  );
}
