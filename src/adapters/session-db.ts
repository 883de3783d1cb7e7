import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmdirSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { pathSegmentProblem } from '../events/primitives';

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

/** Returns parent/segment, or throws unless segment is one plain name that stays directly inside parent. */
export function childPath(parent: string, what: string, segment: string): string {
  const refuse = (why: string) => new UnsafePathError(`unsafe ${what} ${JSON.stringify(segment)}: ${why}`);
  const problem = pathSegmentProblem(segment);
  if (problem !== undefined) throw refuse(problem);
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

/**
 * How long a host connection waits for a lock an agent holds. Short: the wait blocks the
 * event loop, so an agent holding BEGIN EXCLUSIVE must cost its own session a retry
 * later, not every session a frozen host.
 */
export const SESSION_DB_BUSY_TIMEOUT_MS = 200;

/** The identity of a regular file at path (device and inode), never following a link there; undefined when absent. */
export function regularFileIdentity(path: string): string | undefined {
  const stat = lstatSync(path, { throwIfNoEntry: false });
  if (!stat) return undefined;
  if (!stat.isFile()) throw new UnsafePathError(`${path} is not a regular file (a symlink, folder or device is in its place)`);
  return `${stat.dev}:${stat.ino}`;
}

function openSessionDatabase(dir: string, name: string, readonly: boolean, busyTimeoutMs = SESSION_DB_BUSY_TIMEOUT_MS): Database.Database {
  // SQLite follows symlinks, for the database and for its journal beside it: a link
  // planted at either would make the host read or write a file of the container's choosing.
  const path = join(dir, name);
  assertRealFolder(dir);
  const before = regularFileIdentity(path);
  if (before === undefined) throw new UnsafePathError(`${path} is missing`);
  regularFileIdentity(`${path}-journal`);
  const db = new Database(path, { readonly, fileMustExist: true });
  try {
    // A swap between the check and the open is caught here, after the open.
    if (regularFileIdentity(path) !== before) throw new UnsafePathError(`${path} was replaced while it was opened`);
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    // The files cross a container mount, where WAL's shared memory does not work.
    db.pragma('journal_mode = DELETE');
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** Refuses a folder that is not a real directory at exactly its own path (a link anywhere above it, or in its place). */
export function assertRealFolder(dir: string): void {
  const stat = lstatSync(dir, { throwIfNoEntry: false });
  if (!stat?.isDirectory()) throw new UnsafePathError(`${dir} is not a directory`);
  if (realpathSync(dir) !== resolve(realpathSync(dirname(dir)), basename(dir))) throw new UnsafePathError(`${dir} resolves elsewhere`);
}

/**
 * inbound.db of a session folder: the host is its only writer. Opened read-write even to
 * read, so that a hot journal a host crash left is rolled back rather than refused.
 * busyTimeoutMs 0: a reader on the host's thread, which must never wait on the agent's lock.
 */
export const openInboundDb = (dir: string, busyTimeoutMs?: number) => openSessionDatabase(dir, INBOUND_DB, false, busyTimeoutMs);

/** outbound.db of a session folder, read-only: the container is its only writer. */
/** busyTimeoutMs 0: a reader on a thread every session shares, which must never wait on the agent's lock, not even to open. */
export const openOutboundDb = (dir: string, busyTimeoutMs?: number) => openSessionDatabase(dir, OUTBOUND_DB, true, busyTimeoutMs);

/** Either database of a folder the host must never change (another host's, being imported), read-only. */
export const openDbReadOnly = (dir: string, name: typeof INBOUND_DB | typeof OUTBOUND_DB) => openSessionDatabase(dir, name, true);

/**
 * A time as the session databases hold it: `YYYY-MM-DD HH:MM:SS` in UTC (spec §2), rounded
 * up to the second so that it is never earlier than the log's time. The reference runner
 * compares process_after as a string with datetime('now'): an ISO-8601 value (`…T…Z`) sorts
 * after every time of its day and would not be due until the next one. The log keeps ISO;
 * this is the conversion at the folder's edge.
 */
export const sessionTime = (iso: string): string => new Date(Math.ceil(Date.parse(iso) / 1000) * 1000).toISOString().slice(0, 19).replace('T', ' ');

/**
 * The seq for the host's next messages_in row: the smallest even number above the
 * current maximum, starting at 2. The container takes odd numbers, so the two never collide.
 */
export function nextEvenSeq(db: Database.Database): number {
  // Integers only: SQLite sorts text above every number, so a forged text seq would poison every later one.
  const max = db.prepare("SELECT coalesce(max(seq), 0) FROM messages_in WHERE typeof(seq) = 'integer'").pluck().get() as number;
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

/*
 * The outbox: files an agent hands the host to send with a row, in outbox/<row id>/. The
 * agent can replace any of those names with a link at any moment, so each folder is
 * opened without following links, and everything below is reached through that open
 * folder (on Linux /proc/self/fd/N names exactly the folder opened, whatever is later
 * renamed or linked in its place; elsewhere the path checked at open is used).
 */

const NAMES_OPEN_FOLDER = existsSync('/proc/self/fd');
const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const OPEN_FOLDER = constants.O_RDONLY | (constants.O_DIRECTORY ?? 0) | NOFOLLOW;

/** The most one outbox file, and all files of one row, may hold: what the host reads into memory to send. */
export const MAX_OUTBOX_FILE_BYTES = 25 * 1024 * 1024;
export const MAX_OUTBOX_ROW_BYTES = 50 * 1024 * 1024;

/** An outbox file the agent named that cannot be sent (missing, too large): the agent's mistake, not an attack. */
export class OutboxFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutboxFileError';
  }
}

const refusedLink = (error: unknown, path: string): Error =>
  ['ELOOP', 'ENOTDIR'].includes(errorCode(error) ?? '') ? new UnsafePathError(`${path} is a symlink or not a folder`) : (error as Error);

/**
 * Runs fn with a path that names root/segments… as opened level by level, refusing any
 * level below root that is a link or not a folder. Returns undefined, without running fn,
 * when a level does not exist. root itself is the host's (checked by the caller, or a
 * folder this function opened).
 */
function inConfinedFolder<T>(root: string, segments: readonly string[], fn: (folder: string) => T): T | undefined {
  const fds: number[] = [];
  try {
    let shown = resolve(root);
    let path = shown;
    fds.push(openSync(path, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0)));
    for (const segment of segments) {
      shown = childPath(shown, 'folder name', segment);
      path = `${NAMES_OPEN_FOLDER ? `/proc/self/fd/${fds.at(-1)!}` : path}/${segment}`;
      try {
        fds.push(openSync(path, OPEN_FOLDER));
      } catch (error) {
        if (errorCode(error) === 'ENOENT') return undefined;
        throw refusedLink(error, shown);
      }
    }
    return fn(NAMES_OPEN_FOLDER ? `/proc/self/fd/${fds.at(-1)!}` : path);
  } catch (error) {
    throw refusedLink(error, root);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}

/** The bytes of a regular file at path, opened without following a link, within the limit. */
function readOutboxFile(path: string, name: string, limit: number): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | NOFOLLOW | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    if (errorCode(error) === 'ENOENT') throw new OutboxFileError(`outbox file ${name} does not exist`);
    throw errorCode(error) === 'ELOOP' ? new UnsafePathError(`outbox file ${name} is a symlink`) : error;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new UnsafePathError(`outbox file ${name} is not a regular file`);
    // A second name for a file outside the outbox would send that file.
    if (stat.nlink > 1) throw new UnsafePathError(`outbox file ${name} is a hard link`);
    if (stat.size > limit) throw new OutboxFileError(`outbox file ${name} is ${stat.size} bytes, over the limit of ${limit}`);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The files a row names, read from outbox/<row id>/ into memory (so what is sent is what
 * was checked). Throws UnsafePathError for a link or a non-regular file anywhere on the
 * way, OutboxFileError for a file that is missing or too large.
 */
export function readOutboxFiles(sessionRoot: string, outboundId: string, names: readonly string[]): { name: string; data: Buffer }[] {
  if (names.length === 0) return [];
  for (const name of names) childPath(sessionRoot, 'outbox file name', name);
  assertRealFolder(sessionRoot);
  let budget = MAX_OUTBOX_ROW_BYTES;
  const files = inConfinedFolder(sessionRoot, ['outbox', outboundId], (folder) =>
    names.map((name) => {
      const data = readOutboxFile(`${folder}/${name}`, name, Math.min(budget, MAX_OUTBOX_FILE_BYTES));
      budget -= data.length;
      return { name, data };
    }),
  );
  if (!files) throw new OutboxFileError(`outbox/${outboundId} does not exist`);
  return files;
}

/**
 * Removes outbox/<row id>/ and what is in it. Links inside are removed, never followed;
 * a link in place of outbox/ or of the row's folder is refused (UnsafePathError).
 */
export function removeOutboxFolder(sessionRoot: string, outboundId: string): void {
  childPath(sessionRoot, 'outbound id', outboundId);
  assertRealFolder(sessionRoot);
  inConfinedFolder(sessionRoot, ['outbox'], (outbox) => {
    const stat = lstatSync(`${outbox}/${outboundId}`, { throwIfNoEntry: false });
    if (!stat) return;
    if (!stat.isDirectory()) throw new UnsafePathError(`outbox/${outboundId} is not a folder (a symlink or file is in its place)`);
    inConfinedFolder(outbox, [outboundId], emptyFolder);
    rmdirSync(`${outbox}/${outboundId}`);
  });
}

/** Removes everything inside an opened folder: files and links unlinked (a link is never followed), folders emptied and removed. */
function emptyFolder(folder: string): void {
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = `${folder}/${entry.name}`;
    if (entry.isDirectory()) {
      inConfinedFolder(folder, [entry.name], emptyFolder);
      rmdirSync(path);
    } else unlinkSync(path);
  }
}

/** When the agent last touched its `.heartbeat` (the file's own time: a link there is not followed), or undefined. */
export function heartbeatAt(sessionRoot: string): number | undefined {
  const stat = lstatSync(join(sessionRoot, '.heartbeat'), { throwIfNoEntry: false });
  return stat?.isFile() ? stat.mtimeMs : undefined;
}
