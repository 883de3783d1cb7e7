import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import type { z } from 'zod';
import { AdoptSessionFolder } from '../commands/import';
import type { Core } from '../core';
import { Checkpoints } from '../events/checkpoints';
import { sessionStream } from '../events/inbound';
import { SessionFolderAdopted } from '../events/import';
import { pathSegmentProblem } from '../events/primitives';
import {
  childPath, ensureConfinedDir, INBOUND_DB, INBOUND_SCHEMA, MAX_OUTBOX_FILE_BYTES, openDbReadOnly, OUTBOUND_DB, OUTBOUND_SCHEMA, sessionDir, UnsafePathError,
} from './session-db';

/** What the import did with the session folders of a NanoClaw install, for its report. */
export interface SessionFoldersReport {
  adopted: number;
  alreadyAdopted: number;
  /** Rows taken over, summed over the folders adopted by this run. */
  rows: { pendingInbound: number; inFlight: number; alreadyDelivered: number; undelivered: number; files: number };
  refused: Array<{ key: string; reason: string }>;
  notes: Array<{ key: string; note: string }>;
  /** Files left behind at the source (links, devices, hard links, unsafe names), and why. */
  skipped: Array<{ key: string; path: string; reason: string }>;
}

type Adoption = Pick<z.output<typeof AdoptSessionFolder.schema>, 'pendingInbound' | 'inFlight' | 'alreadyDelivered' | 'undelivered' | 'files' | 'skipped' | 'outboundCheckpoint'>;
type Row = Record<string, unknown>;

// Only the contract's columns are carried over, into tables made from Switchyard's own
// schema: whatever else a folder holds (triggers, views, other tables) stays behind.
const COLUMNS = {
  messages_in: ['id', 'seq', 'kind', 'timestamp', 'status', 'process_after', 'recurrence', 'tries', 'platform_id', 'channel_type', 'thread_id', 'content'],
  delivered: ['message_out_id', 'platform_message_id', 'status', 'delivered_at'],
  messages_out: ['id', 'seq', 'in_reply_to', 'timestamp', 'deliver_after', 'recurrence', 'kind', 'platform_id', 'channel_type', 'thread_id', 'content'],
  processing_ack: ['message_id', 'status', 'status_changed'],
} as const;
type Table = keyof typeof COLUMNS;

const select = (db: Database.Database, table: Table): Row[] => db.prepare(`SELECT ${COLUMNS[table].join(', ')} FROM ${table} ORDER BY rowid`).all() as Row[];

function insertAll(db: Database.Database, table: Table, rows: readonly Row[]): void {
  const columns = COLUMNS[table];
  const insert = db.prepare(`INSERT INTO ${table} (rowid, ${columns.join(', ')}) VALUES (?, ${columns.map(() => '?').join(', ')})`);
  rows.forEach((row, i) => insert.run(i + 1, ...columns.map((column) => row[column])));
}

/** A new database at path with one of the contract's schemas, as the host makes them. */
function createDatabase(path: string, schema: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = DELETE');
  db.exec(schema);
  return db;
}

/**
 * Copies both databases row by row and says what they hold. messages_out rows the
 * reference settled (its `delivered` table names them) are written first, so they are
 * exactly the rows up to the checkpoint and are never read again; the others keep their
 * order after them.
 */
