import { join } from 'node:path';
import Database from 'better-sqlite3';

export interface OutboundInput {
  id: string;
  kind?: string;
  channelType?: string | null;
  platformId?: string | null;
  threadId?: string | null;
  inReplyTo?: string | null;
  deliverAfter?: string | null;
  content: Record<string, unknown> | string;
}

/**
 * Writes messages_out rows into a session folder's outbound.db as a container would: the
 * container is that file's only writer, and it takes odd seq numbers.
 */
export function writeOutbound(sessionDir: string, rows: readonly OutboundInput[]): void {
  const db = new Database(join(sessionDir, 'outbound.db'));
  db.pragma('journal_mode = DELETE');
  db.pragma('busy_timeout = 5000');
  try {
    const max = db.prepare('SELECT coalesce(max(seq), -1) FROM messages_out').pluck().get() as number;
    const insert = db.prepare(
      `INSERT INTO messages_out (id, seq, in_reply_to, timestamp, deliver_after, kind, platform_id, channel_type, thread_id, content)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    db.transaction(() => {
      rows.forEach((row, i) => {
        insert.run(
          row.id,
          max + 2 * (i + 1) + (max % 2 === 0 ? 1 : 0),
          row.inReplyTo ?? null,
          new Date().toISOString(),
          row.deliverAfter ?? null,
          row.kind ?? 'chat',
          row.platformId ?? null,
          row.channelType ?? null,
          row.threadId ?? null,
          typeof row.content === 'string' ? row.content : JSON.stringify(row.content),
        );
      });
    })();
  } finally {
    db.close();
  }
}

/** The `delivered` table of a session's inbound.db, by messages_out id. */
export function deliveredRows(sessionDir: string): Record<string, { status: string; platform_message_id: string | null }> {
  const db = new Database(join(sessionDir, 'inbound.db'), { readonly: true });
  try {
    const rows = db.prepare('SELECT message_out_id, status, platform_message_id FROM delivered').all() as {
      message_out_id: string;
      status: string;
      platform_message_id: string | null;
    }[];
    return Object.fromEntries(rows.map((r) => [r.message_out_id, { status: r.status, platform_message_id: r.platform_message_id }]));
  } finally {
    db.close();
  }
}
