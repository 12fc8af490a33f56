/**
 * Kubernetes' `$(VAR)` expansion in container env values, command and args,
 * with the rules of kubelet's `third_party/forked/golang/expansion`.
 *
 * @module
 */

/**
 * Expands `$(NAME)` references in `text` using `lookup` (undefined leaves the
 * reference as written), with kubelet's rules:
 * - `$$` becomes `$`, so `$$(X)` is the literal `$(X)`;
 * - a `$` followed by anything but `(` or `$` stays, with that character
 *   (`$HOME`, `${X}`, `$?`), and so does a `$` at the end;
 * - `$(` without a closing `)` stays as written, and scanning goes on after
 *   its `(`;
 * - the name is everything up to the first `)`, whatever it holds:
 *   `$(A$(B))` looks up `A$(B` and keeps the last `)`;
 * - an expanded value is not expanded again, and a backslash escapes nothing.
 */
export function expandVars(text: string, lookup: (name: string) => string | undefined): string {
  let out = "";
  let checkpoint = 0;
  for (let cursor = 0; cursor < text.length; cursor++) {
    if (text[cursor] !== "$" || cursor + 1 >= text.length) continue;
    out += text.slice(checkpoint, cursor);
    const next = text[cursor + 1];
    if (next === "$") {
      // An escaped operator.
      out += "$";
      cursor += 1;
    } else if (next === "(") {
      const close = text.indexOf(")", cursor + 2);
      if (close === -1) {
        // An incomplete reference: keep "$(" and go on after it.
        out += "$(";
        cursor += 1;
      } else {
        const name = text.slice(cursor + 2, close);
        out += lookup(name) ?? `$(${name})`;
        cursor = close;
      }
    } else {
      // Not a reference: keep the operator and the character after it.
      out += text.slice(cursor, cursor + 2);
      cursor += 1;
    }
    checkpoint = cursor + 1;
  }
  return out + text.slice(checkpoint);
}

/**
 * Builds a container's env as kubelet does: each value may reference
 * variables defined earlier in the list, or else in `base` (looked up only,
 * not added to the result); a reference to an unknown or later variable stays
 * as written; an empty value is not expanded. A name given twice keeps its
 * first position and its last value (kubelet collects the values in a map;
 * its order there is Go's map order, ours is the order of first definition).
 */
export function expandEnv(
  env: { name: string; value: string }[],
  base: Record<string, string> = {},
): { name: string; value: string }[] {
  const values = new Map<string, string>();
  const lookup = (name: string): string | undefined =>
    values.get(name) ?? (Object.hasOwn(base, name) ? base[name] : undefined);
  for (const { name, value } of env) {
    values.set(name, value === "" ? "" : expandVars(value, lookup));
  }
  return [...values].map(([name, value]) => ({ name, value }));
}
