/**
 * How env and volumes find the ConfigMaps and Secrets a pod references: by namespace and name,
 * with their data as the checked documents hold it (`lib/manifest/config_objects.ts`).
 *
 * @module
 */
import type { ConfigMapObject, SecretObject } from "../manifest/config_objects.ts";

/** The data of a ConfigMap: `data` as text, `binaryData` as bytes. */
export type ConfigData =
  & Pick<ConfigMapObject, "data">
  & Partial<Pick<ConfigMapObject, "binaryData">>;

/** The data of a Secret: its values as decoded bytes. */
export type SecretData = Pick<SecretObject, "data">;

/** Finds ConfigMaps and Secrets by namespace and name; undefined when there is none. */
export interface ConfigLookup {
  /** The ConfigMap, or undefined when there is none. */
  configMap(namespace: string, name: string): ConfigData | undefined;
  /** The Secret with its data decoded, or undefined when there is none. */
  secret(namespace: string, name: string): SecretData | undefined;
}
