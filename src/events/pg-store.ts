import { Client, DatabaseError, Pool, type PoolClient } from 'pg';
import { interval, merge, Observable, Subject } from 'rxjs';
import { migratePostgres } from '../db/pg-migrate';
import type { EventMetadata, EventRegistry, RecordedEvent } from './define';
import { LOG_START, type EventLog, type LogCheckpoint, type LoggedEvent, type LogSubscribeOptions, type StoredCommand, type StoredEvent } from './log';
import { deriveEventId, DuplicateEventError, versionMatches, WrongExpectedVersionError, type EventToAppend, type ExpectedVersion } from './store';

/** The channel appends NOTIFY on commit: a hint to read now, never the only way readers learn of events. */
const CHANNEL = 'switchyard_events';
const DEFAULT_BATCH = 1000;

const COLUMNS = 'position, event_id, stream, stream_version, type, schema_version, data, metadata';
/** A row in COLUMNS order (bigint arrives as text), then the transaction id where a reader asks for it. */
type Row = [position: string, eventId: string, stream: string, streamVersion: number, type: string, schemaVersion: number, data: string, metadata: string, transactionId?: string];

/**
 * The committed events after a checkpoint, in (transaction, position) order. Only
 * transactions below the snapshot's xmin are read: every one of those has ended, so no
 * row of theirs can still appear, whereas a position alone can be overtaken (a writer
 * holding position N commits after the one holding N + 1). A rolled-back transaction
 * simply has no rows: its positions are gaps that nobody waits for. The order is the
 * xid8 column's (qualified, and the text copy named apart: ORDER BY an output column
 * named transaction_id would sort '999' after '1000' and skip events).
 */
const READ_COMMITTED = `SELECT ${COLUMNS}, transaction_id::text AS transaction_text FROM events
  WHERE (transaction_id, position) > ($1::xid8, $2::bigint)
    AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  ORDER BY events.transaction_id, events.position LIMIT $3`;

export interface PostgresEventStoreOptions {
  /** Connections in the pool (default 10). */
  poolSize?: number;
}

/**
 * The event log on PostgreSQL: the same rows, appends and errors as the SQLite EventStore,
 * asynchronously, for several processes (and machines) sharing one database.
 */
export class PostgresEventStore implements EventLog {
  private readonly commits = new Subject<void>();

  private constructor(
    private readonly pool: Pool,
    private readonly listener: Client,
    readonly registry: EventRegistry,
  ) {}

  /** Connects, migrates the database (migrations/postgres) and listens for commit hints. */
  static async open(connectionString: string, registry: EventRegistry, options: PostgresEventStoreOptions = {}): Promise<PostgresEventStore> {
    const pool = new Pool({ connectionString, max: options.poolSize ?? 10 });
    // An idle client whose server went away emits here; the next query reports it to its caller.
    pool.on('error', () => undefined);
    const listener = new Client({ connectionString });
    try {
      await migratePostgres(pool);
      await listener.connect();
      await listener.query(`LISTEN ${CHANNEL}`);
    } catch (error) {
      await Promise.allSettled([pool.end(), listener.end()]);
      throw error;
    }
    const store = new PostgresEventStore(pool, listener, registry);
    listener.on('notification', () => store.commits.next());
    // Losing the hint connection loses no event: subscribers keep polling.
    listener.on('error', () => undefined);
    return store;
  }

