import type Database from 'better-sqlite3';
import { TaskCancelled, TaskPaused, TaskResumed, TaskScheduled } from '../events/tasks';
import { defineProjection } from './runner';

export type TaskStatus = 'active' | 'paused' | 'cancelled';

export interface TaskRow {
  session_id: string;
  message_id: string;
  task_id: string;
  prompt: string;
  script: string | null;
  recurrence: string | null;
  process_after: string;
  platform_id: string | null;
  channel_type: string | null;
  thread_id: string | null;
  previous_message_id: string | null;
  status: TaskStatus;
}

/** Each occurrence of a scheduled task, by the messages_in id it was written under, with its task's status. */
export const tasksProjection = defineProjection({
  name: 'tasks',
  tables: ['tasks'],
  bind(db, on) {
    const insert = db.prepare(
      `INSERT INTO tasks (session_id, message_id, task_id, prompt, script, recurrence, process_after, platform_id, channel_type, thread_id, previous_message_id, status)
       VALUES (@sessionId, @messageId, @taskId, @prompt, @script, @recurrence, @processAfter, @platformId, @channelType, @threadId, @previousMessageId, @status)`,
    );
    on(TaskScheduled, (data) => insert.run({ ...data, status: data.paused === true ? 'paused' : 'active' }));
    const setStatus = db.prepare('UPDATE tasks SET status = ? WHERE session_id = ? AND task_id = ?');
    on(TaskPaused, (data) => setStatus.run('paused', data.sessionId, data.taskId));
    on(TaskResumed, (data) => setStatus.run('active', data.sessionId, data.taskId));
    on(TaskCancelled, (data) => setStatus.run('cancelled', data.sessionId, data.taskId));
  },
});

export class TasksView {
  private readonly byMessage: Database.Statement;
  private readonly byPrevious: Database.Statement;
  private readonly latestOccurrences: Database.Statement;

  constructor(db: Database.Database) {
    this.byMessage = db.prepare('SELECT * FROM tasks WHERE session_id = ? AND message_id = ?');
    this.byPrevious = db.prepare('SELECT * FROM tasks WHERE session_id = ? AND previous_message_id = ?');
    this.latestOccurrences = db.prepare(
      `SELECT * FROM tasks t
       WHERE (@taskId IS NULL OR t.task_id = @taskId) AND (@sessionId IS NULL OR t.session_id = @sessionId)
         AND NOT EXISTS (SELECT 1 FROM tasks n WHERE n.session_id = t.session_id AND n.previous_message_id = t.message_id)
       ORDER BY t.session_id, t.process_after, t.task_id`,
    );
  }

  /** The task the log scheduled as this message of the session; undefined for any other row. */
  occurrence(sessionId: string, messageId: string): TaskRow | undefined {
    return this.byMessage.get(sessionId, messageId) as TaskRow | undefined;
  }

  /** The occurrence scheduled after this one, once it has been re-armed. */
  next(sessionId: string, messageId: string): TaskRow | undefined {
    return this.byPrevious.get(sessionId, messageId) as TaskRow | undefined;
  }

  /** Each task's latest occurrence (the only one that can still be pending), optionally of one task id or one session. */
  latest(filter: { taskId?: string; sessionId?: string } = {}): TaskRow[] {
    return this.latestOccurrences.all({ taskId: filter.taskId ?? null, sessionId: filter.sessionId ?? null }) as TaskRow[];
  }
}
