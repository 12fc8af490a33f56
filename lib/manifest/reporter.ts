/**
 * Where the checks of a manifest send what they find: an error or a warning at a field path.
 * The manifest checker implements it; the schema walk and the checks across fields report to it.
 *
 * @module
 */
import type { FieldPath } from "./yaml.ts";

/** Receives problems; implemented by the manifest checker. */
export interface Reporter {
  error(path: FieldPath, message: string): void;
  warn(path: FieldPath, message: string): void;
}
