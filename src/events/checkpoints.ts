import type Database from 'better-sqlite3';

/** The last position each event-driven adapter has handled, kept in the central database. */
export class Checkpoints {
  private readonly select: Database.Statement;
  private readonly upsert: Database.Statement;

  constructor(db: Database.Database) {
    this.select = db.prepare('SELECT position FROM checkpoints WHERE consumer = ?').pluck();
    this.upsert = db.prepare(
      `INSERT INTO checkpoints (consumer, position, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (consumer) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
    );
  }

  get(consumer: string): number {
    return (this.select.get(consumer) as number | undefined) ?? 0;
  }

  save(consumer: string, position: number, at: Date = new Date()): void {
    this.upsert.run(consumer, position, at.toISOString());
  }
}
