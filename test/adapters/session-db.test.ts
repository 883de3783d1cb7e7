import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ReactorRunner } from '../../src/adapters/reactor';
import { groupDir, initSessionFolder, nextEvenSeq, openInboundDb, openOutboundDb, OutboxFileError, readOutboxFiles, removeOutboxFolder, SESSION_DB_BUSY_TIMEOUT_MS, sessionDir, UnsafePathError } from '../../src/adapters/session-db';
import { SessionFolderReactor } from '../../src/adapters/session-folder';
import { receiveInbound } from '../../src/commands/inbound';
import { openDataDir } from '../../src/core';
import { seedScenario } from '../support/scenario';
import { useTempDir } from '../support/temp';

interface Column { name: string; type: string; notnull: number; dflt_value: string | null; pk: number }
const column = (name: string, type: string, notnull: 0 | 1, dflt_value: string | null, pk: 0 | 1): Column => ({ name, type, notnull, dflt_value, pk });

/** Spec §2, written out by hand: the golden the materialized files are held to. */
const SPEC: Record<string, Record<string, Column[]>> = {
  'inbound.db': {
    messages_in: [
      column('id', 'TEXT', 0, null, 1),
      column('seq', 'INTEGER', 0, null, 0),
      column('kind', 'TEXT', 1, null, 0),
      column('timestamp', 'TEXT', 1, null, 0),
      column('status', 'TEXT', 0, "'pending'", 0),
      column('process_after', 'TEXT', 0, null, 0),
      column('recurrence', 'TEXT', 0, null, 0),
      column('tries', 'INTEGER', 0, '0', 0),
      column('platform_id', 'TEXT', 0, null, 0),
      column('channel_type', 'TEXT', 0, null, 0),
      column('thread_id', 'TEXT', 0, null, 0),
      column('content', 'TEXT', 1, null, 0),
    ],
    delivered: [
      column('message_out_id', 'TEXT', 0, null, 1),
      column('platform_message_id', 'TEXT', 0, null, 0),
      column('status', 'TEXT', 1, "'delivered'", 0),
      column('delivered_at', 'TEXT', 1, null, 0),
    ],
  },
  'outbound.db': {
    messages_out: [
      column('id', 'TEXT', 0, null, 1),
      column('seq', 'INTEGER', 0, null, 0),
      column('in_reply_to', 'TEXT', 0, null, 0),
      column('timestamp', 'TEXT', 1, null, 0),
      column('deliver_after', 'TEXT', 0, null, 0),
      column('recurrence', 'TEXT', 0, null, 0),
      column('kind', 'TEXT', 1, null, 0),
      column('platform_id', 'TEXT', 0, null, 0),
      column('channel_type', 'TEXT', 0, null, 0),
      column('thread_id', 'TEXT', 0, null, 0),
      column('content', 'TEXT', 1, null, 0),
    ],
    processing_ack: [
      column('message_id', 'TEXT', 0, null, 1),
      column('status', 'TEXT', 1, null, 0),
      column('status_changed', 'TEXT', 1, null, 0),
    ],
  },
};

/** The seq column is the only UNIQUE beyond the primary keys. */
const UNIQUE_SEQ: Record<string, string> = { messages_in: 'seq', messages_out: 'seq' };

function indexesOf(db: Database.Database, table: string) {
  const list = db.pragma(`index_list(${table})`) as { name: string; unique: number; origin: string }[];
  return list
    .map((index) => ({
      origin: index.origin,
      unique: index.unique,
      columns: (db.pragma(`index_info(${index.name})`) as { name: string }[]).map((c) => c.name),
    }))
    .sort((a, b) => a.origin.localeCompare(b.origin));
}

