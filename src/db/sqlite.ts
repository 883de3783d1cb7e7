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
