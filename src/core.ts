import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { CommandBus } from './commands/bus';
import { commandDefinitions } from './commands';
import { migrate, pendingMigrations } from './db/migrate';
import { assertDatabaseFile, createDatabaseFile, openDatabase, type Synchronous } from './db/sqlite';
import { eventRegistry } from './events';
import { EventStore } from './events/store';
import type { Logger } from './logger';
import { PostgresReplica } from './adapters/pg-replica';
import { createViews, projections, type Views } from './projections';
import { ProjectionRunner } from './projections/runner';

export interface Core {
  store: EventStore;
  bus: CommandBus;
  views: Views;
  projections: ProjectionRunner;
  /** With a PostgreSQL store: the replica this file is of it. */
  replica?: PostgresReplica;
  close(): void;
}

export interface CoreOptions {
  synchronous?: Synchronous;
  logger?: Logger;
  clock?: () => Date;
  /**
   * For read commands: the file must exist and be migrated already; it is opened
   * read-only and never changed.
   */
  readonly?: boolean;
  /**
   * A PostgreSQL connection string: the log's truth is there and this file becomes its
   * replica (caught up now, and in every write transaction). Ignored when readonly: reads
   * are served by the replica as it stands.
   */
  store?: string;
  /** See EventStoreOptions.verifyDecided: on unless the caller (the host) turns it off. */
  verifyDecided?: boolean;
}

/** A database an older switchyard wrote: a read-only open does not migrate it. */
export class DatabaseNeedsMigrationError extends Error {
  constructor(
    readonly path: string,
    readonly pending: readonly string[],
  ) {
    super(`${path} needs migration (${pending.join(', ')}): start the host with this version once to migrate it; read commands never change the database`);
    this.name = 'DatabaseNeedsMigrationError';
  }
}

export const centralDatabasePath = (dataDir: string) => join(dataDir, 'switchyard.db');

/**
 * Opens the event store at path with every event type, projection and command wired.
 * Only a missing file is created; an existing one must be a SQLite database.
 */
export function openCore(path: string, options: CoreOptions = {}): Core {
  if (path !== ':memory:') {
    if (!options.readonly) createDatabaseFile(path);
    assertDatabaseFile(path);
  }
  const db = openDatabase(path, { synchronous: options.synchronous ?? 'FULL', readonly: options.readonly ?? false });
  if (options.readonly) {
    const pending = pendingMigrations(db);
    if (pending.length > 0) {
      db.close();
      throw new DatabaseNeedsMigrationError(path, pending);
    }
  }
  const applied = options.readonly ? [] : migrate(db);
  const store = new EventStore(db, eventRegistry, options);
  const runner = new ProjectionRunner(store.db, projections);
  // A migration may bring a new read model (or reshape one) on a log that already has
  // history: derive it from the log now rather than serve it empty.
  if (applied.length > 0 && store.lastPosition() > 0) {
    const events = runner.rebuild(store.readAll());
    options.logger?.info({ event: 'ProjectionsRebuilt', migrations: applied, events }, 'projections rebuilt after migration');
  }
  const views = createViews(store.db);
  const bus = new CommandBus(store, runner, views, {
    ...(options.clock && { clock: options.clock }),
    ...(options.logger && { logger: options.logger.child({ component: 'bus' }) }),
  });
  bus.register(...commandDefinitions);
  if (options.store === undefined || options.readonly) return { store, bus, views, projections: runner, close: () => store.close() };
  let replica: PostgresReplica;
  try {
    replica = PostgresReplica.open(store, runner, options.store, options.logger ? { logger: options.logger.child({ component: 'replica' }) } : {});
  } catch (error) {
    store.close();
    throw error;
  }
  return {
    store,
    bus,
    views,
    projections: runner,
    replica,
    close: () => {
      replica.close();
      store.close();
    },
  };
}

/** Opens the central database of a data directory, creating the directory if needed. */
export function openDataDir(dataDir: string, options: CoreOptions = {}): Core {
  mkdirSync(dataDir, { recursive: true });
  return openCore(centralDatabasePath(dataDir), options);
}