describe('session databases', () => {
  const tempDir = useTempDir();

  /** The seeded host with the session-folder reactor caught up; returns Andy's session folder. */
  async function materialize(extraMessages: string[] = []) {
    const dataDir = join(tempDir(), 'data');
    const core = openDataDir(dataDir);
    const runner = new ReactorRunner(core.store, new SessionFolderReactor(dataDir, core));
    runner.start();
    try {
      seedScenario(core);
      extraMessages.forEach((text, i) =>
        core.bus.dispatch(receiveInbound({ channelType: 'telegram', platformId: '-1001', messageId: `extra-${i}`, content: { text }, timestamp: `2026-11-24T10:0${i}:00.000Z` })),
      );
      await runner.caughtUp();
      const [session] = core.views.sessions.forAgentGroup('ag-andy');
      return sessionDir(dataDir, 'ag-andy', session!.id);
    } finally {
      runner.stop();
      core.close();
    }
  }

  it('GOLDEN: inbound.db and outbound.db made from a routed message match the spec column by column', async () => {
    const dir = await materialize();
    for (const [file, tables] of Object.entries(SPEC)) {
      const db = new Database(join(dir, file), { readonly: true });
      try {
        const names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
        expect({ file, tables: names }).toEqual({ file, tables: Object.keys(tables).sort() });
        for (const [table, columns] of Object.entries(tables)) {
          const actual = (db.pragma(`table_info(${table})`) as Column[]).map(({ name, type, notnull, dflt_value, pk }) => ({ name, type, notnull, dflt_value, pk }));
          expect({ table, columns: actual }).toEqual({ table, columns });
          const unique = UNIQUE_SEQ[table];
          expect({ table, indexes: indexesOf(db, table) }).toEqual({
            table,
            indexes: [{ origin: 'pk', unique: 1, columns: [columns.find((c) => c.pk === 1)!.name] }, ...(unique ? [{ origin: 'u', unique: 1, columns: [unique] }] : [])],
          });
        }
        // A fresh connection reports the mode stored in the file: WAL would persist, DELETE is the default.
        expect(db.pragma('journal_mode', { simple: true })).toBe('delete');
      } finally {
        db.close();
      }
    }
    expect(readdirSync(dir).sort()).toEqual(['inbound.db', 'inbox', 'outbound.db', 'outbox']);
  });

  it('the host numbers its messages 2, 4, 6', async () => {
    const dir = await materialize(['@andy second', '@andy third']);
    const db = openInboundDb(dir);
    try {
      const rows = db.prepare("SELECT seq, json_extract(content, '$.text') AS text, status, tries FROM messages_in ORDER BY seq").all();
      expect(rows).toEqual([
        { seq: 2, text: '@Andy what is for dinner?', status: 'pending', tries: 0 },
        { seq: 4, text: '@andy second', status: 'pending', tries: 0 },
        { seq: 6, text: '@andy third', status: 'pending', tries: 0 },
      ]);
    } finally {
      db.close();
    }
  });

  it('nextEvenSeq is the smallest even number above the maximum, from 2', () => {
    const dir = join(tempDir(), 'session');
    initSessionFolder(dir);
    const db = openInboundDb(dir);
    try {
      const seqs: number[] = [nextEvenSeq(db)];
      for (const seq of [1, 2, 3, 8]) {
        db.prepare("INSERT INTO messages_in (id, seq, kind, timestamp, content) VALUES (?, ?, 'chat', 'now', '{}')").run(`m${seq}`, seq);
        seqs.push(nextEvenSeq(db));
      }
      // A forged text seq sorts above every number in SQLite: it must not poison the next one.
      db.prepare("INSERT INTO messages_in (id, seq, kind, timestamp, content) VALUES ('forged', 'zz', 'chat', 'now', '{}')").run();
      seqs.push(nextEvenSeq(db));
      expect(seqs).toEqual([2, 2, 4, 4, 10, 10]);
    } finally {
      db.close();
    }
  });

  it('both databases open with journal_mode=DELETE and a short busy_timeout; outbound.db read-only', () => {
    const dir = join(tempDir(), 'session');
    initSessionFolder(dir);
    initSessionFolder(dir); // idempotent
    for (const db of [openInboundDb(dir), openOutboundDb(dir)]) {
      try {
        expect(db.pragma('journal_mode', { simple: true })).toBe('delete');
        expect(db.pragma('busy_timeout', { simple: true })).toBe(SESSION_DB_BUSY_TIMEOUT_MS);
      } finally {
        db.close();
      }
    }
    const outbound = openOutboundDb(dir);
    try {
      expect(outbound.readonly).toBe(true);
    } finally {
      outbound.close();
    }
    expect(readdirSync(dir).sort()).toEqual(['inbound.db', 'inbox', 'outbound.db', 'outbox']);
  });

  it('path helpers build the layout and refuse anything but one plain segment', () => {
    const dataDir = tempDir();
    expect(sessionDir(dataDir, 'ag-andy', 'sess-1')).toBe(join(dataDir, 'sessions', 'ag-andy', 'sess-1'));
    expect(groupDir(dataDir, 'andy')).toBe(join(dataDir, 'groups', 'andy'));
    for (const hostile of ['', '.', '..', '../x', 'a/b', 'a\\b', '/etc', '.hidden', 'a\u0000b', 'a\nb', 'x'.repeat(256)]) {
      expect(() => sessionDir(dataDir, hostile, 'sess-1')).toThrow(UnsafePathError);
      expect(() => sessionDir(dataDir, 'ag-andy', hostile)).toThrow(UnsafePathError);
      expect(() => groupDir(dataDir, hostile)).toThrow(UnsafePathError);
    }
    expect(() => sessionDir(dataDir, 'ag-andy', '../../etc')).toThrow(/unsafe session id "..\/..\/etc"/);
  });
});

