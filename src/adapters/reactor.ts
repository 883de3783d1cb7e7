import { filter, firstValueFrom, Subject, type Subscription } from 'rxjs';
import type { RecordedEvent } from '../events/define';
import { Checkpoints } from '../events/checkpoints';
import type { EventStore } from '../events/store';
import type { Logger } from '../logger';

/**
 * An adapter driven by committed events. Its side effects must be idempotent: after a
 * crash it sees again the events after its last saved checkpoint.
 */
export interface Reactor {
  /** Names its checkpoint: keep it stable across releases. */
  readonly name: string;
  /** Which event types it acts on: the only ones read for it (filtered in SQL); the others only advance its checkpoint. */
  readonly handles: ReadonlySet<string>;
  /**
   * Handles the events of one burst together (e.g. one file transaction for many rows).
   * Returns the events it could not apply yet because one session's folder was busy: they
   * are offered again, ahead of newer ones, and the checkpoint stays below them. Throws
   * when it could do nothing (a full disk): the whole burst is retried with backoff.
   * A reactor whose work finishes in another thread returns a promise of the same: no
   * other burst is handed to it meanwhile, and its checkpoint moves once it settles.
   */
  handleBatch(events: readonly RecordedEvent[]): readonly RecordedEvent[] | void | Promise<readonly RecordedEvent[] | void>;
}

/** Events a checkpoint may lag when none of them concerned the reactor. */
const SAVE_AT_LEAST_EVERY = 500;
/**
 * How long a checkpoint waits for another write transaction to carry it before it commits
 * on its own: after a crash, the reactor redoes at most the events handled in this window.
 */
const CHECKPOINT_LAG_MS = 1000;

export interface ReactorRunnerOptions {
  logger?: Logger;
  pollIntervalMs?: number;
  /** Most events handed to the reactor at once; also bounds memory during a catch-up. */
  batchSize?: number;
  /** First wait before a failed burst, or deferred events, are tried again; doubled each time up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
  /** How long a checkpoint may wait to ride along with another transaction (default 1 s). */
  checkpointLagMs?: number;
}

/**
 * Runs one reactor from its checkpoint: catch-up, then live. Events committed together
 * reach the reactor as one batch, after the committing code has moved on (so a slow
 * side effect never sits inside someone's command), and the checkpoint is saved after
 * the batch is handled: a restart redoes at most the last batch, whose side effects are
 * idempotent. A failure never stops the reactor: a failed burst is read again from the
 * log after a backoff (so a full disk heals without a restart), and events one session
 * could not take are retried on their own while the others go on.
 */
