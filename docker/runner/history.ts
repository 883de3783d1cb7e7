import { appendFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type Anthropic from '@anthropic-ai/sdk';

/**
 * One message handled, as the model saw it: the user turn, every tool round (a tool_use
 * and its tool_result always in the same turn) and the final answer. The questions it
 * asked are kept with it, so that an answer arriving later can be shown with its question.
 */
export interface HistoryTurn {
  messages: Anthropic.MessageParam[];
  questions?: Record<string, string>;
}

export interface HistoryLimits {
  /** At most this many turns are kept. */
  turns: number;
  /** And at most this many characters of them (as JSON). */
  chars: number;
}

const isTurn = (value: unknown): value is HistoryTurn => typeof value === 'object' && value !== null && Array.isArray((value as HistoryTurn).messages) && (value as HistoryTurn).messages.length > 0;

/**
 * The conversation of one session, in the runner's own file in the session folder (the
 * host never reads it), so that a new runner process continues where the last one
 * stopped. One JSON line per turn: a turn is appended whole, and a line a crash cut short
 * is skipped at load. Bounded by whole turns dropped from the oldest, so a tool_use never
 * loses its tool_result; the file is then rewritten (temp file, then rename).
 */
export class History {
  private turns: HistoryTurn[] = [];
  private sizes: number[] = [];

  constructor(
    private readonly path: string,
    private readonly limits: HistoryLimits,
  ) {
    let lines: string[];
    try {
      lines = readFileSync(path, 'utf8').split('\n');
    } catch {
      return;
    }
    let damaged = false;
    for (const line of lines.filter((l) => l.trim() !== '')) {
      try {
        const turn = JSON.parse(line) as unknown;
        if (isTurn(turn)) this.push(turn, line.length);
        else damaged = true;
      } catch {
        damaged = true;
      }
    }
    // Rewritten rather than appended to: a line appended after a cut-short one would be lost with it.
    if (this.bound() || damaged) this.rewrite();
  }

  /** The kept turns, oldest first, as one conversation. */
  messages(): Anthropic.MessageParam[] {
    return this.turns.flatMap((turn) => turn.messages);
  }

  /** The text of a question this agent asked, while the turn that asked it is kept. */
  question(questionId: string): string | undefined {
    for (const turn of this.turns) if (turn.questions?.[questionId] !== undefined) return turn.questions[questionId];
    return undefined;
  }

  add(turn: HistoryTurn): void {
    const line = JSON.stringify(turn);
    this.push(turn, line.length);
    if (this.bound()) this.rewrite();
    else appendFileSync(this.path, `${line}\n`);
  }

  private push(turn: HistoryTurn, size: number): void {
    this.turns.push(turn);
    this.sizes.push(size);
  }

  /** Drops whole turns from the oldest until within the limits; whether any was dropped. */
  private bound(): boolean {
    let total = this.sizes.reduce((sum, size) => sum + size, 0);
    let dropped = 0;
    while (this.turns.length - dropped > 0 && (this.turns.length - dropped > this.limits.turns || total > this.limits.chars)) total -= this.sizes[dropped++]!;
    this.turns.splice(0, dropped);
    this.sizes.splice(0, dropped);
    return dropped > 0;
  }

  private rewrite(): void {
    const temporary = `${this.path}.tmp`;
    writeFileSync(temporary, this.turns.map((turn) => `${JSON.stringify(turn)}\n`).join(''));
    renameSync(temporary, this.path);
  }
}
