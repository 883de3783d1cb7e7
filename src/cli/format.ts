import { stripVTControlCharacters } from 'node:util';
import { createColors } from 'picocolors';

// Colours for a person at a terminal only: picocolors alone would also colour in CI or a
// pipe, where the escape codes end up in files and break greps. NO_COLOR is honoured.
const pc = createColors(process.stdout.isTTY === true && !('NO_COLOR' in process.env));

export type Cell = string | number | null | undefined;

/** Rows a table measures at once: memory and the stack stay flat however long the log is. */
const TABLE_PAGE = 1000;

const cellText = (cell: Cell) => (cell === null || cell === undefined ? '' : String(cell));
/** What a terminal shows: escape codes take no columns. */
const visibleWidth = (text: string) => stripVTControlCharacters(text).length;

/**
 * Aligned columns for people: a bold header, one row per line, no box drawing to grep
 * around. Rows are measured a page at a time, so a table of the whole log streams; a
 * column widens when a later page needs it and never narrows.
 */
export function* tableLines(headers: readonly string[], rows: Iterable<readonly Cell[]>, pageSize = TABLE_PAGE): Generator<string> {
  const widths = headers.map((header) => header.length);
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat(Math.max(0, widths[i]! - visibleWidth(cell)))))
      .join('  ')
      .trimEnd();
  let page: string[][] = [];
  let headed = false;
  const flush = function* () {
    for (const row of page) row.forEach((cell, i) => (widths[i] = Math.max(widths[i]!, visibleWidth(cell))));
    if (!headed) yield pc.bold(line(headers));
    headed = true;
    for (const row of page) yield line(row);
    page = [];
  };
  for (const row of rows) {
    page.push(row.map(cellText));
    if (page.length >= pageSize) yield* flush();
  }
  if (page.length > 0 || !headed) yield* flush();
}

/** A whole table as one string, for the short ones. */
export const formatTable = (headers: readonly string[], rows: Iterable<readonly Cell[]>): string => [...tableLines(headers, rows)].join('\n');

/** Prints a table line by line as the items come, or `whenEmpty` if there are none. */
export function printTable<T>(headers: readonly string[], items: Iterable<T>, toRow: (item: T) => readonly Cell[], whenEmpty: string): void {
  let empty = true;
  const rows = (function* () {
    for (const item of items) {
      empty = false;
      yield toRow(item);
    }
  })();
  for (const line of tableLines(headers, rows)) if (!empty) process.stdout.write(line + '\n');
  if (empty) console.log(whenEmpty);
}

/**
 * `--json` for a list that may be long: one JSON document (an array), written element by
 * element so memory stays flat; one element a line, so a person can still read it.
 */
export function printJsonArray(items: Iterable<unknown>): void {
  let first = true;
  process.stdout.write('[');
  for (const item of items) {
    process.stdout.write(`${first ? '\n' : ',\n'}${JSON.stringify(item)}`);
    first = false;
  }
  process.stdout.write(first ? ']\n' : '\n]\n');
}

/** `--jsonl`: one JSON object a line, for streams and for tools that read line by line. */
export function printJsonLines(items: Iterable<unknown>): void {
  for (const item of items) process.stdout.write(JSON.stringify(item) + '\n');
}

/** Shortens a value to fit one table cell. */
export function clip(value: string, max = 80): string {
  return value.length <= max ? value : value.slice(0, max - 1) + '…';
}

export const ok = (text: string) => pc.green(text);
export const bad = (text: string) => pc.red(text);
export const dim = (text: string) => pc.dim(text);
export const bold = (text: string) => pc.bold(text);
