import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { Client } from 'pg';
import { createSyncFn } from 'synckit';
import { Checkpoints } from '../events/checkpoints';
import type { EventStore, TransactionParticipant } from '../events/store';
import type { Logger } from '../logger';
import type { ProjectionRunner } from '../projections/runner';
import type { StoredCommand, StoredEvent } from '../events/log';
import { SessionOpened } from '../events/inbound';
import { sessionLease } from './pg-leases';
import type { LeasesTaken, Pulled, ReplicaRequest, ReplicaResponse } from './pg-replica-worker';

const WORKER_PATH = join(__dirname, 'pg-replica-worker.js');
/** Rows pulled per round trip: a host joining a long log catches up in bounded memory. */
const PULL_BATCH = 1000;
/** Attempts of a transaction whose rows PostgreSQL refused as already there (a replica that was behind). */
const MAX_ATTEMPTS = 3;
/** How long the host waits for one call (the global lock included) before it fails the transaction. */
const CALL_TIMEOUT_MS = 60_000;
/** The replica's place in PostgreSQL's commands table, kept beside the adapters' checkpoints. */
const COMMANDS_CHECKPOINT = 'replica:commands';
const CHANNEL = 'switchyard_events';
/** Tests only: the process kills itself after PostgreSQL committed an event of this type, before the local commit. */
const KILL_AFTER_PG_COMMIT = 'SWITCHYARD_TEST_KILL_AFTER_PG_COMMIT';

/** A connection string as it may be shown: without its password. */
export function redactUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@?]*):[^@/?]*@/, '$1:***@');
}

export class PostgresError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly constraint: string | undefined,
  ) {
    super(message);
    this.name = 'PostgresError';
  }
}

/** PostgreSQL refused a row the replica wrote as one it already has: the decision is made again after catching up. */
export class ReplicaConflictError extends PostgresError {
  constructor(message: string, constraint: string | undefined) {
    super(`PostgreSQL already has a row this host wrote (${constraint ?? 'unique'}): ${message}`, '23505', constraint);
    this.name = 'ReplicaConflictError';
  }
}

/** The local file has events PostgreSQL lacks: it is not a replica of this database. */
export class ReplicaAheadError extends Error {
  constructor(
    readonly localPosition: number,
    readonly postgresPosition: number,
  ) {
    super(
      `this data directory's log reaches position ${localPosition} but the PostgreSQL log only ${postgresPosition}: ` +
        'it is not a replica of that database (copy the log there first with `switchyard store copy`, or use an empty data directory)',
    );
    this.name = 'ReplicaAheadError';
  }
}

export interface PostgresReplicaOptions {
  logger?: Logger;
}

/**
 * The host's switchyard.db as a replica of the log on PostgreSQL, which is the truth.
 * Every outermost transaction of the store takes part (TransactionParticipant): it begins
 * a PostgreSQL transaction holding the global write lock, pulls and applies what other
 * hosts committed, lets the work decide on caught-up views, sends the rows the work wrote
 * and commits PostgreSQL before SQLite. A PostgreSQL failure rolls the local work back;
 * a crash between the two commits loses nothing, the next pull brings the rows back.
 * Between writes, follow() pulls other hosts' commits without the lock.
 */
export class PostgresReplica implements TransactionParticipant {
  private readonly checkpoints: Checkpoints;
  private readonly insertCommand: Database.Statement;
  private readonly capturedCommands: Database.Statement;
  private readonly clearCaptured: Database.Statement;
  /** Where the local log ended when the work began: what it appends comes after. */
  private headBefore = 0;
  private readonly killAfterCommitOf = process.env[KILL_AFTER_PG_COMMIT];
  /** The host whose commits lease the sessions they open (see leaseOpenedSessions); none for the CLI. */
  private sessionHolder: string | undefined;

  private constructor(
    private readonly store: EventStore,
    private readonly projections: ProjectionRunner,
    private readonly call: (request: ReplicaRequest) => ReplicaResponse,
    readonly url: string,
    private readonly logger: Logger | undefined,
  ) {
    const db = store.db;
    this.checkpoints = new Checkpoints(db);
    this.insertCommand = db.prepare('INSERT OR IGNORE INTO commands (command_id, type, payload_hash, outcome, handled_at) VALUES (?, ?, ?, ?, ?)');
    // The bus records its commands itself; a trigger of this connection's own collects them for PostgreSQL.
    db.exec(`CREATE TEMP TABLE IF NOT EXISTS replica_commands (command_id TEXT, type TEXT, payload_hash TEXT, outcome TEXT, handled_at TEXT);
      CREATE TEMP TRIGGER IF NOT EXISTS replica_capture_command AFTER INSERT ON main.commands BEGIN
        INSERT INTO replica_commands VALUES (NEW.command_id, NEW.type, NEW.payload_hash, NEW.outcome, NEW.handled_at);
      END;`);
    this.capturedCommands = db.prepare('SELECT command_id AS commandId, type, payload_hash AS payloadHash, outcome, handled_at AS handledAt FROM temp.replica_commands');
    this.clearCaptured = db.prepare('DELETE FROM temp.replica_commands');
  }

  /** Connects (migrating PostgreSQL), catches the local file up, and joins the store's transactions. */
  static open(store: EventStore, projections: ProjectionRunner, url: string, options: PostgresReplicaOptions = {}): PostgresReplica {
    const call = createSyncFn<(request: ReplicaRequest) => Promise<ReplicaResponse>>(WORKER_PATH, { timeout: CALL_TIMEOUT_MS });
    const replica = new PostgresReplica(store, projections, call, url, options.logger);
    replica.request({ op: 'connect', url });
    const { position } = replica.request({ op: 'head' }) as { position: number };
    if (store.lastPosition() > position) throw new ReplicaAheadError(store.lastPosition(), position);
    replica.catchUp();
    store.participate(replica);
    return replica;
  }

