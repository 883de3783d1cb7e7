/** How often a progress line is redrawn: often enough to look alive, rarely enough to cost nothing. */
const REDRAW_MS = 250;

/**
 * Tells a person at a terminal how far long work has come: one line on stderr, redrawn in
 * place. Silent when stderr is not a terminal (scripts and CI read stdout), unless
 * SWITCHYARD_PROGRESS=1 asks for plain lines.
 */
export class ProgressLine {
  private readonly terminal = process.stderr.isTTY === true;
  private readonly silent = !this.terminal && process.env.SWITCHYARD_PROGRESS !== '1';
  private shownAt = Date.now();

  constructor(
    private readonly label: string,
    private readonly total: number,
  ) {}

  /** How much is done so far; drawn at most every REDRAW_MS. */
  update(done: number): void {
    if (this.silent || Date.now() - this.shownAt < REDRAW_MS) return;
    this.show(done, false);
    this.shownAt = Date.now();
  }

  end(done: number): void {
    if (!this.silent) this.show(done, true);
  }

  private show(done: number, final: boolean): void {
    const line = `${this.label}: ${done.toLocaleString('en')}/${this.total.toLocaleString('en')}`;
    process.stderr.write(this.terminal ? `\r${line}${final ? '\n' : ''}` : `${line}\n`);
  }
}

/** Passes `items` through, counting them on a progress line ended when the items are. */
export function* withProgress<T>(label: string, total: number, items: Iterable<T>): Generator<T> {
  const progress = new ProgressLine(label, total);
  let done = 0;
  for (const item of items) {
    yield item;
    progress.update(++done);
  }
  progress.end(done);
}
