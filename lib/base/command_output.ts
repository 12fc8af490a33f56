/**
 * A short command's exit status and output, read through small buffers: what the agent spawns
 * when scraped (`cat` of the root cgroup's files, `ls` of its open files), where Deno will not
 * read `/proc` and `/sys` itself.
 *
 * `Deno.Command.output()` reads each piped stream into a 64 KiB chunk, about 100 KiB per stream
 * held outside the JavaScript heap until the next garbage collection, however short the output.
 * An idle agent collects rarely, so under frequent scrapes those buffers piled up and stayed in
 * its resident set (measured: 5 to 6 MB after 5 s of scrapes every 20 ms). Read 4 KiB at a time,
 * a command's output holds about 8 KiB.
 *
 * @module
 */
import { concatBytes } from "./bytes.ts";

/** How much of a stream one read takes. */
const CHUNK_BYTES = 4096;

/** What {@linkcode commandOutput} gives back: as `Deno.CommandOutput`, without the signal. */
export interface CommandOutput {
  success: boolean;
  code: number;
  stdout: Uint8Array;
  /** Empty unless asked for. */
  stderr: Uint8Array;
}

/** Everything `stream` carries, read {@linkcode CHUNK_BYTES} at a time. */
async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const reader = stream.getReader({ mode: "byob" });
  const chunks: Uint8Array[] = [];
  for (;;) {
    const { done, value } = await reader.read(new Uint8Array(CHUNK_BYTES));
    if (value !== undefined && value.length > 0) {
      chunks.push(value);
    }
    if (done) break;
  }
  return concatBytes(chunks);
}

/**
 * Runs `command` with `args` to its end, as `new Deno.Command(command, { args, stdout: "piped",
 * stderr }).output()` does (stderr is read only when `"piped"`). Throws as it does when the
 * command cannot be started.
 */
export async function commandOutput(
  command: string,
  { args, stderr = "null" }: { args: string[]; stderr?: "piped" | "null" },
): Promise<CommandOutput> {
  const child = new Deno.Command(command, { args, stdout: "piped", stderr }).spawn();
  const [out, err, status] = await Promise.all([
    readAll(child.stdout),
    stderr === "piped" ? readAll(child.stderr) : new Uint8Array(),
    child.status,
  ]);
  return { success: status.success, code: status.code, stdout: out, stderr: err };
}