  begin(): void {
    const head = this.request({ op: 'begin' }) as { position: number };
    const local = this.store.lastPosition();
    if (local > head.position) throw new ReplicaAheadError(local, head.position);
    this.applyPulled();
    this.clearCaptured.run();
    this.headBefore = this.store.lastPosition();
  }

  /**
   * From now on a commit that opens a session also takes its lease for `holder`, in the same
   * PostgreSQL transaction: no other host's lease tick can come between the session's
   * opening and its opener's claim (under load the opener's own tick, after the commit,
   * lost that race now and then, and the session ran wherever another tick came first).
   */
  leaseOpenedSessions(holder: string): void {
    this.sessionHolder = holder;
  }

  prepareCommit(): void {
    const events = this.store.storedRows(this.headBefore, Number.MAX_SAFE_INTEGER);
    const commands = this.capturedCommands.all() as StoredCommand[];
    this.clearCaptured.run();
    const lastSeq = this.request({ op: 'commit', events, commands, ...(this.sessionHolder !== undefined && { leases: this.openedSessionLeases(events, this.sessionHolder) }) }) as number | null;
    if (lastSeq !== null) this.checkpoints.save(COMMANDS_CHECKPOINT, lastSeq);
    if (this.killAfterCommitOf !== undefined && events.some((event) => event.type === this.killAfterCommitOf)) process.kill(process.pid, 'SIGKILL');
  }

  private openedSessionLeases(events: readonly StoredEvent[], holder: string): LeasesTaken {
    const names = events.flatMap((event) => (event.type === SessionOpened.type ? [sessionLease((JSON.parse(event.data) as { sessionId: string }).sessionId)] : []));
    return { names, holder };
  }

  abort(): void {
    this.clearCaptured.run();
    this.request({ op: 'rollback' });
  }

  retries(error: unknown, attempt: number): boolean {
    if (!(error instanceof ReplicaConflictError)) return false;
    if (attempt < MAX_ATTEMPTS) {
      this.logger?.warn({ event: 'ReplicaConflict', attempt, constraint: error.constraint }, 'PostgreSQL already had rows this host wrote: deciding again after catching up');
      return true;
    }
    this.logger?.error({ event: 'ReplicaConflictPersists', attempts: attempt, constraint: error.constraint }, 'PostgreSQL kept refusing this host\'s rows: the transaction fails');
    return false;
  }

  /**
   * Applies what other hosts committed since the local head, without the write lock (every
   * writer takes it, so PostgreSQL's positions become visible in order). Subscribers hear
   * of the events after the local commit, as of local ones. Returns the events applied.
   */
  catchUp(): number {
    if (this.store.db.inTransaction) return 0;
    const first = this.pull();
    if (first.events.length === 0 && first.commands.length === 0) return 0;
    return this.store.localTransaction(() => {
      const applied = this.applyPulled(first);
      this.clearCaptured.run();
      return applied;
    });
  }

  /**
   * Keeps the replica caught up while the host runs: a NOTIFY from a committing host wakes
   * it at once, a poll finds what a lost notification did not announce. Returns the stop.
   */
  async follow(pollIntervalMs = 200): Promise<() => Promise<void>> {
    const tick = () => {
      try {
        const applied = this.catchUp();
        if (applied > 0) this.logger?.debug({ event: 'ReplicaCaughtUp', events: applied, position: this.store.lastPosition() }, 'applied events of other hosts');
      } catch (error) {
        this.logger?.warn({ err: error, event: 'ReplicaCatchUpFailed' }, 'could not catch up with PostgreSQL; trying again');
      }
    };
    const listener = new Client({ connectionString: this.url });
    // Losing the hint connection loses nothing: the poll goes on.
    listener.on('error', () => undefined);
    listener.on('notification', () => setImmediate(tick));
    await listener.connect();
    await listener.query(`LISTEN ${CHANNEL}`);
    const timer = setInterval(tick, pollIntervalMs);
    timer.unref();
    return async () => {
      clearInterval(timer);
      await listener.end().catch(() => undefined);
    };
  }

  close(): void {
    this.request({ op: 'close' });
  }

  private pull(): Pulled {
    return this.request({ op: 'pull', afterPosition: this.store.lastPosition(), afterSeq: this.checkpoints.get(COMMANDS_CHECKPOINT), limit: PULL_BATCH }) as Pulled;
  }

  /** Inserts and projects pulled rows, batch after batch, inside the open local transaction. */
  private applyPulled(first: Pulled = this.pull()): number {
    let applied = 0;
    for (let pulled = first; ; pulled = this.pull()) {
      for (const row of pulled.events) this.projections.apply(this.store.insertStored(row));
      for (const command of pulled.commands) this.insertCommand.run(command.commandId, command.type, command.payloadHash, command.outcome, command.handledAt);
      if (pulled.commands.length > 0) this.checkpoints.save(COMMANDS_CHECKPOINT, pulled.lastSeq);
      applied += pulled.events.length;
      if (pulled.events.length < PULL_BATCH && pulled.commands.length < PULL_BATCH) return applied;
    }
  }

  private request(request: ReplicaRequest): unknown {
    const response = this.call(request);
    if (response.ok) return response.value;
    if (response.code === '23505') throw new ReplicaConflictError(response.message, response.constraint);
    throw new PostgresError(`PostgreSQL: ${response.message}`, response.code, response.constraint);
  }
}
