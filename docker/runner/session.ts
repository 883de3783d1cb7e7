import { randomUUID } from 'node:crypto';
import { closeSync, openSync, utimesSync } from 'node:fs';
import Database from 'better-sqlite3';

/** A messages_in row as the host wrote it. */
export interface InboundMessage {
  id: string;
  seq: number;
  kind: string;
  timestamp: string;
  process_after: string | null;
  platform_id: string | null;
  channel_type: string | null;
  thread_id: string | null;
  content: string;
}

export interface OutboundRow {
  /** `chat` unless given: `system` rows are actions for the host (spec §5). */
  kind?: 'chat' | 'system';
  inReplyTo: string;
  channelType: string | null;
  platformId: string | null;
  threadId: string | null;
  content: Record<string, unknown>;
}

const open = (path: string, readonly: boolean): Database.Database => {
  const db = new Database(path, { readonly, fileMustExist: true });
  // First: the journal mode switch below may already have to wait for the host's lock.
  db.pragma('busy_timeout = 5000');
  // Both files cross a container mount, where WAL's shared memory does not work (spec §2).
  // A read-only connection cannot switch modes; DELETE is SQLite's default and the host's choice.
  if (!readonly) db.pragma('journal_mode = DELETE');
  return db;
};

/**
 * Now as the session databases hold times: `YYYY-MM-DD HH:MM:SS` in UTC (spec §2), rounded
 * up like the host's, so that a row is never stamped before the moment it was written.
 */
const sessionNow = (): string => new Date(Math.ceil(Date.now() / 1000) * 1000).toISOString().slice(0, 19).replace('T', ' ');

/**
 * The runner's side of the session folder: it only reads inbound.db (the host is its only
 * writer) and is the only writer of outbound.db, taking odd seq numbers there.
 */
export class SessionDatabases {
  private readonly inbound: Database.Database;
  private readonly outbound: Database.Database;

  /** Throws while the host has not yet created both files; the caller tries again. */
  constructor(inboundPath: string, outboundPath: string) {
    this.inbound = open(inboundPath, true);
    try {
      this.outbound = open(outboundPath, false);
    } catch (error) {
      this.inbound.close();
      throw error;
    }
  }

  /**
   * Claims a previous run left as `processing` are released at start: that run is gone.
   * The host cannot write outbound.db, so it never clears them itself; its sweep has set
   * such messages a later process_after (or failed them), which this runner then honours.
   */
  releaseStaleClaims(): number {
    return this.outbound.prepare(`DELETE FROM processing_ack WHERE status = 'processing'`).run().changes;
  }

  /**
   * Pending messages that are due and not yet claimed, oldest first. Due is decided on
   * instants (Date.parse), never on strings: "…+00:00" and "…Z" spell the same instant
   * but do not sort alike (spec §10, time). `YYYY-MM-DD HH:MM:SS`, the session databases'
   * own form (spec §2), is UTC whatever the machine's zone. A process_after that does not
   * parse is never due.
   */
  due(now: number): InboundMessage[] {
    const claimed = new Set(this.outbound.prepare('SELECT message_id FROM processing_ack').pluck().all() as string[]);
    const pending = this.inbound.prepare(`SELECT * FROM messages_in WHERE status = 'pending' ORDER BY seq`).all() as InboundMessage[];
    return pending.filter((m) => !claimed.has(m.id) && (m.process_after === null || Date.parse(m.process_after.replace(/^(\d{4}-\d\d-\d\d) (\d\d:\d\d(:\d\d(\.\d+)?)?)$/, '$1T$2Z')) <= now));
  }

  mark(messageId: string, status: 'processing' | 'completed' | 'failed'): void {
    this.outbound
      .prepare(
        `INSERT INTO processing_ack (message_id, status, status_changed) VALUES (?, ?, ?)
         ON CONFLICT (message_id) DO UPDATE SET status = excluded.status, status_changed = excluded.status_changed`,
      )
      .run(messageId, status, sessionNow());
  }

  /** Writes the rows of one answer together, each with the next odd seq. */
  write(rows: readonly OutboundRow[]): string[] {
    const insert = this.outbound.prepare(
      `INSERT INTO messages_out (id, seq, in_reply_to, timestamp, kind, platform_id, channel_type, thread_id, content)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    // Integers only: SQLite sorts text above every number, so one text seq would poison every later one.
    const maxSeq = this.outbound.prepare("SELECT coalesce(max(seq), 0) FROM messages_out WHERE typeof(seq) = 'integer'").pluck();
    return this.outbound.transaction(() =>
      rows.map((row) => {
        const max = maxSeq.get() as number;
        const id = `out-${randomUUID()}`;
        insert.run(id, max % 2 === 0 ? max + 1 : max + 2, row.inReplyTo, sessionNow(), row.kind ?? 'chat', row.platformId, row.channelType, row.threadId, JSON.stringify(row.content));
        return id;
      }),
    )();
  }

  close(): void {
    this.inbound.close();
    this.outbound.close();
  }
}

/** The liveness signal the host's sweep reads: the file's mtime. */
export function touchHeartbeat(path: string): void {
  const now = new Date();
  try {
    utimesSync(path, now, now);
  } catch {
    closeSync(openSync(path, 'a'));
  }
}