export class ReactorRunner {
  private readonly checkpoints: Checkpoints;
  private readonly progress = new Subject<number>();
  private subscription: Subscription | undefined;
  /** The last event handed to the reactor (handled, or deferred). */
  private position = 0;
  private savedPosition = 0;
  private buffer: RecordedEvent[] = [];
  /** How far the subscription last read the log, past events of types this reactor does not handle. */
  private readThrough = 0;
  /** Events the reactor gave back, oldest first: the checkpoint stays below the first. */
  private deferred: readonly RecordedEvent[] = [];
  private flushScheduled = false;
  /** The burst the reactor is working on in another thread, if any. */
  private inFlight: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private running = false;
  private logger: Logger | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly reactor: Reactor,
    private readonly options: ReactorRunnerOptions = {},
  ) {
    this.checkpoints = new Checkpoints(store.db);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.position = this.savedPosition = this.checkpoints.get(this.reactor.name);
    this.logger = this.options.logger?.child({ component: this.reactor.name });
    this.subscribe();
  }

  /** Resolves once every event up to `position` (default: the log's end now) is handled or deferred. */
  async caughtUp(position: number = this.store.lastPosition()): Promise<void> {
    if (this.position >= position) return;
    await firstValueFrom(this.progress.pipe(filter((p) => p >= position)));
  }

  /** Events the reactor could not apply yet, for status and tests. */
  pending(): readonly RecordedEvent[] {
    return this.deferred;
  }

  /** Hands the reactor what it has read, waits for work it does in another thread, and saves the checkpoint. */
  stop(): Promise<void> {
    if (!this.running) return Promise.resolve();
    this.flush();
    if (this.inFlight) return this.inFlight.then(() => this.stopNow());
    this.stopNow();
    return Promise.resolve();
  }

  private stopNow(): void {
    this.running = false;
    this.unsubscribe();
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.saveCheckpoint(true);
    clearTimeout(this.checkpointTimer);
    this.checkpointTimer = undefined;
    // A stop is not a crash: what it handled is not redone after a restart.
    this.store.flushRiders();
  }

  private subscribe(): void {
    const batchSize = this.options.batchSize ?? 1000;
    this.subscription = this.store
      .subscribe({
        after: this.position,
        type: [...this.reactor.handles],
        onReadThrough: (position) => {
          this.readThrough = position;
          this.scheduleFlush();
        },
        ...(this.options.pollIntervalMs !== undefined && { pollIntervalMs: this.options.pollIntervalMs }),
      })
      .subscribe({
        next: (event) => {
          this.buffer.push(event);
          if (this.buffer.length >= batchSize) this.flush();
          else this.scheduleFlush();
        },
        error: (error: unknown) => this.retryLater(error, 'event subscription failed'),
      });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private unsubscribe(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    this.buffer = [];
    this.readThrough = 0;
  }

  private flush(): void {
    this.flushScheduled = false;
    // A flush scheduled before stop() (or before a failure unsubscribed) must not touch a closed store.
    if (!this.running || this.inFlight) return;
    const events = this.buffer;
    // The log was read through here: past the buffered events, nothing more for this reactor.
    const readThrough = Math.max(this.readThrough, events.at(-1)?.position ?? 0);
    if (readThrough <= this.position && this.deferred.length === 0) return;
    this.buffer = [];
    this.readThrough = 0;
    const offered = [...this.deferred, ...events];
    if (offered.length === 0) return this.handled([], readThrough, false);
    try {
      const result = this.reactor.handleBatch(offered);
      if (!(result instanceof Promise)) return this.handled(result ?? [], readThrough, true);
      this.inFlight = result.then(
        (deferred) => {
          this.inFlight = undefined;
          if (!this.running) return;
          this.handled(deferred ?? [], readThrough, true);
          if (this.buffer.length > 0 || this.readThrough > this.position) this.scheduleFlush();
        },
        (error: unknown) => {
          this.inFlight = undefined;
          if (this.running) this.failed(error, offered[0]!);
        },
      );
    } catch (error) {
      this.failed(error, offered[0]!);
    }
  }

  private handled(deferred: readonly RecordedEvent[], readThrough: number, relevant: boolean): void {
    this.deferred = deferred;
    this.failures = 0;
    this.position = Math.max(this.position, readThrough);
    this.saveCheckpoint(relevant);
    if (this.deferred.length > 0) this.offerDeferredLater();
    this.progress.next(this.position);
  }

  /** Nothing of the burst is taken as done: it is read again from the log. */
  private failed(error: unknown, first: RecordedEvent): void {
    this.unsubscribe();
    this.retryLater(error, 'reactor failed, retrying', first);
  }

  /**
   * Handled through: the position before the first deferred event, or the last one seen.
   * Saved in the next write transaction (the next command's, most often), not in one of
   * its own: an fsync per burst, per reactor, was a third of the commits of a routed message.
   */
  private saveCheckpoint(relevant: boolean): void {
    const through = this.deferred.length > 0 ? Math.min(this.position, this.deferred[0]!.position - 1) : this.position;
    // Skip it for bursts the reactor had nothing to do with: on a quiet host it would commit alone.
    if (through === this.savedPosition || !(relevant || through - this.savedPosition >= SAVE_AT_LEAST_EVERY)) return;
    const name = this.reactor.name;
    this.store.writeWithNextTransaction(`checkpoint:${name}`, () => this.checkpoints.save(name, through));
    this.savedPosition = through;
    // Unref'd: a process ending without stop() loses only a redo of this window, as a crash does.
    this.checkpointTimer ??= setTimeout(() => {
      this.checkpointTimer = undefined;
      if (this.running) this.store.flushRiders();
    }, this.options.checkpointLagMs ?? CHECKPOINT_LAG_MS).unref();
  }

  private backoff(): number {
    const first = this.options.retryMs ?? 100;
    return Math.min(first * 2 ** this.failures++, this.options.maxRetryMs ?? 10_000);
  }

  private offerDeferredLater(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.flush();
    }, this.backoff());
  }

  private retryLater(error: unknown, message: string, first?: RecordedEvent): void {
    const delayMs = this.backoff();
    this.logger?.error(
      { err: error, event: 'ReactorRetrying', reactor: this.reactor.name, delayMs, position: first?.position, correlationId: first?.metadata.correlationId, eventType: first?.type },
      message,
    );
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.running) return;
      this.unsubscribe();
      this.subscribe();
    }, delayMs);
  }
}
