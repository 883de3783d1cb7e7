import type Database from 'better-sqlite3';
import { destinationsProjection, DestinationsView } from './destinations';
import type { Projection } from './runner';

/** Every inline projection, in the order they are applied. */
export const projections: readonly Projection[] = [destinationsProjection];

/** The read-only views deciders decide against. */
export function createViews(db: Database.Database) {
  return { destinations: new DestinationsView(db) };
}
export type Views = ReturnType<typeof createViews>;
