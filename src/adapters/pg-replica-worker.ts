/**
 * The PostgreSQL side of a replica, in a worker thread: the host's main thread calls it
 * through synckit and blocks until it answers, which keeps the bus synchronous. One
 * client, used by one call at a time. Errors come back as values (a code and a
 * constraint survive; an Error's class would not cross the thread).
 */
import { DatabaseError, Pool, type PoolClient } from 'pg';
import { runAsWorker } from 'synckit';
import { migratePostgres } from '../db/pg-migrate';
import type { StoredCommand, StoredEvent } from '../events/log';
import { LEASE_TTL_MS, TAKE_OR_RENEW_LEASES } from './pg-leases';

/** What a replica lacks: events after its head, commands after its checkpoint; `seq` is the last command's. */
export interface Pulled {
  events: StoredEvent[];
  commands: StoredCommand[];
  lastSeq: number;
}

export type ReplicaRequest =
  | { op: 'connect'; url: string }
  /** BEGIN, take the global write lock, and say where PostgreSQL's log ends. */
  | { op: 'begin' }
  | { op: 'pull'; afterPosition: number; afterSeq: number; limit: number }
  /** Writes the rows (positions as given), takes the leases for the holder, notifies, commits; answers the last command seq. */
  | { op: 'commit'; events: readonly StoredEvent[]; commands: readonly StoredCommand[]; leases?: LeasesTaken }
  | { op: 'rollback' }
  | { op: 'head' }
  | { op: 'close' };

/** Leases a commit takes for its host, as the host's own lease tick would (see PostgresLeases). */
export interface LeasesTaken {
  names: readonly string[];
  holder: string;
}

export type ReplicaResponse =
  | { ok: true; value: unknown }
  | { ok: false; message: string; code?: string; constraint?: string };

/** Any constant: every host's writes take this one transaction-scoped advisory lock. */
export const GLOBAL_WRITE_LOCK = 0x5377_7772;
/** The channel PostgresEventStore notifies too: a hint to read now. */
const CHANNEL = 'switchyard_events';

let pool: Pool | undefined;
let client: PoolClient | undefined;

function connected(): PoolClient {
  if (!client) throw new Error('the replica worker is not connected');
  return client;
}

async function pull(afterPosition: number, afterSeq: number, limit: number): Promise<Pulled> {
  const db = connected();
  const events = await db.query<[string, string, string, number, string, number, string, string]>({
    text: 'SELECT position, event_id, stream, stream_version, type, schema_version, data, metadata FROM events WHERE position > $1 ORDER BY position LIMIT $2',
    values: [afterPosition, limit],
    rowMode: 'array',
  });
  const commands = await db.query<[string, string, string, string, string, string]>({
    text: 'SELECT seq, command_id, type, payload_hash, outcome, handled_at FROM commands WHERE seq > $1 ORDER BY seq LIMIT $2',
    values: [afterSeq, limit],
    rowMode: 'array',
  });
  return {
    events: events.rows.map(([position, eventId, stream, streamVersion, type, schemaVersion, data, metadata]) => ({ position: Number(position), eventId, stream, streamVersion, type, schemaVersion, data, metadata })),
    commands: commands.rows.map(([, commandId, type, payloadHash, outcome, handledAt]) => ({ commandId, type, payloadHash, outcome, handledAt })),
    lastSeq: Number(commands.rows.at(-1)?.[0] ?? afterSeq),
  };
}

async function head(): Promise<{ position: number; seq: number }> {
  const result = await connected().query<[string, string]>({
    text: 'SELECT (SELECT coalesce(max(position), 0) FROM events), (SELECT coalesce(max(seq), 0) FROM commands)',
    rowMode: 'array',
  });
  const [position, seq] = result.rows[0]!;
  return { position: Number(position), seq: Number(seq) };
}

async function commit(events: readonly StoredEvent[], commands: readonly StoredCommand[], leases: LeasesTaken | undefined): Promise<number | null> {
  const db = connected();
  if (leases && leases.names.length > 0) await db.query(TAKE_OR_RENEW_LEASES, [leases.names, leases.holder, LEASE_TTL_MS]);
  const column = <T, K extends keyof T>(rows: readonly T[], key: K) => rows.map((row) => row[key]);
  if (events.length > 0) {
    await db.query(
      `INSERT INTO events (position, event_id, stream, stream_version, type, schema_version, data, metadata)
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[], $6::int[], $7::text[], $8::text[])`,
      [column(events, 'position'), column(events, 'eventId'), column(events, 'stream'), column(events, 'streamVersion'), column(events, 'type'), column(events, 'schemaVersion'), column(events, 'data'), column(events, 'metadata')],
    );
    // PostgresEventStore's own appends (a copied log read elsewhere) continue after these positions.
    await db.query("SELECT setval('events_position', $1), pg_notify($2, '')", [events.at(-1)!.position, CHANNEL]);
  }
  let lastSeq: number | null = null;
  if (commands.length > 0) {
    const inserted = await db.query<[string]>({
      // Under the global lock and after catching up, a conflict cannot happen; if it did, the first outcome stands.
      text: `INSERT INTO commands (command_id, type, payload_hash, outcome, handled_at)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
             ON CONFLICT (command_id) DO NOTHING RETURNING seq`,
      values: [column(commands, 'commandId'), column(commands, 'type'), column(commands, 'payloadHash'), column(commands, 'outcome'), column(commands, 'handledAt')],
      rowMode: 'array',
    });
    lastSeq = inserted.rows.reduce<number | null>((max, [seq]) => Math.max(max ?? 0, Number(seq)), null);
  }
  await db.query('COMMIT');
  return lastSeq;
}

async function handle(request: ReplicaRequest): Promise<unknown> {
  switch (request.op) {
    case 'connect': {
      pool = new Pool({ connectionString: request.url, max: 1 });
      // An idle client whose server went away emits here; the next query reports it to its caller.
      pool.on('error', () => undefined);
      await migratePostgres(pool);
      client = await pool.connect();
      client.on('error', () => undefined);
      return null;
    }
    case 'begin':
      await connected().query('BEGIN');
      await connected().query('SELECT pg_advisory_xact_lock($1)', [GLOBAL_WRITE_LOCK]);
      return head();
    case 'pull':
      return pull(request.afterPosition, request.afterSeq, request.limit);
    case 'commit':
      return commit(request.events, request.commands, request.leases);
    case 'rollback':
      // On a broken connection the rollback fails too, and the transaction went with it.
      await connected().query('ROLLBACK').catch(() => undefined);
      return null;
    case 'head':
      return head();
    case 'close':
      client?.release();
      await pool?.end();
      client = undefined;
      pool = undefined;
      return null;
  }
}

runAsWorker(async (request: ReplicaRequest): Promise<ReplicaResponse> => {
  try {
    return { ok: true, value: await handle(request) };
  } catch (error) {
    if (error instanceof DatabaseError) return { ok: false, message: error.message, ...(error.code && { code: error.code }), ...(error.constraint && { constraint: error.constraint }) };
    return { ok: false, message: error instanceof Error ? error.message : String(error), ...(typeof (error as { code?: unknown }).code === 'string' && { code: (error as { code: string }).code }) };
  }
});
