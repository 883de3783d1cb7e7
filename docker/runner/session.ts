import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, openSync, utimesSync } from 'node:fs';
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
  inReplyTo: string;
  channelType: string | null;
  platformId: string | null;
  threadId: string | null;
  content: Record<string, unknown>;
}

const open = (path: string, readonly: boolean): Database.Database => {
  const db = new Database(path, { readonly, fileMustExist: true });
  // Both files cross a container mount: no WAL (spec §2).
  if (!readonly) db.pragma('journal_mode = DELETE');
  db.pragma('busy_timeout = 5000');
  return db;
};

/**
 * The runner's side of the session folder: it only reads inbound.db (the host is its only
 * writer) and is the only writer of outbound.db, taking odd seq numbers there.
 */
export class SessionDatabases {
  private readonly inbound: Database.Database;
  private readonly outbound: Database.Database;

  constructor(
    inboundPath: string,
    outboundPath: string,
    private readonly heartbeatPath: string,
  ) {
    this.inbound = open(inboundPath, true);
    this.outbound = open(outboundPath, false);
  }

  static ready(inboundPath: string, outboundPath: string): boolean {
    return existsSync(inboundPath) && existsSync(outboundPath);
  }

  /**
   * Claims a previous run left as `processing` are released: that run is gone, and the
   * host has already scheduled those messages for a retry (or given up on them).
   */
  releaseStaleClaims(): number {
    return this.outbound.prepare(`DELETE FROM processing_ack WHERE status = 'processing'`).run().changes;
  }

  /** Pending messages that are due (compared as instants) and not yet claimed, oldest first. */
  due(now: number): InboundMessage[] {
    const claimed = new Set(this.outbound.prepare('SELECT message_id FROM processing_ack').pluck().all() as string[]);
    const pending = this.inbound.prepare(`SELECT * FROM messages_in WHERE status = 'pending' ORDER BY seq`).all() as InboundMessage[];
    return pending.filter((m) => !claimed.has(m.id) && (m.process_after === null || Date.parse(m.process_after) <= now));
  }

  mark(messageId: string, status: 'processing' | 'completed' | 'failed'): void {
    this.outbound
      .prepare(
        `INSERT INTO processing_ack (message_id, status, status_changed) VALUES (?, ?, ?)
         ON CONFLICT (message_id) DO UPDATE SET status = excluded.status, status_changed = excluded.status_changed`,
      )
      .run(messageId, status, new Date().toISOString());
  }

  /** Writes the rows of one answer together, each with the next odd seq. */
  write(rows: readonly OutboundRow[]): string[] {
    const insert = this.outbound.prepare(
      `INSERT INTO messages_out (id, seq, in_reply_to, timestamp, kind, platform_id, channel_type, thread_id, content)
       VALUES (?, ?, ?, ?, 'chat', ?, ?, ?, ?)`,
    );
    const maxSeq = this.outbound.prepare('SELECT coalesce(max(seq), 0) FROM messages_out').pluck();
    return this.outbound.transaction(() =>
      rows.map((row) => {
        const max = maxSeq.get() as number;
        const id = `out-${randomUUID()}`;
        insert.run(id, max % 2 === 0 ? max + 1 : max + 2, row.inReplyTo, new Date().toISOString(), row.platformId, row.channelType, row.threadId, JSON.stringify(row.content));
        return id;
      }),
    )();
  }

  /** The liveness signal the host's sweep reads: the file's mtime. */
  touchHeartbeat(): void {
    const now = new Date();
    try {
      utimesSync(this.heartbeatPath, now, now);
    } catch {
      closeSync(openSync(this.heartbeatPath, 'a'));
    }
  }

  close(): void {
    this.inbound.close();
    this.outbound.close();
  }
}
