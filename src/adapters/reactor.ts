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
  handle(event: RecordedEvent): void;
}

export interface ReactorRunnerOptions {
  logger?: Logger;
  pollIntervalMs?: number;
  /** Save the checkpoint at least every this many events even when none was handled. */
  checkpointEvery?: number;
}

/**
 * Runs one reactor from its checkpoint: catch-up, then live. The checkpoint is saved
 * after every handled event (and every `checkpointEvery` others), so a restart redoes at
 * most the one event whose side effect may or may not have happened.
 */
export class ReactorRunner {
  private readonly checkpoints: Checkpoints;
  private readonly progress = new Subject<number>();
  private subscription: Subscription | undefined;
  private position = 0;
  private savedPosition = 0;

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
    const logger = this.options.logger?.child({ component: this.reactor.name });
    const every = this.options.checkpointEvery ?? 500;
    this.subscription = this.store
      .subscribe({ after: this.position, ...(this.options.pollIntervalMs !== undefined && { pollIntervalMs: this.options.pollIntervalMs }) })
      .subscribe({
        next: (event) => {
          const relevant = this.reactor.handles.has(event.type);
          if (relevant) {
            try {
              this.reactor.handle(event);
            } catch (error) {
              logger?.error({ err: error, event: event.type, position: event.position, correlationId: event.metadata.correlationId }, 'reactor failed');
              this.stop();
              return;
            }
          }
          this.position = event.position;
          if (relevant || this.position - this.savedPosition >= every) this.saveCheckpoint();
          this.progress.next(this.position);
        },
        error: (error: unknown) => logger?.error({ err: error }, 'event subscription failed'),
      });
  }

  /** Resolves once every event up to `position` (default: the log's end now) is handled. */
  async caughtUp(position: number = this.store.lastPosition()): Promise<void> {
    if (this.position >= position) return;
    await firstValueFrom(this.progress.pipe(filter((p) => p >= position)));
  }

  stop(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    if (this.position > this.savedPosition) this.saveCheckpoint();
  }

  private saveCheckpoint(): void {
    this.checkpoints.save(this.reactor.name, this.position);
    this.savedPosition = this.position;
  }
}
