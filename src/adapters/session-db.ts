import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';

/**
 * The session folder contract (spec §2): paths, the two session databases and the file
 * primitives the host uses inside a folder a container can also write to.
 */

export const INBOUND_DB = 'inbound.db';
export const OUTBOUND_DB = 'outbound.db';

// Column for column the reference host's schemas: an unmodified agent runner reads and
// writes these files, so types, defaults and constraints are part of the contract.
export const INBOUND_SCHEMA = `
CREATE TABLE IF NOT EXISTS messages_in (
  id            TEXT PRIMARY KEY,
  seq           INTEGER UNIQUE,
  kind          TEXT NOT NULL,
  timestamp     TEXT NOT NULL,
  status        TEXT DEFAULT 'pending',
  process_after TEXT,
  recurrence    TEXT,
  tries         INTEGER DEFAULT 0,
  platform_id   TEXT,
  channel_type  TEXT,
  thread_id     TEXT,
  content       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS delivered (
  message_out_id      TEXT PRIMARY KEY,
  platform_message_id TEXT,
  status              TEXT NOT NULL DEFAULT 'delivered',
  delivered_at        TEXT NOT NULL
);`;

export const OUTBOUND_SCHEMA = `
CREATE TABLE IF NOT EXISTS messages_out (
  id            TEXT PRIMARY KEY,
  seq           INTEGER UNIQUE,
  in_reply_to   TEXT,
  timestamp     TEXT NOT NULL,
  deliver_after TEXT,
  recurrence    TEXT,
  kind          TEXT NOT NULL,
  platform_id   TEXT,
  channel_type  TEXT,
  thread_id     TEXT,
  content       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS processing_ack (
  message_id     TEXT PRIMARY KEY,
  status         TEXT NOT NULL,
  status_changed TEXT NOT NULL
);`;

/** A path the host refuses to touch: a hostile id or name, or a folder a container tampered with. */
export class UnsafePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafePathError';
  }
}

// Control characters include NUL; 255 bytes is the usual limit of one file name.
const SEPARATOR_OR_CONTROL = /[/\\\p{Cc}]/u;
const MAX_SEGMENT_BYTES = 255;

/** Returns parent/segment, or throws unless segment is one plain name that stays directly inside parent. */
export function childPath(parent: string, what: string, segment: string): string {
  const refuse = (why: string) => new UnsafePathError(`unsafe ${what} ${JSON.stringify(segment)}: ${why}`);
  if (segment === '') throw refuse('it is empty');
  if (SEPARATOR_OR_CONTROL.test(segment)) throw refuse('it holds a path separator, NUL or a control character');
  // Covers "." and "..", and keeps host files out of sight of `ls` in a folder the agent sees.
  if (segment.startsWith('.')) throw refuse('it starts with "."');
  if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) throw refuse(`it is longer than ${MAX_SEGMENT_BYTES} bytes`);
  // The checks above already imply this; it states the rule itself in case they change.
  const base = resolve(parent);
  const path = resolve(base, segment);
  if (dirname(path) !== base) throw refuse(`it does not resolve strictly inside ${base}`);
  return path;
}

/** <dataDir>/sessions/<agentGroupId>/<sessionId> */
export function sessionDir(dataDir: string, agentGroupId: string, sessionId: string): string {
  const groupSessions = childPath(join(dataDir, 'sessions'), 'agent group id', agentGroupId);
  return childPath(groupSessions, 'session id', sessionId);
}

/** <dataDir>/groups/<folder> */
export function groupDir(dataDir: string, folder: string): string {
  return childPath(join(dataDir, 'groups'), 'agent group folder', folder);
}

const errorCode = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | null)?.code;

/**
 * Makes root/segments… one level at a time and returns it, refusing any level that is
 * not a real directory: `mkdir -p` would follow a symlink a container planted there.
 */
export function ensureConfinedDir(root: string, ...segments: string[]): string {
  let path = resolve(root);
  for (const segment of segments) {
    path = childPath(path, 'folder name', segment);
    try {
      mkdirSync(path);
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw error;
    }
    if (!lstatSync(path).isDirectory()) throw new UnsafePathError(`${path} is not a directory (a symlink or file is in its place)`);
  }
  if (realpathSync(path) !== join(realpathSync(root), ...segments)) throw new UnsafePathError(`${path} resolves outside ${root}`);
  return path;
}

