/**
 * The text a probe or lifecycle handler reports: bytes decoded with invalid UTF-8 replaced,
 * output clipped to {@linkcode MAX_OUTPUT_CHARS} and marked when cut, and an error's message.
 *
 * @module
 */
import { concatBytes } from "../base/bytes.ts";
import type { ProbeOutcome } from "./probes.ts";

/** Longest `output` kept, in characters. */
export const MAX_OUTPUT_CHARS = 1024;

/** Text of `parts` joined, invalid UTF-8 replaced, cut well past the output limit. */
export function decodeBytes(parts: Uint8Array[]): string {
  const limit = MAX_OUTPUT_CHARS * 4;
  const cut = parts.map((p) => p.subarray(0, limit));
  return new TextDecoder().decode(concatBytes(cut));
}

const TRUNCATED = " [truncated]";

/** `outcome` with its output clipped. */
export function clipOutcome(outcome: ProbeOutcome): ProbeOutcome {
  return { ok: outcome.ok, output: clip(outcome.output) };
}

/** `text`, at most {@linkcode MAX_OUTPUT_CHARS} long, marked when cut. */
function clip(text: string): string {
  if (text.length <= MAX_OUTPUT_CHARS) return text;
  let end = MAX_OUTPUT_CHARS - TRUNCATED.length;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--; // do not split a surrogate pair
  return text.slice(0, end) + TRUNCATED;
}

/** The message of `err` (its name when it has none). */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
