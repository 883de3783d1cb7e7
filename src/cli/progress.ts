/** How often a progress line is redrawn: often enough to look alive, rarely enough to cost nothing. */
const REDRAW_MS = 250;

/**
 * Passes `items` through, telling a person at a terminal how far long work has come: one
 * line on stderr, redrawn in place, ended when the items are. Silent when stderr is not a
 * terminal (scripts and CI read stdout), unless SWITCHYARD_PROGRESS=1 asks for plain lines.
 */
export function* withProgress<T>(label: string, total: number, items: Iterable<T>): Generator<T> {
  const terminal = process.stderr.isTTY === true;
  if (!terminal && process.env.SWITCHYARD_PROGRESS !== '1') return yield* items;
  const show = (done: number, final: boolean) => {
    const line = `${label}: ${done.toLocaleString('en')}/${total.toLocaleString('en')}`;
    process.stderr.write(terminal ? `\r${line}${final ? '\n' : ''}` : `${line}\n`);
  };
  let done = 0;
  let shownAt = Date.now();
  for (const item of items) {
    yield item;
    done++;
    if (Date.now() - shownAt >= REDRAW_MS) {
      show(done, false);
      shownAt = Date.now();
    }
  }
  show(done, true);
}
