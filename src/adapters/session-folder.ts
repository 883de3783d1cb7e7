import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import type { z } from 'zod';
import { AgentGroupCreated } from '../events/agent-groups';
import { AgentMessageDelivered } from '../events/agent-messages';
import type { RecordedEvent } from '../events/define';
import { DeliveryFailed, DeliverySucceeded } from '../events/delivery';
import { InboundRouted, SessionOpened } from '../events/inbound';
import { AgentInstructionsSet, AgentNotified } from '../events/admin';
import { OutboundDropped } from '../events/outbound';
import { MessageFailed, MessageRetryScheduled } from '../events/retries';
import { TaskScheduled } from '../events/tasks';
import type { Views } from '../projections';
import type { Logger } from '../logger';
import { saveAttachments } from './attachments';
import type { Reactor } from './reactor';
import { ensureConfinedDir, groupDir, initSessionFolder, nextEvenSeq, openInboundDb, refusingUnsafePaths, sessionDir, writeFileAtomic } from './session-db';

/** A messages_in row as the host writes it. */
interface InboundRow {
  messageId: string;
  kind: string;
  timestamp: string;
  platformId: string | null;
  channelType: string | null;
  threadId: string | null;
  content: z.output<typeof InboundRouted.schema>['content'];
  /** Scheduled rows only: when it falls due, and its cron expression if it recurs. */
  processAfter?: string;
  recurrence?: string | null;
}

export interface SessionFolderOptions {
  logger?: Logger;
}

/**
 * Materializes the folders of the log: groups/<folder> for each agent group, the session
 * folder with its databases for each session, and each routed message as a messages_in
 * row. Everything it does is idempotent, because after a restart it sees events again.
 */
export class SessionFolderReactor implements Reactor {
  readonly name = 'session-folder';
  readonly handles: ReadonlySet<string> = new Set([
    AgentGroupCreated.type,
    SessionOpened.type,
    InboundRouted.type,
    AgentMessageDelivered.type,
    OutboundDropped.type,
    DeliverySucceeded.type,
    DeliveryFailed.type,
    TaskScheduled.type,
    AgentNotified.type,
    AgentInstructionsSet.type,
    MessageRetryScheduled.type,
    MessageFailed.type,
  ]);

  constructor(
    private readonly dataDir: string,
    private readonly views: Pick<Views, 'sessions' | 'agentGroups'>,
    private readonly options: SessionFolderOptions = {},
  ) {}

  /** inbound.db of each session the current batch writes to, each inside one transaction. */
  private readonly batchDbs = new Map<string, Database.Database>();

  /** One inbound.db transaction per session per batch: each commit there costs fsyncs. */
  handleBatch(events: readonly RecordedEvent[]): void {
    let committed = false;
    try {
      for (const event of events) this.handle(event);
      for (const db of this.batchDbs.values()) db.exec('COMMIT');
      committed = true;
    } finally {
      for (const db of this.batchDbs.values()) {
        if (!committed && db.inTransaction) db.exec('ROLLBACK');
        db.close();
      }
      this.batchDbs.clear();
    }
  }

  /** The session's inbound.db within this batch's transaction, creating the folder if it was lost. */
  private inboundDb(dir: string): Database.Database {
    let db = this.batchDbs.get(dir);
    if (!db) {
      initSessionFolder(dir);
      db = openInboundDb(dir);
      this.batchDbs.set(dir, db);
      db.exec('BEGIN IMMEDIATE');
    }
    return db;
  }

  private handle(event: RecordedEvent): void {
    refusingUnsafePaths(
      () => this.apply(event),
      (error) =>
        this.options.logger?.error(
          { err: error, event: event.type, position: event.position, correlationId: event.metadata.correlationId },
          'session folder refused: event skipped',
        ),
    );
  }

  private apply(event: RecordedEvent): void {
    if (AgentGroupCreated.is(event)) mkdirSync(groupDir(this.dataDir, event.data.folder), { recursive: true });
    else if (SessionOpened.is(event)) initSessionFolder(sessionDir(this.dataDir, event.data.agentGroupId, event.data.sessionId));
    else if (InboundRouted.is(event)) this.writeInbound(event.data.agentGroupId, event.data.sessionId, event.data);
    else if (AgentMessageDelivered.is(event)) {
      const { data } = event;
      // The target sees the sender as channel `agent` + its agent group id, which its own map names.
      this.writeInbound(data.targetAgentGroupId, data.targetSessionId, {
        messageId: data.messageId,
        kind: 'chat',
        timestamp: data.timestamp,
        platformId: data.sourceAgentGroupId,
        channelType: 'agent',
        threadId: null,
        content: parseContent(data.content),
      });
    } else if (TaskScheduled.is(event)) {
      const { data } = event;
      const session = this.views.sessions.get(data.sessionId);
      if (!session) return;
      this.writeInbound(session.agent_group_id, data.sessionId, {
        messageId: data.messageId,
        kind: 'task',
        timestamp: event.metadata.recordedAt,
        platformId: data.platformId,
        channelType: data.channelType,
        threadId: data.threadId,
        content: { taskId: data.taskId, prompt: data.prompt, script: data.script },
        processAfter: data.processAfter,
        recurrence: data.recurrence,
      });
    } else if (MessageRetryScheduled.is(event)) {
      const { data } = event;
      this.runInbound(data.sessionId, 'UPDATE messages_in SET tries = ?, process_after = ? WHERE id = ? AND status = ?', data.attempt, sessionTime(data.dueAt), data.messageId, 'pending');
    } else if (MessageFailed.is(event)) {
      const { data } = event;
      this.runInbound(data.sessionId, 'UPDATE messages_in SET tries = ?, status = ? WHERE id = ? AND status = ?', data.attempts, 'failed', data.messageId, 'pending');
    } else if (AgentNotified.is(event)) {
      const { data } = event;
      this.tellSender(data.sessionId, data.noticeId, event.metadata.recordedAt, { type: 'notice', text: data.text, ...data.details });
    } else if (AgentInstructionsSet.is(event)) {
      const group = this.views.agentGroups.getIncludingDeleted(event.data.agentGroupId);
      if (group) writeFileAtomic(join(ensureConfinedDir(join(this.dataDir, 'groups'), group.folder), 'CLAUDE.md'), event.data.instructions);
    } else if (OutboundDropped.is(event)) this.recordOutcome(event.data.sessionId, event.data.outboundId, 'dropped', null, event);
    else if (DeliverySucceeded.is(event)) this.recordOutcome(event.data.sessionId, event.data.outboundId, 'delivered', event.data.platformMessageId, event);
    else if (DeliveryFailed.is(event) && event.data.final) {
      const { data } = event;
      this.recordOutcome(data.sessionId, data.outboundId, 'failed', null, event);
      this.tellSender(data.sessionId, `failed-${data.outboundId}`, event.metadata.recordedAt, {
        type: 'delivery_failed',
        text: `Your message ${data.outboundId} could not be delivered after ${data.attempt} attempt(s): ${data.errorClass}: ${data.error}`,
        messageOutId: data.outboundId,
        errorClass: data.errorClass,
        error: data.error,
      });
    }
  }

