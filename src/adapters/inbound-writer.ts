import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { z } from 'zod';
import { AgentMessageDelivered } from '../events/agent-messages';
import type { RecordedEvent } from '../events/define';
import { DeliveryFailed, DeliverySucceeded } from '../events/delivery';
import { InboundRouted } from '../events/inbound';
import { AgentNotified } from '../events/admin';
import { OutboundDropped } from '../events/outbound';
import { MessageExpired, MessageFailed, MessageRetryScheduled } from '../events/retries';
import { QuestionAnswered } from '../events/questions';
import { TaskCancelled, TaskPaused, TaskResumed, TaskScheduled } from '../events/tasks';
import { saveAttachments } from './attachments';
import { initSessionFolder, nextEvenSeq, openInboundDb, sessionTime, UnsafePathError } from './session-db';

/*
 * The host's writes to inbound.db: the session-folder reactor's (a session's events become
 * rows in one transaction) and the sweep's (the agent's terminal acks copied into
 * messages_in). Kept apart from both (which read the log, the views and the folders on the
 * host's thread) so that they can run in a worker thread: an inbound.db commit costs
 * several fsyncs (rollback journal, synchronous=FULL, as the contract's mount needs) and may
 * wait for the agent's read lock to pass, and on the host's thread every one of them would
 * hold up the next request of every session.
 */

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

/** The event types that change a session's inbound.db. */
export const INBOUND_ROW_EVENT_TYPES: readonly string[] = [
  InboundRouted.type,
  AgentMessageDelivered.type,
  OutboundDropped.type,
  DeliverySucceeded.type,
  DeliveryFailed.type,
  TaskScheduled.type,
  AgentNotified.type,
  MessageRetryScheduled.type,
  MessageFailed.type,
  MessageExpired.type,
  ...TASK_ROW_CHANGES.keys(),
  QuestionAnswered.type,
];

/**
 * Writes a session's events into its folder's inbound.db, all in one transaction, making
 * the folder first if it was lost. Idempotent: a row already there stays as it is.
 */
export function writeSessionEvents(dir: string, events: readonly RecordedEvent[]): void {
  initSessionFolder(dir);
  inOneTransaction(dir, (db) => {
    for (const event of events) apply(event, db, dir);
  });
}

/** The agent's verdict on a message it took, as its processing_ack says. */
export interface Settlement {
  messageId: string;
  status: 'completed' | 'failed';
}

/**
 * Copies the agent's verdicts into messages_in, in one transaction. Only a row still pending
 * changes: one the log has failed, expired, paused or cancelled since the sweep read it keeps
 * what the host wrote for it.
 */
export function settleMessages(dir: string, settlements: readonly Settlement[]): void {
  inOneTransaction(dir, (db) => {
    const settle = db.prepare("UPDATE messages_in SET status = ? WHERE id = ? AND status = 'pending'");
    for (const { messageId, status } of settlements) settle.run(status, messageId);
  });
}

/**
 * Runs write in one BEGIN IMMEDIATE transaction of the folder's inbound.db. While its commit
 * waits (up to busy_timeout) for the agent's reads to end, it holds SQLite's PENDING lock,
 * which lets no new read begin: an agent that reads often cannot starve it. Only one that
 * keeps a read open past busy_timeout fails it, as busy, for the guard to judge.
 */
function inOneTransaction(dir: string, write: (db: Database.Database) => void): void {
  const db = openInboundDb(dir);
  try {
    db.exec('BEGIN IMMEDIATE');
    write(db);
    db.exec('COMMIT');
  } finally {
    if (db.inTransaction) db.exec('ROLLBACK');
    db.close();
  }
}

