import { createHash } from 'node:crypto';
import { Client } from 'pg';
import type { StoredEvent } from './log';
import type { PostgresEventStore } from './pg-store';
import type { EventStore } from './store';

/** What is compared between a log and its copy. */
export interface LogSummary {
  events: number;
  /** 0 when the log is empty. */
  firstPosition: number;
  lastPosition: number;
  /** sha256 over every row's columns, in position order. */
  checksum: string;
}

/** Sums up rows given in position order, batch by batch, so a log of any size stays out of memory. */
export class LogSummer {
  private readonly hash = createHash('sha256');
  private readonly summary = { events: 0, firstPosition: 0, lastPosition: 0 };

  add(rows: readonly StoredEvent[]): void {
    for (const row of rows) {
      // NUL cannot occur in the text columns (JSON escapes it), so it separates them unambiguously.
      this.hash.update(`${row.position}\0${row.eventId}\0${row.stream}\0${row.streamVersion}\0${row.type}\0${row.schemaVersion}\0${row.data}\0${row.metadata}\n`);
      if (this.summary.events === 0) this.summary.firstPosition = row.position;
      this.summary.lastPosition = row.position;
      this.summary.events++;
    }
  }

  result(): LogSummary {
    return { ...this.summary, checksum: this.hash.digest('hex') };
  }
}

export class TargetNotEmptyError extends Error {
  constructor(readonly contents: string) {
    super(`the target database is not empty: ${contents}. store copy writes only into an empty database`);
    this.name = 'TargetNotEmptyError';
  }
}

/**
 * Refuses a target that holds anything but an empty Switchyard log (a database that
 * another copy already migrated and left empty is fine): copying would mix two histories.
 */
export async function assertEmptyTarget(connectionString: string): Promise<void> {
  const client = new Client({ connectionString });
  await client.connect();
  try {
    const tables = (
      await client.query<{ name: string }>(
        `SELECT table_name AS name FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_name NOT IN ('events', 'schema_migrations', 'commands', 'leases') ORDER BY table_name`,
      )
    ).rows.map((row) => row.name);
    if (tables.length > 0) throw new TargetNotEmptyError(`it has the table${tables.length > 1 ? 's' : ''} ${tables.join(', ')}`);
    const hasEvents = (await client.query("SELECT to_regclass('events') IS NOT NULL AS present")).rows[0].present as boolean;
    if (!hasEvents) return;
    const { count, first, last } = (await client.query<{ count: string; first: string; last: string }>('SELECT count(*) AS count, min(position) AS first, max(position) AS last FROM events')).rows[0]!;
    if (Number(count) > 0) throw new TargetNotEmptyError(`its events table holds ${count} events (positions ${first}–${last})`);
    // Hosts on this database (migrations/postgres/0002) record their commands beside the log.
    const hasCommands = (await client.query("SELECT to_regclass('commands') IS NOT NULL AS present")).rows[0].present as boolean;
    const commands = hasCommands ? Number((await client.query<{ count: string }>('SELECT count(*) AS count FROM commands')).rows[0]!.count) : 0;
    if (commands > 0) throw new TargetNotEmptyError(`its commands table holds ${commands} commands of hosts that used it`);
  } finally {
    await client.end();
  }
}

export interface CopyProgress {
  copied: number;
  total: number;
}

/**
 * Copies every row of the SQLite log into the PostgreSQL one, in batches of one
 * transaction each, and returns the source's summary as read. Stop the host first: rows
 * appended during the copy may or may not be in it.
 */
export async function copyLog(source: EventStore, target: PostgresEventStore, options: { batchSize: number; onProgress?: (progress: CopyProgress) => void }): Promise<LogSummary> {
  const total = source.db.prepare('SELECT count(*) FROM events').pluck().get() as number;
  const summer = new LogSummer();
  let after = 0;
  let copied = 0;
  for (;;) {
    const rows = source.storedRows(after, options.batchSize);
    if (rows.length === 0) break;
    await target.importRows(rows);
    summer.add(rows);
    copied += rows.length;
    after = rows[rows.length - 1]!.position;
    options.onProgress?.({ copied, total });
  }
  return summer.result();
}

/**
 * Copies the handled command ids after the log, in batches: hosts on the PostgreSQL log
 * answer a command handled before the move as a duplicate, as this data directory did.
 * Returns how many were copied.
 */
export async function copyCommands(source: EventStore, target: PostgresEventStore, batchSize: number): Promise<number> {
  let after = '';
  let copied = 0;
  for (;;) {
    const rows = source.storedCommands(after, batchSize);
    if (rows.length === 0) return copied;
    await target.importCommands(rows);
    copied += rows.length;
    after = rows[rows.length - 1]!.commandId;
  }
}

/** Reads the copied log back, batch by batch, and sums it up the same way. */
export function summarizePostgres(target: PostgresEventStore, batchSize: number): Promise<LogSummary> {
  return summarize((after) => target.storedRows(after, batchSize));
}

/** Sums up a SQLite log (a replica of a PostgreSQL one) the same way. */
export function summarizeSqlite(source: EventStore, batchSize: number): Promise<LogSummary> {
  return summarize((after) => source.storedRows(after, batchSize));
}

async function summarize(rowsAfter: (position: number) => StoredEvent[] | Promise<StoredEvent[]>): Promise<LogSummary> {
  const summer = new LogSummer();
  let after = 0;
  for (;;) {
    const rows = await rowsAfter(after);
    if (rows.length === 0) return summer.result();
    summer.add(rows);
    after = rows[rows.length - 1]!.position;
  }
}