  /** One statement on a session's inbound.db within this batch; nothing for a session the log does not know. */
  private runInbound(sessionId: string, sql: string, ...values: Array<string | number>): void {
    const session = this.views.sessions.get(sessionId);
    if (session) this.inboundDb(sessionDir(this.dataDir, session.agent_group_id, sessionId)).prepare(sql).run(...values);
  }

  /** The `delivered` table of the sending session's inbound.db holds each row's final outcome. */
  private recordOutcome(sessionId: string, outboundId: string, status: 'delivered' | 'dropped' | 'failed', platformMessageId: string | null, event: RecordedEvent): void {
    const session = this.views.sessions.get(sessionId);
    if (!session) return;
    this.inboundDb(sessionDir(this.dataDir, session.agent_group_id, sessionId))
      .prepare(
        `INSERT INTO delivered (message_out_id, platform_message_id, status, delivered_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (message_out_id) DO UPDATE SET platform_message_id = excluded.platform_message_id, status = excluded.status, delivered_at = excluded.delivered_at`,
      )
      .run(outboundId, platformMessageId, status, event.metadata.recordedAt);
  }

  /** A host notice to the agent, as a chat message from `system` in its own session. */
  private tellSender(sessionId: string, noticeId: string, at: string, content: Record<string, unknown>): void {
    const session = this.views.sessions.get(sessionId);
    if (!session) return;
    this.writeInbound(session.agent_group_id, sessionId, {
      messageId: `sys-${noticeId}`,
      kind: 'chat',
      timestamp: at,
      platformId: null,
      channelType: null,
      threadId: null,
      content: { sender: 'system', ...content },
    });
  }

  private writeInbound(agentGroupId: string, sessionId: string, message: InboundRow): void {
    const dir = sessionDir(this.dataDir, agentGroupId, sessionId);
    // SessionOpened made the folder, unless it was lost since; a message must not be.
    const db = this.inboundDb(dir);
    // Checked before anything else so that a replay writes no file and takes no seq.
    if (hasMessage(db, message.messageId)) return;
    const content = saveAttachments(dir, message.messageId, message.content);
    insertMessage(db, message, JSON.stringify(content));
  }
}

/**
 * `YYYY-MM-DD HH:MM:SS` in UTC, rounded up to the second so that it is never earlier than
 * the log's time: the reference runner compares process_after as a string with datetime('now') (spec §2).
 */
const sessionTime = (iso: string): string => new Date(Math.ceil(Date.parse(iso) / 1000) * 1000).toISOString().slice(0, 19).replace('T', ' ');

const hasMessage = (db: Database.Database, id: string): boolean =>
  db.prepare('SELECT 1 FROM messages_in WHERE id = ?').get(id) !== undefined;

/**
 * ON CONFLICT (id) is INSERT OR IGNORE narrowed to the one conflict that means "already
 * written": a clash on seq would be a bug, and must fail rather than lose the message.
 */
function insertMessage(db: Database.Database, message: InboundRow, content: string): void {
  db.prepare(
    `INSERT INTO messages_in (id, seq, kind, timestamp, status, process_after, recurrence, platform_id, channel_type, thread_id, content)
     VALUES (@id, @seq, @kind, @timestamp, 'pending', @processAfter, @recurrence, @platformId, @channelType, @threadId, @content)
     ON CONFLICT (id) DO NOTHING`,
  ).run({
    id: message.messageId,
    seq: nextEvenSeq(db),
    kind: message.kind,
    timestamp: message.timestamp,
    processAfter: message.processAfter ?? null,
    recurrence: message.recurrence ?? null,
    platformId: message.platformId,
    channelType: message.channelType,
    threadId: message.threadId,
    content,
  });
}

/** Agent content is a JSON object by contract; anything else is passed on as its text. */
function parseContent(content: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(content);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // fall through: not JSON
  }
  return { text: content };
}
