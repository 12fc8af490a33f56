/**
 * The error of a volume that cannot be provided, naming the volume.
 *
 * @module
 */

/** A volume that could not be provided; the message says which volume, what is wrong and what to do. */
export class VolumeError extends Error {
  /** The name of the volume, as in `spec.volumes[].name`. */
  readonly volume: string;
  constructor(volume: string, message: string, options?: ErrorOptions) {
    super(`Volume "${volume}": ${message}`, options);
    this.name = "VolumeError";
    this.volume = volume;
  }
}
