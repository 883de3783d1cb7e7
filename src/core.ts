import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { CommandBus } from './commands/bus';
import { commandDefinitions } from './commands';
import type { Synchronous } from './db/sqlite';
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
  const store = EventStore.open(path, eventRegistry, { synchronous: options.synchronous ?? 'FULL' });
  const runner = new ProjectionRunner(store.db, projections);
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
