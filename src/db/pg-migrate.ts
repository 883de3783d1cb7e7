import { join } from 'node:path';
import type { Pool } from 'pg';
import { checksum, loadMigrations, type Migration } from './migrate';
import { packageRoot } from './package-root';

export const postgresMigrationsDir = (): string => join(packageRoot(), 'migrations', 'postgres');

/** Any constant: every process migrating a database takes the same advisory lock. */
const MIGRATION_LOCK = 0x5377_6d69;

/**
 * Applies the PostgreSQL migrations not yet recorded in schema_migrations, in file order,
 * each in its own transaction. Hosts sharing a database may start together: an advisory
 * lock makes them take turns, and the later ones find the work done. Returns the files applied.
 */
export async function migratePostgres(pool: Pool, migrations: Migration[] = loadMigrations(postgresMigrationsDir())): Promise<string[]> {
  const client = await pool.connect();
  const done: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (file text PRIMARY KEY, checksum text NOT NULL, applied_at text NOT NULL)');
    const applied = new Map((await client.query<{ file: string; checksum: string }>('SELECT file, checksum FROM schema_migrations')).rows.map((row) => [row.file, row.checksum]));
    for (const { file, sql } of migrations) {
      const sum = checksum(sql);
      const previous = applied.get(file);
      if (previous !== undefined) {
        if (previous !== sum) throw new Error(`migration postgres/${file} was changed after it was applied (checksum differs); add a new migration instead`);
        continue;
      }
      try {
        await client.query('BEGIN');
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (file, checksum, applied_at) VALUES ($1, $2, $3)', [file, sum, new Date().toISOString()]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration postgres/${file} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
      done.push(file);
    }
  } finally {
    // On a broken connection the unlock fails, and the lock went with the session anyway.
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    client.release();
  }
  return done;
}
