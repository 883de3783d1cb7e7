import type Database from 'better-sqlite3';
import { MessageFailed, MessageRetryScheduled } from '../events/retries';
import { defineProjection } from './runner';

export interface MessageRetryRow {
  session_id: string;
  message_id: string;
  status: 'retrying' | 'failed';
  attempts: number;
  due_at: string | null;
  incarnation_id: string | null;
}

/** Per message an agent died holding: how often it was retried, when next, or that it failed. */
export const retriesProjection = defineProjection({
  name: 'message-retries',
  tables: ['message_retries'],
  bind(db, on) {
    const upsert = db.prepare(
      `INSERT INTO message_retries (session_id, message_id, status, attempts, due_at, incarnation_id)
       VALUES (@sessionId, @messageId, @status, @attempts, @dueAt, @incarnationId)
       ON CONFLICT (session_id, message_id) DO UPDATE SET
         status = excluded.status, attempts = excluded.attempts, due_at = excluded.due_at, incarnation_id = excluded.incarnation_id`,
    );
    on(MessageRetryScheduled, (data) => upsert.run({ ...data, status: 'retrying', attempts: data.attempt }));
    on(MessageFailed, (data) => upsert.run({ ...data, status: 'failed', dueAt: null }));
  },
});

export class RetriesView {
  private readonly byMessage: Database.Statement;

  constructor(db: Database.Database) {
    this.byMessage = db.prepare('SELECT * FROM message_retries WHERE session_id = ? AND message_id = ?');
  }

  get(sessionId: string, messageId: string): MessageRetryRow | undefined {
    return this.byMessage.get(sessionId, messageId) as MessageRetryRow | undefined;
  }
}