/**
 * Creates the folder, inbox/, outbox/ and both databases if missing. Idempotent: an
 * existing database is never opened here, so outbound.db stays the container's alone.
 */
export function initSessionFolder(dir: string): void {
  mkdirSync(dir, { recursive: true });
  ensureConfinedDir(dir, 'inbox');
  ensureConfinedDir(dir, 'outbox');
  createDatabaseIfMissing(join(dir, INBOUND_DB), INBOUND_SCHEMA);
  createDatabaseIfMissing(join(dir, OUTBOUND_DB), OUTBOUND_SCHEMA);
}

/**
 * Builds the database under a temp name and renames it into place, so a crash never
 * leaves a half-made file that "exists" and would therefore never be completed. The
 * host is the only creator of these files, so the exists-then-rename gap has no rival.
 */
function createDatabaseIfMissing(path: string, schema: string): void {
  if (exists(path)) return;
  const temp = tempPathBeside(path);
  try {
    const db = new Database(temp);
    try {
      db.pragma('journal_mode = DELETE');
      db.exec(schema);
    } finally {
      db.close();
    }
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
  syncDirectory(dirname(path));
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false;
    throw error;
  }
}

function openSessionDatabase(path: string, readonly: boolean): Database.Database {
  // SQLite follows symlinks: a file swapped for a link must not make the host open another file.
  if (!lstatSync(path).isFile()) throw new UnsafePathError(`${path} is not a regular file`);
  const db = new Database(path, { readonly, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  // The files cross a container mount, where WAL's shared memory does not work.
  db.pragma('journal_mode = DELETE');
  return db;
}

/** inbound.db of a session folder: the host is its only writer. */
export const openInboundDb = (dir: string) => openSessionDatabase(join(dir, INBOUND_DB), false);

/** outbound.db of a session folder, read-only: the container is its only writer. */
export const openOutboundDb = (dir: string) => openSessionDatabase(join(dir, OUTBOUND_DB), true);

/**
 * The seq for the host's next messages_in row: the smallest even number above the
 * current maximum, starting at 2. The container takes odd numbers, so the two never collide.
 */
export function nextEvenSeq(db: Database.Database): number {
  const max = db.prepare('SELECT coalesce(max(seq), 0) FROM messages_in').pluck().get() as number;
  return Math.floor(Math.max(max, 0) / 2) * 2 + 2;
}

const tempPathBeside = (path: string) => join(dirname(path), `.tmp-${randomBytes(8).toString('hex')}`);

/**
 * The bytes at path if it is a regular file, else undefined (absent, a symlink, a FIFO, a
 * folder …). Opened without following links and without blocking, then checked by fstat.
 */
export function readRegularFile(path: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    if (['ENOENT', 'ELOOP', 'EMLINK', 'ENOTDIR'].includes(errorCode(error) ?? '')) return undefined;
    throw error;
  }
  try {
    return fstatSync(fd).isFile() ? readFileSync(fd) : undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Puts data at path atomically: written and synced under a fresh temp name in the same
 * folder (created exclusively, so never through a planted symlink), then renamed over
 * path, which replaces a symlink there instead of following it. Skips the write when the
 * file already holds exactly these bytes, so a replay writes nothing. Returns whether it wrote.
 */
export function writeFileAtomic(path: string, data: Buffer | string): boolean {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  if (readRegularFile(path)?.equals(bytes)) return false;
  const temp = tempPathBeside(path);
  const fd = openSync(temp, 'wx', 0o644);
  try {
    try {
      writeFileSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
  syncDirectory(dirname(path));
  return true;
}

/** Makes a rename durable. Best effort: some platforms cannot fsync a folder; the rename stays atomic. */
function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Durability of the rename only; nothing to undo.
  }
}

/**
 * Runs a side effect in a session or group folder, reporting an UnsafePathError instead of
 * throwing it: thrown, it would stop the reactor, and one tampered folder (or an id that
 * cannot be a folder name) would stall every other session. Other errors still throw.
 */
export function refusingUnsafePaths(effect: () => void, onRefused: (error: UnsafePathError) => void): void {
  try {
    effect();
  } catch (error) {
    if (!(error instanceof UnsafePathError)) throw error;
    onRefused(error);
  }
}
