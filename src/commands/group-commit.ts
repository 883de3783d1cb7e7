import type { BatchResult, CommandBus, Outcome } from './bus';

interface Waiting {
  commands: readonly unknown[];
  resolve: (results: BatchResult[]) => void;
  reject: (error: unknown) => void;
}

export interface GroupCommitOptions {
  /**
   * How long the first command of a batch waits for others, when traffic shows that
   * others come: the last batch held more than one caller's commands, or more than one
   * client is connected (see `clientConnected`). 0 (the default) gathers what
   * arrives within the current turn of the event loop; a couple of milliseconds also
   * gathers requests that arrive on separate sockets while the last fsync ran. A lone
   * client is not made to wait, not even one that sends its next command the moment the
   * last is answered (how recent the last commit was says nothing there): like
   * PostgreSQL's commit_delay with commit_siblings, the delay is paid only where there is
   * likely someone to share the commit with.
   */
  maxWaitMs?: number;
  /** A batch this large is dispatched at once, without waiting out the rest of maxWaitMs. */
  maxCommands?: number;
}

/**
 * Coalesces the command batches that independent async workers (one per session, one per
 * HTTP request) submit close together into a single dispatchBatch: one transaction and one
 * fsync for all of them, each command still in its own savepoint, so one command's
 * rejection or failure is answered to its own caller and does not fail the others.
 */
export class GroupCommitter {
  private waiting: Waiting[] = [];
  private waitingCommands = 0;
  /** Cancels the pending flush of the batch being gathered, if one is scheduled. */
  private cancelFlush: (() => void) | undefined;
  private readonly maxWaitMs: number;
  private readonly maxCommands: number;
  /** Whether the last batch gathered more than one caller: what says company is coming. */
  private sharedLastCommit = false;
  /** Client connections open now (see `clientConnected`). */
  private connectedClients = 0;

  constructor(
    private readonly bus: CommandBus,
    options: GroupCommitOptions = {},
  ) {
    this.maxWaitMs = options.maxWaitMs ?? 0;
    this.maxCommands = options.maxCommands ?? Number.POSITIVE_INFINITY;
  }

  dispatch(commands: readonly unknown[]): Promise<BatchResult[]> {
    if (commands.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.waiting.push({ commands, resolve, reject });
      this.waitingCommands += commands.length;
      if (this.waitingCommands >= this.maxCommands) this.flush();
      else this.cancelFlush ??= this.scheduleFlush();
    });
  }

  /**
   * A client connected over which commands may come at any moment (an HTTP connection):
   * while more than one is open, a batch's first caller waits for the others. Call the
   * returned function when it closes; calling it again does nothing.
   */
  clientConnected(): () => void {
    this.connectedClients++;
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      this.connectedClients--;
    };
  }

  /** One command, answered as `CommandBus.dispatch` would: its outcome, or its own error thrown. */
  async dispatchOne(command: unknown): Promise<Outcome> {
    const [result] = await this.dispatch([command]);
    if (result!.status === 'failed') throw result!.error;
    return result!;
  }

  private scheduleFlush(): () => void {
    if (this.maxWaitMs > 0 && (this.sharedLastCommit || this.connectedClients > 1)) {
      const timer = setTimeout(() => this.flush(), this.maxWaitMs);
      return () => clearTimeout(timer);
    }
    const immediate = setImmediate(() => this.flush());
    return () => clearImmediate(immediate);
  }

  private flush(): void {
    this.cancelFlush?.();
    this.cancelFlush = undefined;
    const waiting = this.waiting;
    this.sharedLastCommit = waiting.length > 1;
    this.waiting = [];
    this.waitingCommands = 0;
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
