import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { CommandBus } from './commands/bus';
import { commandDefinitions } from './commands';
import { migrate } from './db/migrate';
import { openDatabase, type Synchronous } from './db/sqlite';
import { eventRegistry } from './events';
import { EventStore } from './events/store';
import type { Logger } from './logger';
import { createViews, projections, type Views } from './projections';
import { ProjectionRunner } from './projections/runner';

export interface Core {
  store: EventStore;
  bus: CommandBus;
  views: Views;
  projections: ProjectionRunner;
  close(): void;
}

export interface CoreOptions {
  synchronous?: Synchronous;
  logger?: Logger;
  clock?: () => Date;
}

export const centralDatabasePath = (dataDir: string) => join(dataDir, 'switchyard.db');

/** Opens the event store at path with every event type, projection and command wired. */
export function openCore(path: string, options: CoreOptions = {}): Core {
  const db = openDatabase(path, { synchronous: options.synchronous ?? 'FULL' });
  const applied = migrate(db);
  const store = new EventStore(db, eventRegistry);
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
  return { store, bus, views, projections: runner, close: () => store.close() };
}

/** Opens the central database of a data directory, creating the directory if needed. */
export function openDataDir(dataDir: string, options: CoreOptions = {}): Core {
  mkdirSync(dataDir, { recursive: true });
  return openCore(centralDatabasePath(dataDir), options);
}