  async append(stream: string, expected: ExpectedVersion, events: readonly EventToAppend[], metadata: EventMetadata): Promise<RecordedEvent[]> {
    return this.inTransaction(async (client) => {
      // Appends to one stream take turns, so `any` never fails on a race and a conflict
      // reports the version that won; the unique (stream, stream_version) stays the backstop.
      // The NOTIFY is queued now and sent only if this transaction commits.
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0)), pg_notify($2, $3)', [stream, CHANNEL, '']);
      const actual = await this.streamVersionWith(client, stream);
      if (!versionMatches(expected, actual)) throw new WrongExpectedVersionError(stream, expected, actual);
      if (events.length === 0) return [];
      const metadataJson = JSON.stringify(metadata);
      const pending = events.map(({ type, data: raw }, i) => {
        const definition = this.registry.get(type);
        const data = definition.schema.parse(raw);
        return { eventId: deriveEventId(metadata.commandId, stream, i), streamVersion: actual + i + 1, type, schemaVersion: definition.version, data };
      });
      let positions: string[];
      try {
        const result = await client.query<[string]>({
          text: `INSERT INTO events (event_id, stream, stream_version, type, schema_version, data, metadata)
                 SELECT event_id, $2, stream_version, type, schema_version, data, $3
                 FROM unnest($1::text[], $4::int[], $5::text[], $6::int[], $7::text[]) AS e(event_id, stream_version, type, schema_version, data)
                 ORDER BY stream_version
                 RETURNING position`,
          values: [
            pending.map((e) => e.eventId),
            stream,
            metadataJson,
            pending.map((e) => e.streamVersion),
            pending.map((e) => e.type),
            pending.map((e) => e.schemaVersion),
            pending.map((e) => JSON.stringify(e.data)),
          ],
          rowMode: 'array',
        });
        positions = result.rows.map(([position]) => position).sort((a, b) => Number(a) - Number(b));
      } catch (error) {
        throw translateConstraint(error, { commandId: metadata.commandId, stream, expected, actual, eventIds: pending.map((e) => e.eventId) });
      }
      return pending.map((e, i) => ({ position: Number(positions[i]), eventId: e.eventId, stream, streamVersion: e.streamVersion, type: e.type, schemaVersion: e.schemaVersion, data: e.data, metadata }));
    });
  }

  async streamVersion(stream: string): Promise<number> {
    return this.streamVersionWith(this.pool, stream);
  }

  /** The highest position handed out to a committed event (0 when none). */
  async lastPosition(): Promise<number> {
    return Number((await this.pool.query<[string]>({ text: 'SELECT coalesce(max(position), 0) FROM events', rowMode: 'array' })).rows[0]![0]);
  }

  async readStream(stream: string): Promise<RecordedEvent[]> {
    const result = await this.pool.query<Row>({ text: `SELECT ${COLUMNS} FROM events WHERE stream = $1 ORDER BY stream_version`, values: [stream], rowMode: 'array' });
    return result.rows.map((row) => this.toRecorded(row));
  }

  async readCommitted(after: LogCheckpoint, limit: number): Promise<LoggedEvent[]> {
    const result = await this.pool.query<Row>({ text: READ_COMMITTED, values: [after.transactionId, after.position, limit], rowMode: 'array' });
    return result.rows.map((row) => ({ ...this.toRecorded(row), checkpoint: { transactionId: row[8]!, position: Number(row[0]) } }));
  }

  /**
   * Catch-up, then live: each read resumes after the last checkpoint delivered, so every
   * event arrives once and in log order. NOTIFY wakes the reader early; the poll finds
   * what no notification announces (events that became readable because some other,
   * older transaction ended — even one that appended nothing).
   */
  subscribe(options: LogSubscribeOptions = {}): Observable<LoggedEvent> {
    const batchSize = options.batchSize ?? DEFAULT_BATCH;
    const pollIntervalMs = options.pollIntervalMs ?? 200;
    return new Observable<LoggedEvent>((subscriber) => {
      let last = options.after ?? LOG_START;
      let draining = false;
      let pending = false;
      const drain = async () => {
        // A wake-up during a read is remembered and served by the loop, never read concurrently.
        if (draining) {
          pending = true;
          return;
        }
        draining = true;
        try {
          do {
            pending = false;
            for (;;) {
              const batch = await this.readCommitted(last, batchSize);
              for (const event of batch) {
                if (subscriber.closed) return;
                last = event.checkpoint;
                subscriber.next(event);
              }
              if (batch.length < batchSize) break;
            }
          } while (pending && !subscriber.closed);
        } catch (error) {
          subscriber.error(error);
        } finally {
          draining = false;
        }
      };
      const wakeups = merge(this.commits, interval(pollIntervalMs)).subscribe(() => void drain());
      void drain();
      return () => wakeups.unsubscribe();
    });
  }

  /** Up to `limit` rows after a position exactly as stored, for comparing a copied log with its source. */
  async storedRows(after: number, limit: number): Promise<StoredEvent[]> {
    const result = await this.pool.query<Row>({ text: `SELECT ${COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2`, values: [after, limit], rowMode: 'array' });
    return result.rows.map(([position, eventId, stream, streamVersion, type, schemaVersion, data, metadata]) => ({ position: Number(position), eventId, stream, streamVersion, type, schemaVersion, data, metadata }));
  }

  /**
   * Writes rows of another log as they are (positions, ids, versions, data and metadata
   * unchanged), in one transaction, and moves the position sequence past them so appends
   * continue after the copied log. Rows must come in position order.
   */
  async importRows(rows: readonly StoredEvent[]): Promise<void> {
    if (rows.length === 0) return;
    const column = <K extends keyof StoredEvent>(key: K) => rows.map((row) => row[key]);
    await this.inTransaction(async (client) => {
      await client.query(
        `INSERT INTO events (${COLUMNS})
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[], $6::int[], $7::text[], $8::text[])`,
        [column('position'), column('eventId'), column('stream'), column('streamVersion'), column('type'), column('schemaVersion'), column('data'), column('metadata')],
      );
      await client.query("SELECT setval('events_position', $1)", [rows[rows.length - 1]!.position]);
    });
  }

  /**
   * Writes handled commands of another store (migrations/postgres/0002's table, which hosts
   * replicating this database share), so a command repeated on any host stays a duplicate.
   */
  async importCommands(rows: readonly StoredCommand[]): Promise<void> {
    if (rows.length === 0) return;
    const column = <K extends keyof StoredCommand>(key: K) => rows.map((row) => row[key]);
    await this.pool.query(
      `INSERT INTO commands (command_id, type, payload_hash, outcome, handled_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])`,
      [column('commandId'), column('type'), column('payloadHash'), column('outcome'), column('handledAt')],
    );
  }

  async close(): Promise<void> {
    this.commits.complete();
    await Promise.allSettled([this.listener.end(), this.pool.end()]);
  }

  private async streamVersionWith(client: Pool | PoolClient, stream: string): Promise<number> {
    const result = await client.query<[number | null]>({ text: 'SELECT max(stream_version) FROM events WHERE stream = $1', values: [stream], rowMode: 'array' });
    return result.rows[0]![0] ?? 0;
  }

  private async inTransaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      // A rollback on a broken connection fails too; the caller needs the first error.
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  private toRecorded([position, eventId, stream, streamVersion, type, storedVersion, json, metadata]: Row): RecordedEvent {
    const { schemaVersion, data } = this.registry.upcast(type, storedVersion, JSON.parse(json));
    return { position: Number(position), eventId, stream, streamVersion, type, schemaVersion, data, metadata: JSON.parse(metadata) as EventMetadata };
  }
}

function translateConstraint(
  error: unknown,
  context: { commandId: string; stream: string; expected: ExpectedVersion; actual: number; eventIds: readonly string[] },
): unknown {
  if (!(error instanceof DatabaseError) || error.code !== '23505') return error;
  if (error.constraint === 'events_event_id_unique') {
    // "Key (event_id)=(evt-…) already exists.": name the id that collided.
    const eventId = context.eventIds.find((id) => error.detail?.includes(id)) ?? context.eventIds[0]!;
    return new DuplicateEventError(eventId, context.commandId);
  }
  if (error.constraint === 'events_stream_version_unique') return new WrongExpectedVersionError(context.stream, context.expected, context.actual);
  return error;
}
