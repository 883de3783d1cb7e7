import type { BatchResult, CommandBus } from './bus';

interface Waiting {
  commands: readonly unknown[];
  resolve: (results: BatchResult[]) => void;
  reject: (error: unknown) => void;
}

/**
 * Coalesces the command batches that independent async workers (one per session, say)
 * submit within one turn of the event loop into a single dispatchBatch: one transaction
 * and one fsync for all of them, each command still in its own savepoint.
 */
export class GroupCommitter {
  private waiting: Waiting[] = [];

  constructor(private readonly bus: CommandBus) {}

  dispatch(commands: readonly unknown[]): Promise<BatchResult[]> {
    if (commands.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      if (this.waiting.length === 0) setImmediate(() => this.flush());
      this.waiting.push({ commands, resolve, reject });
    });
  }

  private flush(): void {
    const waiting = this.waiting;
    this.waiting = [];
    let results: BatchResult[];
    try {
      results = this.bus.dispatchBatch(waiting.flatMap((w) => w.commands));
    } catch (error) {
      for (const w of waiting) w.reject(error);
      return;
    }
    let offset = 0;
    for (const w of waiting) {
      w.resolve(results.slice(offset, offset + w.commands.length));
      offset += w.commands.length;
    }
  }
}