function copyDatabases(source: string, target: string): Omit<Adoption, 'files' | 'skipped'> {
  const read = (name: typeof INBOUND_DB | typeof OUTBOUND_DB, tables: Table[]) => {
    const db = openDbReadOnly(source, name);
    try {
      return tables.map((table) => select(db, table));
    } finally {
      db.close();
    }
  };
  const [inbound, delivered] = read(INBOUND_DB, ['messages_in', 'delivered']) as [Row[], Row[]];
  const [outbound, acks] = read(OUTBOUND_DB, ['messages_out', 'processing_ack']) as [Row[], Row[]];

  const settled = new Map(delivered.map((row) => [String(row.message_out_id), row]));
  const isSettled = (row: Row) => typeof row.id === 'string' && settled.has(row.id);
  const claims = new Map(acks.map((ack) => [String(ack.message_id), String(ack.status)]));
  const waiting = inbound.filter((row) => row.status === 'pending' && typeof row.id === 'string');
  const ordered = [...outbound.filter(isSettled), ...outbound.filter((row) => !isSettled(row))];

  const writes: Array<[string, string, Array<[Table, Row[]]>]> = [
    [INBOUND_DB, INBOUND_SCHEMA, [['messages_in', inbound], ['delivered', delivered]]],
    [OUTBOUND_DB, OUTBOUND_SCHEMA, [['messages_out', ordered], ['processing_ack', acks]]],
  ];
  for (const [name, schema, tables] of writes) {
    const db = createDatabase(join(target, name), schema);
    try {
      db.transaction(() => tables.forEach(([table, rows]) => insertAll(db, table, rows)))();
    } finally {
      db.close();
    }
  }
  return {
    // A claim settled by the agent but not yet copied into messages_in is the sweep's to copy; it needs no answer.
    pendingInbound: waiting.filter((row) => !claims.has(row.id as string)).map((row) => row.id as string),
    inFlight: waiting.filter((row) => claims.get(row.id as string) === 'processing').map((row) => row.id as string),
    alreadyDelivered: ordered.filter(isSettled).map((row) => {
      const outcome = settled.get(row.id as string)!;
      return { outboundId: row.id as string, status: String(outcome.status), platformMessageId: outcome.platform_message_id === null ? null : String(outcome.platform_message_id) };
    }),
    undelivered: ordered.filter((row) => !isSettled(row)).map((row) => String(row.id)),
    outboundCheckpoint: outbound.filter(isSettled).length,
  };
}

/** The bytes of a plain file (regular, one link, within the outbox limit), or why it is not one. Never follows a link. */
function readPlainFile(path: string): Buffer | string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') return 'not a regular file (a symlink)';
    throw error;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return 'not a regular file';
    // A second name for a file outside the folder would copy that file into an agent's reach.
    if (stat.nlink > 1) return 'a hard link';
    if (stat.size > MAX_OUTBOX_FILE_BYTES) return `${stat.size} bytes, over the limit of ${MAX_OUTBOX_FILE_BYTES}`;
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Copies from/rel into to/rel, folders and plain files only; everything else is listed as skipped. */
function copyTree(from: string, to: string, rel: string, out: Pick<Adoption, 'files' | 'skipped'>): void {
  const source = join(from, rel);
  const stat = lstatSync(source, { throwIfNoEntry: false });
  if (!stat) return;
  if (!stat.isDirectory() || realpathSync(source) !== join(realpathSync(from), rel)) {
    out.skipped.push({ path: rel, reason: 'not a folder (a symlink or file is in its place)' });
    return;
  }
  mkdirSync(join(to, rel));
  for (const entry of readdirSync(source, { withFileTypes: true })) {
    const path = `${rel}/${entry.name}`;
    const problem = pathSegmentProblem(entry.name);
    if (problem !== undefined) out.skipped.push({ path, reason: `unsafe name: ${problem}` });
    else if (entry.isDirectory()) copyTree(from, to, path, out);
    else {
      const data = readPlainFile(join(from, path));
      if (typeof data === 'string') out.skipped.push({ path, reason: data });
      else {
        writeFileSync(join(to, path), data, { flag: 'wx' });
        out.files.push(path);
      }
    }
  }
}

const alreadyAdopted = (core: Core, sessionId: string): boolean => core.store.readStream(sessionStream(sessionId)).some((event) => SessionFolderAdopted.is(event));

/**
 * Adopts one session's folder: copied under a temp name beside its place, moved into
 * place, then recorded with the poller's checkpoint in one transaction. A refusal removes
 * the copy, so a later import can try again.
 */
