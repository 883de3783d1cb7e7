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
import { MessageExpired, MessageFailed, MessageRetryScheduled } from '../events/retries';
import { QuestionAnswered } from '../events/questions';
import { TaskCancelled, TaskPaused, TaskResumed, TaskScheduled } from '../events/tasks';
import type { Core } from '../core';
import { SessionReleased } from '../events/quarantine';
import type { Logger } from '../logger';
import { saveAttachments } from './attachments';
import { SessionGuard } from './session-guard';
import type { Reactor } from './reactor';
import { ensureConfinedDir, groupDir, initSessionFolder, nextEvenSeq, openInboundDb, refusingUnsafePaths, sessionDir, sessionTime, writeFileAtomic } from './session-db';

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
  /** Default `pending`; `paused` for an occurrence of a paused task. */
  status?: 'pending' | 'paused';
}

/** Spec §5: pause_task pending → paused, resume_task paused → pending, cancel_task pending|paused → completed. */
const TASK_ROW_CHANGES = new Map<string, { to: string; from: string[] }>([
  [TaskPaused.type, { to: 'paused', from: ['pending'] }],
  [TaskResumed.type, { to: 'pending', from: ['paused'] }],
  [TaskCancelled.type, { to: 'completed', from: ['pending', 'paused'] }],
]);

