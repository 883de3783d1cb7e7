import { join } from 'node:path';
import { firstValueFrom, take, toArray } from 'rxjs';
import { LOG_START, SqliteEventLog, type EventLog } from '../src/events/log';
import { PostgresEventStore } from '../src/events/pg-store';
import { EventStore } from '../src/events/store';
import { postgresUnavailable, startPostgres } from '../test/fixtures/postgres-server';
import { testEvents, testMetadata, testRegistry } from '../test/fixtures/test-events';
import { count, ratio, timed } from './measure';

interface EngineFigures {
  /** Appends/s, one event per transaction. */
  single: number;
  /** Events/s appended 100 per transaction. */
  batched: number;
  /** Events/s a new subscriber receives catching up on the whole log. */
  catchUp: number;
}

export type PostgresBench = { skipped: string } | { singles: number; batchedEvents: number; batch: number; sqlite: EngineFigures; postgres: EngineFigures };

const BATCH = 100;

/** The same appends and the same catch-up through the shared EventLog port, on either engine. */
async function measure(log: EventLog, singles: number, batchedEvents: number): Promise<EngineFigures> {
  const single = await timed(async () => {
    for (let i = 0; i < singles; i++) await log.append(`single-${i % 100}`, 'any', testEvents(`s${i}`, 1), testMetadata(`s${i}`));
  });
  const batched = await timed(async () => {
    for (let i = 0; i < batchedEvents / BATCH; i++) await log.append(`batch-${i % 100}`, 'any', testEvents(`b${i}`, BATCH), testMetadata(`b${i}`));
  });
  const total = singles + batchedEvents;
  const catchUp = await timed(() => firstValueFrom(log.subscribe({ after: LOG_START }).pipe(take(total), toArray())));
  return { single: singles / single.seconds, batched: batchedEvents / batched.seconds, catchUp: total / catchUp.seconds };
}

/**
 * SQLite (WAL, synchronous=FULL) and PostgreSQL (fsync and synchronous_commit on, a
 * server of the run's own on a unix socket) side by side, in one run on one disk.
 */
export async function runPostgresBench(dir: string, quick: boolean): Promise<PostgresBench> {
  const unavailable = postgresUnavailable();
  if (unavailable !== undefined) return { skipped: unavailable };
  const singles = quick ? 1_000 : 2_000;
  const batchedEvents = quick ? 20_000 : 100_000;
  const sqliteLog = new SqliteEventLog(EventStore.open(join(dir, 'postgres-bench-sqlite.db'), testRegistry, { synchronous: 'FULL' }));
  let sqlite: EngineFigures;
  try {
    sqlite = await measure(sqliteLog, singles, batchedEvents);
  } finally {
    await sqliteLog.close();
  }
  const server = startPostgres({ durable: true });
  try {
    const postgresLog = await PostgresEventStore.open(server.connectionString, testRegistry);
    try {
      return { singles, batchedEvents, batch: BATCH, sqlite, postgres: await measure(postgresLog, singles, batchedEvents) };
    } finally {
      await postgresLog.close();
    }
  } finally {
    server.stop();
  }
}

export function printPostgresBench(bench: PostgresBench): void {
  console.log('\nEvent log engines: SQLite (WAL, synchronous=FULL) vs PostgreSQL 15 (fsync on, unix socket), through the EventLog port');
  if ('skipped' in bench) {
    console.log(`  SKIPPED: ${bench.skipped}`);
    return;
  }
  const rows: [string, keyof EngineFigures][] = [
    [`append, 1 event per transaction (${count(bench.singles)})`, 'single'],
    [`append, ${bench.batch} per transaction (${count(bench.batchedEvents)} events)`, 'batched'],
    [`subscribe catch-up (${count(bench.singles + bench.batchedEvents)} events)`, 'catchUp'],
  ];
  for (const [label, key] of rows) {
    console.log(`  ${label.padEnd(46)} SQLite ${count(bench.sqlite[key], 9)}/s   PostgreSQL ${count(bench.postgres[key], 9)}/s   PostgreSQL/SQLite ${ratio(bench.postgres[key] / bench.sqlite[key])}`);
  }
}
