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
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
  }
  return db;
}
