import { join } from 'node:path';
import { Client } from 'pg';
import { firstValueFrom, take, toArray } from 'rxjs';
import { RegisterMessagingGroup } from '../src/commands/messaging-groups';
import { openCore, type Core } from '../src/core';
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

/** Commands/s through the host's CommandBus (decide, append, project, record the command id). */
interface BusFigures {
  /** One command per dispatch (one transaction each). */
  single: number;
  /** dispatchBatch of BATCH commands (one transaction each batch). */
  batched: number;
}

export type PostgresBench =
  | { skipped: string }
  | { singles: number; batchedEvents: number; batch: number; sqlite: EngineFigures; postgres: EngineFigures; busSingles: number; busBatched: number; bus: { sqlite: BusFigures; replica: BusFigures } };

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

/** The same commands on a SQLite core, or on one whose file replicates PostgreSQL (each transaction a PostgreSQL one under the global lock). */
async function measureBus(core: Core, singles: number, batched: number): Promise<BusFigures> {
  const register = (id: string) => RegisterMessagingGroup.envelope(`bench-${id}`, { messagingGroupId: `mg-${id}`, channelType: 'webhook', platformId: id });
  const single = await timed(() => {
    for (let i = 0; i < singles; i++) core.bus.dispatch(register(`s${i}`));
  });
  const batch = await timed(() => {
    for (let i = 0; i < batched / BATCH; i++) core.bus.dispatchBatch(Array.from({ length: BATCH }, (_, j) => register(`b${i}-${j}`)));
  });
  return { single: singles / single.seconds, batched: batched / batch.seconds };
}

/** A new database on the run's server, for the replicated bus (the event-log figures' test events are not the host's). */
async function createDatabase(connectionString: string, name: string): Promise<void> {
  const admin = new Client({ connectionString });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
}

async function measureBusBoth(dir: string, serverUrl: (database: string) => string, connectionString: string, singles: number, batched: number): Promise<{ sqlite: BusFigures; replica: BusFigures }> {
  const sqliteCore = openCore(join(dir, 'postgres-bench-bus-sqlite.db'));
  let sqlite: BusFigures;
  try {
    sqlite = await measureBus(sqliteCore, singles, batched);
  } finally {
    sqliteCore.close();
  }
  await createDatabase(connectionString, 'bus_bench');
  const replicaCore = openCore(join(dir, 'postgres-bench-bus-replica.db'), { store: serverUrl('bus_bench') });
  try {
    return { sqlite, replica: await measureBus(replicaCore, singles, batched) };
  } finally {
    replicaCore.close();
  }
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
    let postgres: EngineFigures;
    try {
      postgres = await measure(postgresLog, singles, batchedEvents);
    } finally {
      await postgresLog.close();
    }
    const busSingles = quick ? 300 : 1_000;
    const busBatched = quick ? 3_000 : 20_000;
    const bus = await measureBusBoth(dir, server.databaseUrl, server.connectionString, busSingles, busBatched);
    return { singles, batchedEvents, batch: BATCH, sqlite, postgres, busSingles, busBatched, bus };
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
  console.log('Host CommandBus: SQLite alone vs a replica of PostgreSQL (--store: each transaction also a PostgreSQL one under the global write lock)');
  const busRows: [string, keyof BusFigures][] = [
    [`bus commands, 1 per transaction (${count(bench.busSingles)})`, 'single'],
    [`bus commands, ${bench.batch} per dispatchBatch (${count(bench.busBatched)})`, 'batched'],
  ];
  for (const [label, key] of busRows) {
    console.log(`  ${label.padEnd(46)} SQLite ${count(bench.bus.sqlite[key], 9)}/s   replicated ${count(bench.bus.replica[key], 9)}/s   replicated/SQLite ${ratio(bench.bus.replica[key] / bench.bus.sqlite[key])}`);
  }
}