function apply(event: RecordedEvent, db: Database.Database, dir: string): void {
  if (InboundRouted.is(event)) writeInbound(db, dir, event.data);
  else if (AgentMessageDelivered.is(event)) {
    const { data } = event;
    // The target sees the sender as channel `agent` + its agent group id, which its own map names.
    writeInbound(db, dir, {
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
    writeInbound(db, dir, {
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
    writeInbound(db, dir, { messageId: data.messageId, kind: 'system', timestamp: event.metadata.recordedAt, platformId: null, channelType: null, threadId: null, content: answer });
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
    tellSender(db, dir, data.noticeId, event.metadata.recordedAt, { type: 'notice', text: data.text, ...data.details });
  } else if (OutboundDropped.is(event)) recordOutcome(db, event.data.outboundId, 'dropped', null, event);
  else if (DeliverySucceeded.is(event)) recordOutcome(db, event.data.outboundId, 'delivered', event.data.platformMessageId, event);
  else if (DeliveryFailed.is(event) && event.data.final) {
    const { data } = event;
    recordOutcome(db, data.outboundId, 'failed', null, event);
    tellSender(db, dir, `failed-${data.outboundId}`, event.metadata.recordedAt, {
      type: 'delivery_failed',
      text: `Your message ${data.outboundId} could not be delivered after ${data.attempt} attempt(s): ${data.errorClass}: ${data.error}`,
      messageOutId: data.outboundId,
      errorClass: data.errorClass,
      error: data.error,
    });
  }
}

/** A host notice to the agent, as a chat message from `system` in its own session. */
function tellSender(db: Database.Database, dir: string, noticeId: string, at: string, content: Record<string, unknown>): void {
  writeInbound(db, dir, {
    messageId: `sys-${noticeId}`,
    kind: 'chat',
    timestamp: at,
    platformId: null,
    channelType: null,
    threadId: null,
    content: { sender: 'system', ...content },
  });
}

function writeInbound(db: Database.Database, dir: string, message: InboundRow): void {
  // Checked before anything else so that a replay writes no file and takes no seq.
  if (hasMessage(db, message.messageId)) return;
  const content = saveAttachments(dir, message.messageId, message.content);
  insertMessage(db, message, JSON.stringify(content));
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

/** Where the host's inbound.db writes run: on the host's thread, or in a worker thread. */
export interface InboundWriter {
  write(dir: string, events: readonly RecordedEvent[]): Promise<void>;
  /** Copies the agent's terminal acks into messages_in rows that are still pending. */
  settle(dir: string, settlements: readonly Settlement[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * On the calling thread: for tests from sources and for one-shot commands. A write there
 * waits for an agent's lock for SESSION_DB_BUSY_TIMEOUT_MS at most, then fails as busy.
 */
export const inProcessInboundWriter: InboundWriter = {
  write: async (dir, events) => writeSessionEvents(dir, events),
  settle: async (dir, settlements) => settleMessages(dir, settlements),
  close: async () => undefined,
};

/** A failure as it crosses the thread boundary: what classifySessionFailure needs to judge it. */
export interface WriteFailure {
  name: string;
  message: string;
  code?: string;
  unsafePath: boolean;
}

/** What the writer's thread is asked to write into one session folder's inbound.db. */
export type InboundWrite = { kind: 'events'; events: readonly RecordedEvent[] } | { kind: 'settle'; settlements: readonly Settlement[] };
export type WriterRequest = { id: number; dir: string; write: InboundWrite };
export type WriterReply = { id: number; failure?: WriteFailure };

export function toWriteFailure(error: unknown): WriteFailure {
  const { name, message } = error instanceof Error ? error : new Error(String(error));
  const code = (error as { code?: unknown } | null)?.code;
  return { name, message, ...(typeof code === 'string' && { code }), unsafePath: error instanceof UnsafePathError };
}

/** The error again, on the host's thread: an UnsafePathError stays one, a coded error keeps its code. */
export function fromWriteFailure(failure: WriteFailure): Error {
  if (failure.unsafePath) return new UnsafePathError(failure.message);
  const error = Object.assign(new Error(failure.message), failure.code === undefined ? {} : { code: failure.code });
  error.name = failure.name;
  return error;
}

/** The compiled worker; absent when running from sources (ts-jest), where the writes run in-process. */
const WORKER = join(__dirname, 'inbound-writer-worker.js');

/**
 * One worker thread for every session's inbound.db: the fsyncs of their commits happen
 * there, one after another (one disk), while the host's thread takes the next requests.
 */
export class WorkerInboundWriter implements InboundWriter {
  private readonly pending = new Map<number, { resolve: () => void; reject: (error: unknown) => void }>();
  private nextId = 0;
  private failed: Error | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', ({ id, failure }: WriterReply) => {
      const waiting = this.pending.get(id);
      this.pending.delete(id);
      if (failure) waiting?.reject(fromWriteFailure(failure));
      else waiting?.resolve();
    });
    // A dead worker fails what it held and every later write, which the reactor retries with backoff; the host goes on.
    const fail = (error: Error) => {
      this.failed ??= error;
      for (const waiting of this.pending.values()) waiting.reject(error);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the inbound.db writer thread exited (code ${code})`)));
    worker.unref();
  }

  /** The worker writer when the compiled worker exists, else the in-process one. */
  static startIfBuilt(): InboundWriter {
    return existsSync(WORKER) ? WorkerInboundWriter.start() : inProcessInboundWriter;
  }

  static start(workerFile: string = WORKER): WorkerInboundWriter {
    return new WorkerInboundWriter(new Worker(workerFile));
  }

  write(dir: string, events: readonly RecordedEvent[]): Promise<void> {
    return this.post(dir, { kind: 'events', events });
  }

  settle(dir: string, settlements: readonly Settlement[]): Promise<void> {
    return this.post(dir, { kind: 'settle', settlements });
  }

  private post(dir: string, write: InboundWrite): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, dir, write } satisfies WriterRequest);
    });
  }

  async close(): Promise<void> {
    this.failed ??= new Error('the inbound.db writer is closed');
    await this.worker.terminate();
  }
}
