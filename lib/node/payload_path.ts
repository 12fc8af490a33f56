/**
 * Which paths a config volume's payload may hold (`atomic_writer.ts` writes them): relative,
 * clean, within the file system's limits, not the writer's own `..` names.
 *
 * @module
 */

const MAX_NAME_BYTES = 255; // NAME_MAX
const MAX_PATH_BYTES = 4096; // PATH_MAX

const encoder = new TextEncoder();

/**
 * Why payload path `path` cannot be written, or undefined when it can. A path is relative, is
 * at most 4096 bytes, has no empty, `.` or `..` component and no component over 255 bytes, and
 * does not start with `..` (those names are the writer's). `a//b` and `./a` are refused, so two
 * paths never name one file: callers clean paths first, as kubelet does.
 */
export function payloadPathError(path: string): string | undefined {
  if (path === "") return "Name a file: a payload path is empty";
  if (path.includes("\0")) return `Remove the NUL byte from payload path ${JSON.stringify(path)}`;
  if (path.startsWith("/")) {
    return `Make payload path "${path}" relative to the volume: it starts with "/"`;
  }
  const bytes = encoder.encode(path).length;
  if (bytes > MAX_PATH_BYTES) {
    return `Shorten payload path "${path}": it is ${bytes} bytes, over the limit of ${MAX_PATH_BYTES}`;
  }
  for (const component of path.split("/")) {
    if (component === "") return `Remove the empty component from payload path "${path}"`;
    if (component === "." || component === "..") {
      return `Remove the "${component}" component from payload path "${path}": paths name files inside the volume`;
    }
    const length = encoder.encode(component).length;
    if (length > MAX_NAME_BYTES) {
      return `Shorten payload path "${path}": a component is ${length} bytes, over the limit of ${MAX_NAME_BYTES}`;
    }
  }
  if (path.startsWith("..")) {
    return `Rename payload path "${path}": names starting with ".." are the volume's own (..data)`;
  }
  return undefined;
}
