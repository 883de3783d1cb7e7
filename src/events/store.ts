import { hash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type Database from 'better-sqlite3';
import { interval, map, merge, Observable, Subject } from 'rxjs';
import { migrate } from '../db/migrate';
import { StatementCache } from '../db/statement-cache';
import { openDatabase, type Synchronous } from '../db/sqlite';
import type { EventDefinition, EventMetadata, EventRegistry, PendingEvent, RecordedEvent } from './define';
import type { StoredCommand, StoredEvent } from './log';

/**
 * What the appender believes about the stream: `any` (no check), `no-stream` (it must
 * not exist), `exists` (it must have at least one event) or an exact version (0 = empty).
 */
export type ExpectedVersion = 'any' | 'no-stream' | 'exists' | number;

export class WrongExpectedVersionError extends Error {
  constructor(
    readonly stream: string,
    readonly expected: ExpectedVersion,
    /** The stream's version when the append was tried; 0 when it has no events. */
    readonly actual: number,
  ) {
    super(`stream ${stream}: expected version ${String(expected)}, actual version ${actual}`);
    this.name = 'WrongExpectedVersionError';
  }
}

export class DuplicateEventError extends Error {
  constructor(readonly eventId: string, readonly commandId: string) {
    super(`event ${eventId} of command ${commandId} is already in the log: the command was appended before`);
    this.name = 'DuplicateEventError';
  }
}

export interface EventToAppend {
  readonly type: string;
  readonly data: unknown;
}

export interface ReadOptions {
  /** Only events after this position (0 = from the start). */
  after?: number;
  /** Only events up to and including this position. */
  until?: number;
  stream?: string;
  /** One event type, or any of several. */
  type?: string | readonly string[];
  /** Rows fetched per query: memory stays bounded by it whatever the log's size. */
  batchSize?: number;
}

export interface SubscribeOptions {
  after?: number;
  /** How often to look for events committed by other processes. */
  pollIntervalMs?: number;
  batchSize?: number;
  /** Only events of this type (or these): read through the type index, the others never parsed. */
  type?: string | readonly string[];
  /**
   * Told, after each read that reached the log's end, the position the log was read through:
   * with a type filter the last event delivered can lie far behind it.
   */
  onReadThrough?: (position: number) => void;
}

export interface EventStoreOptions {
  synchronous?: Synchronous;
  /**
   * Whether the events a decider built (appendDecided) are checked on append: against their
   * schema, and for being exactly what the schema would store (no default left to fill, no
   * key to strip), so that appending them unchecked stores the same. On by default, so
   * every test of a decider catches one that builds an event its schema would change. The
   * host turns it off: the decider's types shape its events, and the check was ≈ 6 % of a
   * routed message's CPU at 64 webhook clients.
   */
  verifyDecided?: boolean;
}

/**
 * Makes each outermost transaction part of a larger one: the PostgreSQL replica's (see
 * src/adapters/pg-replica.ts). All three run inside the local transaction.
 */
export interface TransactionParticipant {
  /** Before the work: may bring the local database up to date first. */
  begin(): void;
  /** After the work: a throw rolls the local transaction back. */
  prepareCommit(): void;
  /** The work, begin or prepareCommit threw. */
  abort(): void;
  /** Whether a transaction that threw this, on this attempt (from 1), is run again from the start. */
  retries(error: unknown, attempt: number): boolean;
}

/** A row of the events table as an array, in READ_COLUMNS order: no per-row object to build. */
type EventRow = [position: number, eventId: string, stream: string, streamVersion: number, type: string, schemaVersion: number, data: string, metadata: string];
const READ_COLUMNS = 'position, event_id, stream, stream_version, type, schema_version, data, metadata';

/**
 * Event ids come from the command id, so a retried command cannot append twice. The
 * one-shot hash() gives createHash()'s digest without building a Hash object: a third
 * of the cost, paid once per event on the write path.
 */
export function deriveEventId(commandId: string, stream: string, index: number): string {
  return 'evt-' + hash('sha256', `${commandId}\u0000${stream}\u0000${index}`, 'hex').slice(0, 32);
}

const DEFAULT_BATCH = 1000;

export class EventStore {
  /** Each outermost commit that appended: what it appended, when that is all the log gained (see committedEvents). */
  private readonly commits = new Subject<CommittedEvents | undefined>();
  private appendedSinceCommit = false;
  /** The rows the open outermost transaction appended, as stored; undefined outside one. */
  private appended: EventRow[] | undefined;
  private committed = 0;
  /** Writes waiting for the next transaction to carry them, by key. */
  private readonly riders = new Map<string, () => void>();
  private readonly runInTransaction: Database.Transaction<(fn: () => unknown) => unknown>;
  private readonly insertEvent: Database.Statement;
  private readonly selectStreamVersion: Database.Statement;
  private readonly selectLastPosition: Database.Statement;
  private readonly readQueries: StatementCache;
  private participant: TransactionParticipant | undefined;

  private readonly verifyDecided: boolean;

  constructor(
    readonly db: Database.Database,
    readonly registry: EventRegistry,
    options: Pick<EventStoreOptions, 'verifyDecided'> = {},
  ) {
    this.verifyDecided = options.verifyDecided ?? true;
    this.runInTransaction = db.transaction((fn: () => unknown) => fn());
    this.insertEvent = db.prepare(
      `INSERT INTO events (event_id, stream, stream_version, type, schema_version, data, metadata)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.selectStreamVersion = db
      .prepare('SELECT stream_version FROM events WHERE stream = ? ORDER BY stream_version DESC LIMIT 1')
      .pluck();
    this.selectLastPosition = db.prepare('SELECT max(position) FROM events').pluck();
    this.readQueries = new StatementCache(db);
  }

  /** Opens (and migrates) the database file and returns a store on it. */
  static open(path: string, registry: EventRegistry, options: EventStoreOptions = {}): EventStore {
    const db = openDatabase(path, { synchronous: options.synchronous ?? 'FULL' });
    migrate(db);
    return new EventStore(db, registry, options);
  }

  /**
   * Runs fn atomically. The outermost call takes the write lock at once (BEGIN IMMEDIATE)
   * and commits; a nested call is a SAVEPOINT, so its failure rolls back only its own
   * work. Subscribers hear of new events only after the outermost commit.
   */
  transaction<T>(fn: () => T): T {
    if (this.db.inTransaction) {
      const kept = this.appended?.length;
      try {
        return this.runInTransaction(fn) as T;
      } catch (error) {
        // The savepoint's rows are gone: the next append takes their positions.
        if (kept !== undefined) this.appended!.length = kept;
        throw error;
      }
    }
    const participant = this.participant;
    return this.commitOutermost(fn, (work) => (participant ? this.runWith(participant, work) : (this.runInTransaction.immediate(work) as T)));
  }

  /** An outermost transaction on this file alone, whoever participates in the others: a replica applying what it pulled. */
  localTransaction<T>(fn: () => T): T {
    if (this.db.inTransaction) throw new Error('localTransaction cannot be nested');
    return this.commitOutermost(fn, (work) => this.runInTransaction.immediate(work) as T);
  }

  /** From now on every outermost transaction() includes the participant's work. */
  participate(participant: TransactionParticipant): void {
    this.participant = participant;
  }

  private runWith<T>(participant: TransactionParticipant, fn: () => T): T {
    for (let attempt = 1; ; attempt++) {
      try {
        return this.runInTransaction.immediate(() => {
          try {
            participant.begin();
            const result = fn();
            participant.prepareCommit();
            return result;
          } catch (error) {
            participant.abort();
            throw error;
          }
        }) as T;
      } catch (error) {
        if (!participant.retries(error, attempt)) throw error;
      }
    }
  }

  /** Runs fn in an outermost transaction with the writes waiting to ride along, and tells subscribers once it committed. */
  private commitOutermost<T>(fn: () => T, run: (work: () => T) => T): T {
    // Taken now: a rider queued while fn runs is carried by the next transaction instead.
    const riding = [...this.riders];
    const appended: EventRow[] = [];
    let result: T;
    try {
      result = run(() => {
        // Run again from the start when a participant retries: nothing of an earlier attempt stands.
        appended.length = 0;
        this.appended = appended;
        for (const [, write] of riding) write();
        return fn();
      });
    } catch (error) {
      // The riders rolled back with the rest: they stay queued for the next transaction.
      this.appendedSinceCommit = false;
      throw error;
    } finally {
      this.appended = undefined;
    }
    for (const [key, write] of riding) if (this.riders.get(key) === write) this.riders.delete(key);
    this.committed++;
    if (this.appendedSinceCommit) {
      this.appendedSinceCommit = false;
      this.commits.next(this.committedEvents(appended));
    }
    return result;
  }

  /**
   * The rows a commit appended, for subscribers to take without reading them back: only
   * when they are, in order and without a gap, everything up to the log's end now. Rows of a
   * savepoint rolled back outside transaction() (their positions taken again), or another
   * process's commit since, fail that check: subscribers then read the log.
   */
  private committedEvents(rows: EventRow[]): CommittedEvents | undefined {
    for (let i = 1; i < rows.length; i++) if (rows[i]![0] !== rows[i - 1]![0] + 1) return undefined;
    if (rows.length === 0 || rows.at(-1)![0] !== this.lastPosition()) return undefined;
    return new CommittedEvents(rows, (row) => this.toRecorded(row));
  }

  /**
   * Runs write inside the next outermost transaction, whoever opens it (most often a
   * command's), instead of paying a commit (an fsync under synchronous=FULL) of its own; a
   * later write under the same key replaces one still waiting, and inside a transaction it
   * joins that one. A crash loses what still waits: only for writes whose loss costs a redo
   * at most, as a reactor's checkpoint does. flushRiders() commits them when none comes.
   */
  writeWithNextTransaction(key: string, write: () => void): void {
    if (this.db.inTransaction) {
      write();
      return;
    }
    this.riders.set(key, write);
  }

  /** Commits the writes waiting for a transaction in one of their own; nothing when none waits. */
  flushRiders(): void {
    // Local rows only (checkpoints): no other store need take part.
    if (this.riders.size > 0 && !this.db.inTransaction) this.localTransaction(() => undefined);
  }

  /** How many outermost transactions have committed: what group commit saves shows here. */
  committedTransactions(): number {
    return this.committed;
  }

  /** The stream's current version: the number of events in it. */
  streamVersion(stream: string): number {
    return (this.selectStreamVersion.get(stream) as number | undefined) ?? 0;
  }

  lastPosition(): number {
    return (this.selectLastPosition.get() as number | null) ?? 0;
  }

  /**
   * Appends events to one stream atomically, checking the expected version. Data is
   * validated against each type's schema and written at its current schema version.
   */
  append(
    stream: string,
    expected: ExpectedVersion,
    events: readonly EventToAppend[],
    metadata: EventMetadata,
  ): RecordedEvent[] {
    return this.transaction(() => this.appendInTransaction(stream, expected, events, metadata));
  }

  /**
   * append() without a savepoint of its own, for a caller whose transaction (or savepoint)
   * already makes its work all-or-nothing, as the bus's does per command: one savepoint
   * per command, not one more per stream.
   */
  appendInTransaction(
    stream: string,
    expected: ExpectedVersion,
    events: readonly EventToAppend[],
    metadata: EventMetadata,
  ): RecordedEvent[] {
    return this.appendShaped(stream, expected, events, metadata, (definition, data) => definition.schema.parse(data));
  }

  /**
   * appendInTransaction() for the events a decider built with their definitions' create(),
   * to whatever version the stream is at: their schemas' types shaped them, so they are
   * stored as built unless verifyDecided.
   */
  appendDecided(stream: string, events: readonly PendingEvent[], metadata: EventMetadata): RecordedEvent[] {
    return this.appendShaped(stream, 'any', events, metadata, this.verifyDecided ? asItsSchemaStores : (_definition, data) => data);
  }

  /** Appends events whose data `shape` makes what is stored (validated, defaults filled). */
  private appendShaped(
    stream: string,
    expected: ExpectedVersion,
    events: readonly EventToAppend[],
    metadata: EventMetadata,
    shape: (definition: EventDefinition, data: unknown) => unknown,
  ): RecordedEvent[] {
    if (!this.db.inTransaction) throw new Error('appendInTransaction and appendDecided need an open transaction: use append()');
    const actual = this.streamVersion(stream);
    if (!versionMatches(expected, actual)) throw new WrongExpectedVersionError(stream, expected, actual);
    const metadataJson = JSON.stringify(metadata);
    const recorded: RecordedEvent[] = [];
    let version = actual;
    for (let i = 0; i < events.length; i++) {
      const { type, data: raw } = events[i]!;
      const definition = this.registry.get(type);
      const data = shape(definition, raw);
      const eventId = deriveEventId(metadata.commandId, stream, i);
      version += 1;
      const json = JSON.stringify(data);
      let position: number;
      try {
        position = Number(this.insertEvent.run(eventId, stream, version, type, definition.version, json, metadataJson).lastInsertRowid);
      } catch (error) {
        throw translateConstraint(error, { eventId, commandId: metadata.commandId, stream, expected, actual });
      }
      this.appended?.push([position, eventId, stream, version, type, definition.version, json, metadataJson]);
      recorded.push({ position, eventId, stream, streamVersion: version, type, schemaVersion: definition.version, data, metadata });
    }
    if (recorded.length > 0) this.appendedSinceCommit = true;
    return recorded;
  }

  /** The event at a position, if any. */
  readAt(position: number): RecordedEvent | undefined {
    return this.readBatch(position - 1, 1, { until: position })[0];
  }

  /**
   * The last position recorded at or before an ISO-8601 time (0 if none), by binary search
   * over positions: recordedAt grows with position because one writer appends at a time.
   */
  positionAt(time: string): number {
    const target = Date.parse(time);
    let low = 0;
    let high = this.lastPosition();
    while (low < high) {
      const middle = Math.ceil((low + high) / 2);
      const event = this.readAt(middle);
      if (event && Date.parse(event.metadata.recordedAt) <= target) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  readStream(stream: string, options: Omit<ReadOptions, 'stream'> = {}): RecordedEvent[] {
    return [...this.readAll({ ...options, stream })];
  }

  /** Reads the log in position order, lazily, a batch at a time. */
  *readAll(options: ReadOptions = {}): Generator<RecordedEvent> {
    const batchSize = options.batchSize ?? DEFAULT_BATCH;
    let after = options.after ?? 0;
    for (;;) {
      const batch = this.readBatch(after, batchSize, options);
      for (const event of batch) yield event;
      if (batch.length < batchSize) return;
      after = batch[batch.length - 1]!.position;
    }
  }

  /**
   * Committed events after a position: first the ones already in the log (catch-up),
   * then new ones as they commit, in this process or another. Each is delivered exactly
   * once and in order, because every read resumes after the last position delivered.
   * What a commit in this process appended is handed over as it was written, not read
   * back: one read per subscriber per commit was most of what a commit cost after its fsync.
   */
  subscribe(options: SubscribeOptions = {}): Observable<RecordedEvent> {
    const batchSize = options.batchSize ?? DEFAULT_BATCH;
    const pollIntervalMs = options.pollIntervalMs ?? 200;
    const types = options.type === undefined ? undefined : new Set(typeof options.type === 'string' ? [options.type] : options.type);
    return new Observable<RecordedEvent>((subscriber) => {
      let last = options.after ?? 0;
      let draining = false;
      let pending = false;
      /** Delivers what a commit appended, when it holds everything after `last`; false when the log must be read instead. */
      const takeCommitted = (committed: CommittedEvents | undefined): boolean => {
        if (committed === undefined || !committed.follows(last)) return false;
        for (const event of committed.after(last)) {
          if (subscriber.closed) return true;
          if (types && !types.has(event.type)) continue;
          last = event.position;
          subscriber.next(event);
        }
        if (committed.last > last && !subscriber.closed) {
          last = committed.last;
          options.onReadThrough?.(committed.last);
        }
        return true;
      };
      const readLog = () => {
        for (;;) {
          // Taken before the read: everything committed up to it is in what the read sees.
          const end = options.onReadThrough ? this.lastPosition() : 0;
          const batch = this.readBatch(last, batchSize, options.type === undefined ? {} : { type: options.type });
          for (const event of batch) {
            if (subscriber.closed) return;
            last = event.position;
            subscriber.next(event);
          }
          if (batch.length < batchSize) {
            if (end > last && !subscriber.closed) {
              last = end;
              options.onReadThrough?.(end);
            }
            return;
          }
        }
      };
      const drain = (committed?: CommittedEvents) => {
        // An observer that appends while handling an event re-enters here; it is picked
        // up by the loop below instead of reading concurrently.
        // Reading through this connection inside an open transaction would see rows that
        // may yet roll back; the commit notification (or the next poll) comes back here.
        if (draining || this.db.inTransaction) {
          pending = true;
          return;
        }
        draining = true;
        try {
          // Set, not overwritten, by an observer's commit during the hand-over.
          pending = false;
          if (!takeCommitted(committed)) pending = true;
          while (pending && !subscriber.closed) {
            pending = false;
            readLog();
          }
        } catch (error) {
          subscriber.error(error);
        } finally {
          draining = false;
        }
      };
      const wakeups = merge(this.commits, interval(pollIntervalMs).pipe(map(() => undefined))).subscribe(drain);
      drain();
      return () => wakeups.unsubscribe();
    });
  }

  /**
   * Inserts a row of another copy of this log as it is (position included) inside the
   * caller's transaction, and returns it as read; subscribers hear of it after the commit.
   */
  insertStored(row: StoredEvent): RecordedEvent {
    if (!this.db.inTransaction) throw new Error('insertStored needs an open transaction');
    this.readQueries
      .get('INSERT INTO events (position, event_id, stream, stream_version, type, schema_version, data, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(row.position, row.eventId, row.stream, row.streamVersion, row.type, row.schemaVersion, row.data, row.metadata);
    this.appendedSinceCommit = true;
    const stored: EventRow = [row.position, row.eventId, row.stream, row.streamVersion, row.type, row.schemaVersion, row.data, row.metadata];
    this.appended?.push(stored);
    return this.toRecorded(stored);
  }

  /** Up to `limit` rows after a position exactly as stored, for copying the log elsewhere. */
  storedRows(after: number, limit: number): StoredEvent[] {
    const rows = this.readQueries.get(`SELECT ${READ_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`).raw(true).all(after, limit) as EventRow[];
    return rows.map(([position, eventId, stream, streamVersion, type, schemaVersion, data, metadata]) => ({ position, eventId, stream, streamVersion, type, schemaVersion, data, metadata }));
  }

  /** Up to `limit` handled commands after a command id (in id order), for copying them elsewhere with the log. */
  storedCommands(afterCommandId: string, limit: number): StoredCommand[] {
    return this.readQueries
      .get('SELECT command_id AS commandId, type, payload_hash AS payloadHash, outcome, handled_at AS handledAt FROM commands WHERE command_id > ? ORDER BY command_id LIMIT ?')
      .all(afterCommandId, limit) as StoredCommand[];
  }

  close(): void {
    this.commits.complete();
    this.db.close();
  }

  private readBatch(after: number, limit: number, filter: ReadOptions): RecordedEvent[] {
    const conditions = ['position > @after'];
    if (filter.until !== undefined) conditions.push('position <= @until');
    if (filter.stream !== undefined) conditions.push('stream = @stream');
    // One type reads through the (type, position) index. Several would make that index
    // re-sort every match on each batch, so they filter a scan in position order instead.
    if (typeof filter.type === 'string') conditions.push('type = @type');
    else if (filter.type !== undefined) conditions.push('+type IN (SELECT value FROM json_each(@types))');
    const sql = `SELECT ${READ_COLUMNS} FROM events WHERE ${conditions.join(' AND ')} ORDER BY position LIMIT @limit`;
    const rows = this.readQueries.get(sql).raw(true).all({
      after,
      limit,
      ...(filter.until !== undefined && { until: filter.until }),
      ...(filter.stream !== undefined && { stream: filter.stream }),
      ...(typeof filter.type === 'string' && { type: filter.type }),
      ...(typeof filter.type === 'object' && { types: JSON.stringify(filter.type) }),
    }) as EventRow[];
    return rows.map((row) => this.toRecorded(row));
  }

  private toRecorded([position, eventId, stream, streamVersion, type, storedVersion, json, metadata]: EventRow): RecordedEvent {
    const { schemaVersion, data } = this.registry.upcast(type, storedVersion, JSON.parse(json));
    return { position, eventId, stream, streamVersion, type, schemaVersion, data, metadata: JSON.parse(metadata) as EventMetadata };
  }

}

/** The rows one outermost transaction appended, the newest of the log, read back only once someone asks. */
class CommittedEvents {
  private events: RecordedEvent[] | undefined;

  constructor(
    private readonly rows: readonly EventRow[],
    private readonly toRecorded: (row: EventRow) => RecordedEvent,
  ) {}

  get first(): number {
    return this.rows[0]![0];
  }

  get last(): number {
    return this.rows.at(-1)![0];
  }

  /** Whether these are all the log holds after `position`. */
  follows(position: number): boolean {
    return position >= this.first - 1;
  }

  /** The events after `position`, parsed once for every subscriber. */
  after(position: number): readonly RecordedEvent[] {
    this.events ??= this.rows.map(this.toRecorded);
    return position < this.first ? this.events : this.events.slice(position - this.first + 1);
  }
}

/** A decider's event data, checked to be what its schema stores: then appending it unchecked stores the same. */
function asItsSchemaStores(definition: EventDefinition, built: unknown): unknown {
  const data = definition.schema.parse(built);
  const asJson = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;
  if (!isDeepStrictEqual(asJson(data), asJson(built))) {
    throw new Error(`${definition.type} as its decider built it is not what its schema stores (a default left to fill, or a key to strip): built ${JSON.stringify(built)}, stored ${JSON.stringify(data)}`);
  }
  return data;
}

export function versionMatches(expected: ExpectedVersion, actual: number): boolean {
  switch (expected) {
    case 'any':
      return true;
    case 'no-stream':
      return actual === 0;
    case 'exists':
      return actual > 0;
    default:
      return expected === actual;
  }
}

function translateConstraint(
  error: unknown,
  context: { eventId: string; commandId: string; stream: string; expected: ExpectedVersion; actual: number },
): unknown {
  // Not `instanceof Error`: better-sqlite3's SqliteError belongs to the realm that first
  // loaded the addon, which is not ours under jest's per-file contexts.
  const message = String((error as { message?: unknown } | null)?.message ?? '');
  if (message.includes('events.event_id')) return new DuplicateEventError(context.eventId, context.commandId);
  if (message.includes('events.stream')) {
    return new WrongExpectedVersionError(context.stream, context.expected, context.actual);
  }
  return error;
}
