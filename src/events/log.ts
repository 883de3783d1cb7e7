import { map, type Observable } from 'rxjs';
import type { EventMetadata, RecordedEvent } from './define';
import type { EventStore, EventToAppend, ExpectedVersion } from './store';

/**
 * Where a reader stands: after this event. The log's order is (transactionId, position):
 * on PostgreSQL positions are handed out at insert but commit in another order, so a
 * reader that remembered only a position would skip an event that commits after a
 * higher one was read. On SQLite one writer commits at a time, in position order, so
 * every event there has transaction '0' and the order is the position's.
 */
export interface LogCheckpoint {
  /** The writing transaction's id (PostgreSQL xid8, as decimal text). */
  readonly transactionId: string;
  readonly position: number;
}

/** Before the first event. */
export const LOG_START: LogCheckpoint = { transactionId: '0', position: 0 };

/** An event as a reader of the whole log receives it: with the checkpoint to resume after it. */
export interface LoggedEvent extends RecordedEvent {
  readonly checkpoint: LogCheckpoint;
}

/** An event row exactly as stored: data and metadata as the JSON text written, never re-encoded. */
export interface StoredEvent {
  readonly position: number;
  readonly eventId: string;
  readonly stream: string;
  readonly streamVersion: number;
  readonly type: string;
  readonly schemaVersion: number;
  readonly data: string;
  readonly metadata: string;
}

/** A handled command as both stores keep it: its id, and the first outcome a repeat is answered with. */
export interface StoredCommand {
  readonly commandId: string;
  readonly type: string;
  readonly payloadHash: string;
  readonly outcome: string;
  readonly handledAt: string;
}

export interface LogSubscribeOptions {
  after?: LogCheckpoint;
  /** How often to look for commits the wake-ups did not announce. */
  pollIntervalMs?: number;
  batchSize?: number;
}

export interface EventLogWriter {
  /** Appends events to one stream atomically; the same semantics and errors on every store (see EventStore.append). */
  append(stream: string, expected: ExpectedVersion, events: readonly EventToAppend[], metadata: EventMetadata): Promise<RecordedEvent[]>;
}

export interface EventLogReader {
  /** The stream's current version: the number of events in it. */
  streamVersion(stream: string): Promise<number>;
  readStream(stream: string): Promise<RecordedEvent[]>;
  /** Up to `limit` committed events after a checkpoint, in log order; none is ever skipped by a later call. */
  readCommitted(after: LogCheckpoint, limit: number): Promise<LoggedEvent[]>;
  /** Committed events after a checkpoint: the ones already there (catch-up), then new ones as they commit. */
  subscribe(options?: LogSubscribeOptions): Observable<LoggedEvent>;
}

/** What both stores can do, asynchronously. The host's synchronous bus keeps using EventStore directly. */
export interface EventLog extends EventLogReader, EventLogWriter {
  close(): Promise<void>;
}

/** Every SQLite event is in transaction '0': position order is commit order there. */
const onSqlite = (event: RecordedEvent): LoggedEvent => ({ ...event, checkpoint: { transactionId: '0', position: event.position } });

/** The synchronous SQLite store behind the shared asynchronous port. */
export class SqliteEventLog implements EventLog {
  constructor(readonly store: EventStore) {}

  async append(stream: string, expected: ExpectedVersion, events: readonly EventToAppend[], metadata: EventMetadata): Promise<RecordedEvent[]> {
    return this.store.append(stream, expected, events, metadata);
  }

  async streamVersion(stream: string): Promise<number> {
    return this.store.streamVersion(stream);
  }

  async readStream(stream: string): Promise<RecordedEvent[]> {
    return this.store.readStream(stream);
  }

  async readCommitted(after: LogCheckpoint, limit: number): Promise<LoggedEvent[]> {
    const events: LoggedEvent[] = [];
    for (const event of this.store.readAll({ after: after.position, batchSize: limit })) {
      if (events.push(onSqlite(event)) === limit) break;
    }
    return events;
  }

  subscribe(options: LogSubscribeOptions = {}): Observable<LoggedEvent> {
    const { after, ...rest } = options;
    return this.store.subscribe({ ...rest, after: after?.position ?? 0 }).pipe(map(onSqlite));
  }

  async close(): Promise<void> {
    this.store.close();
  }
}
