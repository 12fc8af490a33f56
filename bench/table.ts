/**
 * The bench's table: sections, notes and rows of figure, value, target and verdict, printed in
 * aligned columns.
 *
 * @module
 */

type Line = { title: string } | { note: string } | {
  cells: [string, string, string, string];
};

/** Lines of the report, rendered as aligned columns. */
export class Table {
  readonly #lines: Line[] = [];

  section(title: string): void {
    this.#lines.push({ title });
  }

  /** A line of its own under the current section, outside the columns. */
  note(text: string): void {
    this.#lines.push({ note: text });
  }

  row(figure: string, value: string, target = "", result = ""): void {
    this.#lines.push({ cells: [figure, value, target, result] });
  }

  render(): string {
    const header: [string, string, string, string] = ["figure", "value", "target", "verdict"];
    const rows = this.#lines.flatMap((l) => "cells" in l ? [l.cells] : []);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const fmt = (cells: string[]) =>
      ("  " + cells.map((c, i) => c.padEnd(widths[i]!)).join("   ")).trimEnd();
    const out = [fmt(header)];
    for (const l of this.#lines) {
      if ("title" in l) out.push("", l.title);
      else if ("note" in l) out.push(`  ${l.note}`);
      else out.push(fmt(l.cells));
    }
    return out.join("\n");
  }
}
