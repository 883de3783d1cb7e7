import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { packageRoot } from './package-root';

export class MigrationError extends Error {
  constructor(
    readonly file: string,
    readonly statement: string,
    cause: unknown,
  ) {
    super(`migration ${file} failed at statement:\n  ${statement}\n${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = 'MigrationError';
  }
}

export interface Migration {
  file: string;
  sql: string;
}

const MIGRATION_FILE = /^\d{4}_[a-z0-9_]+\.sql$/;

export function defaultMigrationsDir(): string {
  return join(packageRoot(), 'migrations');
}

export function loadMigrations(dir: string = defaultMigrationsDir()): Migration[] {
  return readdirSync(dir)
    .filter((file) => MIGRATION_FILE.test(file))
    .sort()
    .map((file) => ({ file, sql: readFileSync(join(dir, file), 'utf8') }));
}

export const checksum = (sql: string) => createHash('sha256').update(sql).digest('hex');

/**
 * Applies the migrations not yet recorded in schema_migrations, in file order, each in
 * its own transaction: a failing one leaves the database as the previous one left it.
 * Returns the files applied.
 */
export function migrate(db: Database.Database, migrations: Migration[] = loadMigrations()): string[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    file TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)`);
  const applied = new Map(
    (db.prepare('SELECT file, checksum FROM schema_migrations').all() as { file: string; checksum: string }[]).map(
      (row) => [row.file, row.checksum],
    ),
  );
  const record = db.prepare('INSERT INTO schema_migrations (file, checksum, applied_at) VALUES (?, ?, ?)');
  const done: string[] = [];
  for (const { file, sql } of migrations) {
    const sum = checksum(sql);
    const previous = applied.get(file);
    if (previous !== undefined) {
      if (previous !== sum) {
        throw new Error(`migration ${file} was changed after it was applied (checksum differs); add a new migration instead`);
      }
      continue;
    }
    const appliedNow = db.transaction(() => {
      // Another process may have applied it since we read schema_migrations; under the
      // write lock the answer is final.
      const recorded = db.prepare('SELECT checksum FROM schema_migrations WHERE file = ?').pluck().get(file) as string | undefined;
      if (recorded !== undefined) {
        if (recorded !== sum) throw new Error(`migration ${file} was changed after it was applied (checksum differs); add a new migration instead`);
        return false;
      }
      for (const statement of splitStatements(sql)) {
        try {
          db.exec(statement);
        } catch (error) {
          throw new MigrationError(file, statement, error);
        }
      }
      record.run(file, sum, new Date().toISOString());
      return true;
    }).immediate();
    if (appliedNow) done.push(file);
  }
  return done;
}

/**
 * The migrations a database still lacks, without changing it (a read-only connection
 * will do). A database that never had any lacks them all.
 */
export function pendingMigrations(db: Database.Database, migrations: Migration[] = loadMigrations()): string[] {
  const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get() !== undefined;
  const applied = new Set(hasTable ? (db.prepare('SELECT file FROM schema_migrations').pluck().all() as string[]) : []);
  return migrations.map((migration) => migration.file).filter((file) => !applied.has(file));
}

/**
 * Splits a SQL script into statements so a failure can name the one that failed.
 * Semicolons inside quotes, comments and trigger bodies (BEGIN … END, CASE … END)
 * do not end a statement.
 */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let current = '';
  let depth = 0;
  let word = '';
  const endWord = () => {
    const upper = word.toUpperCase();
    if (upper === 'BEGIN' || upper === 'CASE') depth += isTrigger(current) || upper === 'CASE' ? 1 : 0;
    else if (upper === 'END' && depth > 0) depth -= 1;
    word = '';
  };
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i]!;
    if (ch === '-' && sql[i + 1] === '-') {
      endWord();
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end;
      current += '\n';
      continue;
    }
    if (ch === '/' && sql[i + 1] === '*') {
      endWord();
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 1;
      current += ' ';
      continue;
    }
    if (ch === "'" || ch === '"' || ch === '`' || ch === '[') {
      endWord();
      const close = ch === '[' ? ']' : ch;
      let j = i + 1;
      while (j < sql.length && sql[j] !== close) j++;
      current += sql.slice(i, j + 1);
      i = j;
      continue;
    }
    if (/[A-Za-z_]/.test(ch) || (word !== '' && /[0-9$]/.test(ch))) {
      word += ch;
      current += ch;
      continue;
    }
    endWord();
    if (ch === ';' && depth === 0) {
      if (current.trim()) statements.push(current.trim() + ';');
      current = '';
      continue;
    }
    current += ch;
  }
  endWord();
  if (current.trim()) statements.push(current.trim());
  return statements;
}

const isTrigger = (statement: string) => /^\s*CREATE\s+(TEMP\s+|TEMPORARY\s+)?TRIGGER\b/i.test(statement);
