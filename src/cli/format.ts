import { createColors } from 'picocolors';

// Colours for a person at a terminal only: picocolors alone would also colour in CI or a
// pipe, where the escape codes end up in files and break greps. NO_COLOR is honoured.
const pc = createColors(process.stdout.isTTY === true && !('NO_COLOR' in process.env));

export type Cell = string | number | null | undefined;

/** Aligned columns for people: a bold header, one row per line, no box drawing to grep around. */
export function formatTable(headers: readonly string[], rows: readonly Cell[][]): string {
  const text = rows.map((row) => row.map((cell) => (cell === null || cell === undefined ? '' : String(cell))));
  const widths = headers.map((header, i) => Math.max(header.length, ...text.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [pc.bold(line(headers)), ...text.map(line)].join('\n');
}

/** Shortens a value to fit one table cell. */
export function clip(value: string, max = 80): string {
  return value.length <= max ? value : value.slice(0, max - 1) + '…';
}

export const ok = (text: string) => pc.green(text);
export const bad = (text: string) => pc.red(text);
export const dim = (text: string) => pc.dim(text);
export const bold = (text: string) => pc.bold(text);