export interface SessionFolderOptions {
  logger?: Logger;
  /** The failure policy shared with the other components that touch session folders. */
  guard?: SessionGuard;
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
    SessionReleased.type,
    MessageRetryScheduled.type,
    MessageFailed.type,
    MessageExpired.type,
    ...TASK_ROW_CHANGES.keys(),
    QuestionAnswered.type,
  ]);

  private readonly guard: SessionGuard;

  constructor(
    private readonly dataDir: string,
    private readonly core: Pick<Core, 'views' | 'bus' | 'store'>,
    private readonly options: SessionFolderOptions = {},
  ) {
    this.guard = options.guard ?? new SessionGuard(core, options.logger ? { logger: options.logger } : {});
  }

  /**
   * One inbound.db transaction per session per batch (each commit there costs fsyncs), each
   * session on its own: a session whose folder is busy gives its events back to be retried,
   * a tampered one is quarantined, and the others are written either way.
   */
  handleBatch(events: readonly RecordedEvent[]): RecordedEvent[] {
    const bySession = new Map<string, RecordedEvent[]>();
    for (const event of events) {
      const sessionId = sessionOf(event);
      if (sessionId === undefined) this.applyToGroupFolder(event);
      else {
        const sessionEvents = bySession.get(sessionId);
        if (sessionEvents) sessionEvents.push(event);
        else bySession.set(sessionId, [event]);
      }
    }
    const deferred: RecordedEvent[] = [];
    for (const [sessionId, sessionEvents] of bySession) {
      const first = sessionEvents[0]!;
      const evidence = { eventType: first.type, position: first.position };
      const outcome = this.guard.run(sessionId, this.name, evidence, () => this.applyToSession(sessionId, sessionEvents));
      if (outcome.status === 'retry-later') deferred.push(...sessionEvents);
    }
    return deferred.sort((a, b) => a.position - b.position);
  }

  private applyToGroupFolder(event: RecordedEvent): void {
    refusingUnsafePaths(
      () => {
        if (AgentGroupCreated.is(event)) mkdirSync(groupDir(this.dataDir, event.data.folder), { recursive: true });
        else if (AgentInstructionsSet.is(event)) {
          const group = this.core.views.agentGroups.getIncludingDeleted(event.data.agentGroupId);
          if (group) writeFileAtomic(join(ensureConfinedDir(join(this.dataDir, 'groups'), group.folder), 'CLAUDE.md'), event.data.instructions);
        }
      },
      (error) =>
        this.options.logger?.error({ err: error, event: event.type, position: event.position, correlationId: event.metadata.correlationId }, 'group folder refused: event skipped'),
    );
  }

  /** A released session is written anew from its whole history: every write is idempotent, so what is there already stays. */
  private applyToSession(sessionId: string, events: readonly RecordedEvent[]): void {
    const session = this.core.views.sessions.get(sessionId);
    if (!session) return;
    const dir = sessionDir(this.dataDir, session.agent_group_id, sessionId);
    // SessionOpened made the folder, unless it was lost since; a message must not be.
    initSessionFolder(dir);
    const db = openInboundDb(dir);
    try {
      db.exec('BEGIN IMMEDIATE');
      for (const event of events) {
        if (SessionReleased.is(event)) for (const earlier of this.history(sessionId, event.position)) this.apply(earlier, db, dir);
        else this.apply(event, db, dir);
      }
      db.exec('COMMIT');
    } finally {
      if (db.inTransaction) db.exec('ROLLBACK');
      db.close();
    }
  }

  /** The events before `position` that concern this session's folder, oldest first. */
  private history(sessionId: string, position: number): RecordedEvent[] {
    const types = [...this.handles].filter((type) => type !== SessionReleased.type);
    return [...this.core.store.readAll({ type: types, until: position })].filter((event) => sessionOf(event) === sessionId);
  }

  private apply(event: RecordedEvent, db: Database.Database, dir: string): void {
    if (InboundRouted.is(event)) this.writeInbound(db, dir, event.data);
    else if (AgentMessageDelivered.is(event)) {
      const { data } = event;
      // The target sees the sender as channel `agent` + its agent group id, which its own map names.
      this.writeInbound(db, dir, {
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
      this.writeInbound(db, dir, {
        messageId: data.messageId,
        kind: 'task',
        timestamp: event.metadata.recordedAt,
        platformId: data.platformId,
        channelType: data.channelType,
        threadId: data.threadId,
        content: { taskId: data.taskId, prompt: data.prompt, script: data.script },
        processAfter: sessionTime(data.processAfter),
        recurrence: data.recurrence,
        status: data.paused === true ? 'paused' : 'pending',
      });
    } else if (TASK_ROW_CHANGES.has(event.type)) {
      const { to, from } = TASK_ROW_CHANGES.get(event.type)!;
      const { messageId } = event.data as { messageId: string };
      db.prepare(`UPDATE messages_in SET status = ? WHERE id = ? AND status IN (${from.map(() => '?').join(', ')})`).run(to, messageId, ...from);
    } else if (QuestionAnswered.is(event)) {
      const { data } = event;
      // Compact JSON with the keys in the spec's order (§2): the reference runner matches on it.
      const answer = { type: 'question_response', questionId: data.questionId, selectedOption: data.selectedOption, userId: data.userId };
      this.writeInbound(db, dir, { messageId: data.messageId, kind: 'system', timestamp: event.metadata.recordedAt, platformId: null, channelType: null, threadId: null, content: answer });
    } else if (MessageRetryScheduled.is(event)) {
      const { data } = event;
      db.prepare('UPDATE messages_in SET tries = ?, process_after = ? WHERE id = ? AND status = ?').run(data.attempt, sessionTime(data.dueAt), data.messageId, 'pending');
    } else if (MessageFailed.is(event)) {
      const { data } = event;
      db.prepare('UPDATE messages_in SET tries = ?, status = ? WHERE id = ? AND status = ?').run(data.attempts, 'failed', data.messageId, 'pending');
    } else if (MessageExpired.is(event)) {
      // `failed`, not `completed`: no agent handled it, and an operator reading the folder should not think one did.
      db.prepare('UPDATE messages_in SET status = ? WHERE id = ? AND status = ?').run('failed', event.data.messageId, 'pending');
    } else if (AgentNotified.is(event)) {
      const { data } = event;
      this.tellSender(db, dir, data.noticeId, event.metadata.recordedAt, { type: 'notice', text: data.text, ...data.details });
    } else if (OutboundDropped.is(event)) recordOutcome(db, event.data.outboundId, 'dropped', null, event);
    else if (DeliverySucceeded.is(event)) recordOutcome(db, event.data.outboundId, 'delivered', event.data.platformMessageId, event);
    else if (DeliveryFailed.is(event) && event.data.final) {
      const { data } = event;
      recordOutcome(db, data.outboundId, 'failed', null, event);
      this.tellSender(db, dir, `failed-${data.outboundId}`, event.metadata.recordedAt, {
        type: 'delivery_failed',
        text: `Your message ${data.outboundId} could not be delivered after ${data.attempt} attempt(s): ${data.errorClass}: ${data.error}`,
        messageOutId: data.outboundId,
        errorClass: data.errorClass,
        error: data.error,
      });
    }
  }

  /** A host notice to the agent, as a chat message from `system` in its own session. */
  private tellSender(db: Database.Database, dir: string, noticeId: string, at: string, content: Record<string, unknown>): void {
    this.writeInbound(db, dir, {
      messageId: `sys-${noticeId}`,
      kind: 'chat',
      timestamp: at,
      platformId: null,
      channelType: null,
      threadId: null,
      content: { sender: 'system', ...content },
    });
  }

  private writeInbound(db: Database.Database, dir: string, message: InboundRow): void {
    // Checked before anything else so that a replay writes no file and takes no seq.
    if (hasMessage(db, message.messageId)) return;
    const content = saveAttachments(dir, message.messageId, message.content);
    insertMessage(db, message, JSON.stringify(content));
  }
}

/** The session whose folder an event is written to; undefined for the agent group's folder. */
function sessionOf(event: RecordedEvent): string | undefined {
  if (AgentMessageDelivered.is(event)) return event.data.targetSessionId;
  if (AgentGroupCreated.is(event) || AgentInstructionsSet.is(event)) return undefined;
  return (event.data as { sessionId?: string }).sessionId;
}

/** The `delivered` table of the sending session's inbound.db holds each row's final outcome. */
function recordOutcome(db: Database.Database, outboundId: string, status: 'delivered' | 'dropped' | 'failed', platformMessageId: string | null, event: RecordedEvent): void {
  db.prepare(
    `INSERT INTO delivered (message_out_id, platform_message_id, status, delivered_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (message_out_id) DO UPDATE SET platform_message_id = excluded.platform_message_id, status = excluded.status, delivered_at = excluded.delivered_at`,
  ).run(outboundId, platformMessageId, status, sessionTime(event.metadata.recordedAt));
}

const hasMessage = (db: Database.Database, id: string): boolean =>
  db.prepare('SELECT 1 FROM messages_in WHERE id = ?').get(id) !== undefined;

/**
 * ON CONFLICT (id) is INSERT OR IGNORE narrowed to the one conflict that means "already
 * written": a clash on seq would be a bug, and must fail rather than lose the message.
 */
function insertMessage(db: Database.Database, message: InboundRow, content: string): void {
  db.prepare(
    `INSERT INTO messages_in (id, seq, kind, timestamp, status, process_after, recurrence, platform_id, channel_type, thread_id, content)
     VALUES (@id, @seq, @kind, @timestamp, @status, @processAfter, @recurrence, @platformId, @channelType, @threadId, @content)
     ON CONFLICT (id) DO NOTHING`,
  ).run({
    id: message.messageId,
    seq: nextEvenSeq(db),
    kind: message.kind,
    timestamp: sessionTime(message.timestamp),
    status: message.status ?? 'pending',
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
