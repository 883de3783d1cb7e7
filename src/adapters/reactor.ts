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
  /** Which event types it acts on; others only advance its checkpoint. */
  readonly handles: ReadonlySet<string>;
  /** Handles the events of one burst together (e.g. one file transaction for many rows). */
  handleBatch(events: readonly RecordedEvent[]): void;
}

/** Events a checkpoint may lag when none of them concerned the reactor. */
const SAVE_AT_LEAST_EVERY = 500;

export interface ReactorRunnerOptions {
  logger?: Logger;
  pollIntervalMs?: number;
  /** Most events handed to the reactor at once; also bounds memory during a catch-up. */
  batchSize?: number;
}

/**
 * Runs one reactor from its checkpoint: catch-up, then live. Events committed together
 * reach the reactor as one batch, after the committing code has moved on (so a slow
 * side effect never sits inside someone's command), and the checkpoint is saved once per
 * batch: a restart redoes at most the last batch, whose side effects are idempotent.
 */
export class ReactorRunner {
  private readonly checkpoints: Checkpoints;
  private readonly progress = new Subject<number>();
  private subscription: Subscription | undefined;
  private position = 0;
  private savedPosition = 0;
  private buffer: RecordedEvent[] = [];
  private flushScheduled = false;
  private logger: Logger | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly reactor: Reactor,
    private readonly options: ReactorRunnerOptions = {},
  ) {
    this.checkpoints = new Checkpoints(store.db);
  }

  start(): void {
    if (this.subscription) return;
    this.position = this.savedPosition = this.checkpoints.get(this.reactor.name);
    this.logger = this.options.logger?.child({ component: this.reactor.name });
    const batchSize = this.options.batchSize ?? 1000;
    this.subscription = this.store
      .subscribe({ after: this.position, ...(this.options.pollIntervalMs !== undefined && { pollIntervalMs: this.options.pollIntervalMs }) })
      .subscribe({
        next: (event) => {
          this.buffer.push(event);
          if (this.buffer.length >= batchSize) this.flush();
          else if (!this.flushScheduled) {
            this.flushScheduled = true;
            setImmediate(() => this.flush());
          }
        },
        error: (error: unknown) => this.logger?.error({ err: error }, 'event subscription failed'),
      });
  }

  /** Resolves once every event up to `position` (default: the log's end now) is handled. */
  async caughtUp(position: number = this.store.lastPosition()): Promise<void> {
    if (this.position >= position) return;
    await firstValueFrom(this.progress.pipe(filter((p) => p >= position)));
  }

  stop(): void {
    this.flush();
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    if (this.position > this.savedPosition) this.checkpoints.save(this.reactor.name, this.position);
  }

  private flush(): void {
    this.flushScheduled = false;
    const events = this.buffer;
    if (events.length === 0) return;
    this.buffer = [];
    const relevant = events.filter((event) => this.reactor.handles.has(event.type));
    if (relevant.length > 0) {
      try {
        this.reactor.handleBatch(relevant);
      } catch (error) {
        const first = relevant[0]!;
        this.logger?.error({ err: error, event: first.type, position: first.position, correlationId: first.metadata.correlationId }, 'reactor failed');
        this.subscription?.unsubscribe();
        this.subscription = undefined;
        return;
      }
    }
    this.position = events[events.length - 1]!.position;
    // Each save is an fsync: skip it for bursts the reactor had nothing to do with.
    if (relevant.length > 0 || this.position - this.savedPosition >= SAVE_AT_LEAST_EVERY) {
      this.checkpoints.save(this.reactor.name, this.position);
      this.savedPosition = this.position;
    }
    this.progress.next(this.position);
  }
}
