import { closeSync, existsSync, linkSync, openSync, readSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';

export type Synchronous = 'FULL' | 'NORMAL';

export interface OpenOptions {
  /** FULL by default: an audit log that loses its last commits on power loss is not an audit log. */
  synchronous?: Synchronous;
  readonly?: boolean;
}

/** Opens the central database in WAL mode with the durability the caller asked for. */
export function openDatabase(path: string, options: OpenOptions = {}): Database.Database {
  const db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  db.pragma('busy_timeout = 5000');
  // Statement and savepoint journals (one savepoint per command in a group commit) stay in memory.
  db.pragma('temp_store = MEMORY');
  if (!options.readonly) {
    withBusyRetry(() => db.pragma('journal_mode = WAL'));
    db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
  }
  return db;
}

/**
 * Switching a brand-new file to WAL takes a lock that busy_timeout does not wait for when
 * another process is creating the same file; retry briefly instead of failing the open.
 */
function withBusyRetry<T>(fn: () => T, attempts = 50): T {
  for (let attempt = 1; ; attempt++) {
    try {
      return fn();
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      if (code !== 'SQLITE_BUSY' || attempt >= attempts) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

/** What every SQLite database file begins with. */
const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/** A file where a database should be that is not one: refused, never initialised over. */
export class NotADatabaseError extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`${path} is not a SQLite database: ${reason}. Only a missing file makes a new install: move it away or restore it from a backup`);
    this.name = 'NotADatabaseError';
  }
}

/** Throws NotADatabaseError unless the file at path begins with the SQLite header. */
export function assertDatabaseFile(path: string): void {
  const fd = openSync(path, 'r');
  const head = Buffer.alloc(SQLITE_HEADER.length);
  let read: number;
  try {
    read = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (read === 0) throw new NotADatabaseError(path, 'it is empty (0 bytes)');
  if (read < head.length || !head.equals(SQLITE_HEADER)) throw new NotADatabaseError(path, 'it does not begin with the SQLite header');
}

/**
 * Creates a WAL database file at path unless a file is there. It appears whole (written
 * under another name, then linked into place), so a zero-byte file is never one being
 * created by another process: it can be refused.
 */
export function createDatabaseFile(path: string): void {
  if (existsSync(path)) return;
  const draft = `${path}.${process.pid}.new`;
  const db = new Database(draft);
  try {
    db.pragma('journal_mode = WAL');
  } finally {
    db.close();
  }
  try {
    linkSync(draft, path);
  } catch (error) {
    // Another process created it first: that one is used.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    rmSync(draft, { force: true });
  }
}