function adoptOne(core: Core, dataDir: string, sourceRoot: string, sessionId: string, agentGroupId: string, report: SessionFoldersReport): void {
  const source = childPath(childPath(sourceRoot, 'agent group id', agentGroupId), 'session id', sessionId);
  const stat = lstatSync(source, { throwIfNoEntry: false });
  if (!stat) {
    report.notes.push({ key: sessionId, note: `no session folder at ${source}: the session starts with an empty one` });
    return;
  }
  if (!stat.isDirectory()) throw new UnsafePathError(`${source} is not a folder (a symlink or file is in its place)`);
  const target = sessionDir(dataDir, agentGroupId, sessionId);
  if (lstatSync(target, { throwIfNoEntry: false })) throw new Error(`${target} exists already (the host made it before the folder was imported): not adopted`);
  mkdirSync(join(dataDir, 'sessions'), { recursive: true });
  const temp = join(ensureConfinedDir(join(dataDir, 'sessions'), agentGroupId), `.adopting-${randomBytes(6).toString('hex')}`);
  mkdirSync(temp);
  let placed = false;
  try {
    const copied: Pick<Adoption, 'files' | 'skipped'> = { files: [], skipped: [] };
    const rows = copyDatabases(source, temp);
    for (const folder of ['inbox', 'outbox']) copyTree(source, temp, folder, copied);
    mkdirSync(join(temp, 'inbox'), { recursive: true });
    mkdirSync(join(temp, 'outbox'), { recursive: true });
    renameSync(temp, target);
    placed = true;
    const adoption: Adoption = { ...rows, ...copied };
    const envelope = AdoptSessionFolder.envelope(`import:nanoclaw:session_folders:${sessionId}`, { sessionId, agentGroupId, source, ...adoption }, { actor: 'operator:import' });
    const checkpoints = new Checkpoints(core.store.db);
    const outcome = core.store.transaction(() => {
      const result = core.bus.dispatch(envelope);
      if (result.status === 'accepted') checkpoints.save(`outbound-rows:${sessionId}`, adoption.outboundCheckpoint);
      return result;
    });
    if (outcome.status === 'rejected') throw new Error(`${outcome.code}: ${outcome.message}`);
    report.adopted++;
    report.rows.pendingInbound += adoption.pendingInbound.length;
    report.rows.inFlight += adoption.inFlight.length;
    report.rows.alreadyDelivered += adoption.alreadyDelivered.length;
    report.rows.undelivered += adoption.undelivered.length;
    report.rows.files += adoption.files.length;
    report.skipped.push(...adoption.skipped.map((skip) => ({ key: sessionId, ...skip })));
  } catch (error) {
    rmSync(placed ? target : temp, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Copies the folder of every imported session from NanoClaw's `v2-sessions/<agent
 * group>/<session>/` (beside its central database) into Switchyard's layout: the source is
 * opened read-only and never changed, links are never followed. Sessions the import
 * refused are left out (the sessions table of the report says why); a folder adopted
 * before is never copied again, so what the host has done since is kept.
 */
export function adoptSessionFolders(core: Core, dataDir: string, centralDatabase: string): SessionFoldersReport {
  const report: SessionFoldersReport = { adopted: 0, alreadyAdopted: 0, rows: { pendingInbound: 0, inFlight: 0, alreadyDelivered: 0, undelivered: 0, files: 0 }, refused: [], notes: [], skipped: [] };
  const central = new Database(centralDatabase, { readonly: true, fileMustExist: true });
  let sessions: Row[];
  try {
    sessions = central.prepare('SELECT id, agent_group_id FROM sessions ORDER BY rowid').all() as Row[];
  } finally {
    central.close();
  }
  const sourceRoot = join(dirname(centralDatabase), 'v2-sessions');
  for (const row of sessions) {
    const sessionId = String(row.id);
    const session = core.views.sessions.get(sessionId);
    if (!session) continue;
    if (alreadyAdopted(core, sessionId)) {
      report.alreadyAdopted++;
      continue;
    }
    try {
      adoptOne(core, dataDir, sourceRoot, sessionId, session.agent_group_id, report);
    } catch (error) {
      report.refused.push({ key: sessionId, reason: error instanceof Error ? error.message : String(error) });
    }
  }
  return report;
}
