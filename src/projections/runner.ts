import type Database from 'better-sqlite3';
import type { z } from 'zod';
import type { EventDefinition, RecordedEvent } from '../events/define';

type Handler = (event: RecordedEvent) => void;

/** Registers a handler for one event type, typed by its definition. */
export type On = <D extends EventDefinition>(
  definition: D,
  handler: (data: z.output<D['schema']>, event: RecordedEvent) => void,
) => void;

export interface Projection {
  readonly name: string;
  /** The tables this projection owns: emptied and refilled by a rebuild, compared by verify. */
  readonly tables: readonly string[];
  /** Prepares its statements on db and registers its handlers. */
  bind(db: Database.Database, on: On): void;
}

/** A read of one row by its key, prepared once: the whole of a view that only looks rows up. */
export function rowLookup<Row>(db: Database.Database, sql: string): (key: string) => Row | undefined {
  const statement = db.prepare(sql);
  return (key) => statement.get(key) as Row | undefined;
}

export function defineProjection(projection: Projection): Projection {
  return projection;
}

/**
 * Applies projections inline: the bus calls apply() inside the append transaction, so a
 * command's events and their read models commit together or not at all.
 */
export class ProjectionRunner {
  private readonly handlers = new Map<string, Handler[]>();

  constructor(
    readonly db: Database.Database,
    readonly projections: readonly Projection[],
  ) {
    for (const projection of projections) {
      projection.bind(db, (definition, handler) => {
        const list = this.handlers.get(definition.type) ?? [];
        list.push((event) => handler(event.data as never, event));
        this.handlers.set(definition.type, list);
      });
    }
  }

  apply(event: RecordedEvent): void {
    const handlers = this.handlers.get(event.type);
    if (handlers) for (const handler of handlers) handler(event);
  }

  tables(): string[] {
    return this.projections.flatMap((projection) => projection.tables);
  }

  /**
   * Re-derives every projection from the given events into this runner's database, in one
   * transaction, after emptying the projection tables. Returns the number of events read.
   */
  rebuild(events: Iterable<RecordedEvent>): number {
    let count = 0;
    this.db
      .transaction(() => {
        for (const table of this.tables()) this.db.prepare(`DELETE FROM ${table}`).run();
        for (const event of events) {
          this.apply(event);
          count += 1;
        }
      })
      .immediate();
    return count;
  }
}

export interface TableComparison {
  table: string;
  equal: boolean;
  /** Rows in the live table that the rebuild did not produce. */
  onlyLive: number;
  /** Rows the rebuild produced that the live table lacks. */
  onlyRebuilt: number;
}

/** Compares each table of `live` with the same table in the database file at rebuiltPath. */
export function compareTables(live: Database.Database, rebuiltPath: string, tables: readonly string[]): TableComparison[] {
  live.prepare('ATTACH DATABASE ? AS rebuilt').run(rebuiltPath);
  try {
    return tables.map((table) => {
      const difference = (a: string, b: string) =>
        live.prepare(`SELECT count(*) FROM (SELECT * FROM ${a}.${table} EXCEPT SELECT * FROM ${b}.${table})`).pluck().get() as number;
      const onlyLive = difference('main', 'rebuilt');
      const onlyRebuilt = difference('rebuilt', 'main');
      return { table, equal: onlyLive === 0 && onlyRebuilt === 0, onlyLive, onlyRebuilt };
    });
  } finally {
    live.prepare('DETACH DATABASE rebuilt').run();
  }
}