describe('the outbox: read and removed without following a link', () => {
  const tempDir = useTempDir();
  const session = () => {
    const dir = join(tempDir(), 'session');
    initSessionFolder(dir);
    mkdirSync(join(dir, 'outbox', 'r-1'));
    return dir;
  };

  it('reads regular files into memory', () => {
    const dir = session();
    writeFileSync(join(dir, 'outbox', 'r-1', 'a.txt'), 'A');
    expect(readOutboxFiles(dir, 'r-1', ['a.txt'])).toEqual([{ name: 'a.txt', data: Buffer.from('A') }]);
  });

  it.each([
    ['a symlink', (dir: string) => symlinkSync(join(tempDir(), 'host.txt'), join(dir, 'outbox', 'r-1', 'a.txt'))],
    ['a hard link', (dir: string) => linkSync(join(tempDir(), 'host.txt'), join(dir, 'outbox', 'r-1', 'a.txt'))],
    ['a FIFO', (dir: string) => execFileSync('mkfifo', [join(dir, 'outbox', 'r-1', 'a.txt')])],
    ['a folder', (dir: string) => mkdirSync(join(dir, 'outbox', 'r-1', 'a.txt'))],
  ])('refuses %s as UnsafePathError', (_what, plant) => {
    const dir = session();
    writeFileSync(join(tempDir(), 'host.txt'), 'secret');
    plant(dir);
    expect(() => readOutboxFiles(dir, 'r-1', ['a.txt'])).toThrow(UnsafePathError);
  });

  it('a missing or oversized file is the row’s failure (OutboxFileError), not the folder’s', () => {
    const dir = session();
    expect(() => readOutboxFiles(dir, 'r-1', ['gone.txt'])).toThrow(OutboxFileError);
    expect(() => readOutboxFiles(dir, 'r-2', ['a.txt'])).toThrow(OutboxFileError);
  });

  it('removes a row folder and the links in it, never what they point to; refuses a linked outbox', () => {
    const dir = session();
    const target = join(tempDir(), 'target');
    mkdirSync(join(target, 'inner'), { recursive: true });
    writeFileSync(join(target, 'inner', 'keep.txt'), 'keep');
    mkdirSync(join(dir, 'outbox', 'r-1', 'sub'));
    writeFileSync(join(dir, 'outbox', 'r-1', 'sub', 'x.txt'), 'x');
    symlinkSync(target, join(dir, 'outbox', 'r-1', 'link'));
    symlinkSync(target, join(dir, 'outbox', 'r-1', 'sub', 'link'));
    removeOutboxFolder(dir, 'r-1');
    expect(readdirSync(join(dir, 'outbox'))).toEqual([]);
    expect(readdirSync(join(target, 'inner'))).toEqual(['keep.txt']);

    mkdirSync(join(target, 'r-2'));
    rmSync(join(dir, 'outbox'), { recursive: true });
    symlinkSync('../target', join(dir, 'outbox'));
    expect(() => removeOutboxFolder(dir, 'r-2')).toThrow(UnsafePathError);
    expect(readdirSync(target).sort()).toEqual(['inner', 'r-2']);
  });
});
