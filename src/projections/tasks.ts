import type Database from 'better-sqlite3';
import { TaskScheduled } from '../events/tasks';
import { defineProjection } from './runner';

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
}

/** Each occurrence of a scheduled task, by the messages_in id it was written under. */
export const tasksProjection = defineProjection({
  name: 'tasks',
  tables: ['tasks'],
  bind(db, on) {
    const insert = db.prepare(
      `INSERT INTO tasks (session_id, message_id, task_id, prompt, script, recurrence, process_after, platform_id, channel_type, thread_id, previous_message_id)
       VALUES (@sessionId, @messageId, @taskId, @prompt, @script, @recurrence, @processAfter, @platformId, @channelType, @threadId, @previousMessageId)`,
    );
    on(TaskScheduled, (data) => insert.run(data));
  },
});

export class TasksView {
  private readonly byMessage: Database.Statement;
  private readonly byPrevious: Database.Statement;

  constructor(db: Database.Database) {
    this.byMessage = db.prepare('SELECT * FROM tasks WHERE session_id = ? AND message_id = ?');
    this.byPrevious = db.prepare('SELECT * FROM tasks WHERE session_id = ? AND previous_message_id = ?');
  }

  /** The task the log scheduled as this message of the session; undefined for any other row. */
  occurrence(sessionId: string, messageId: string): TaskRow | undefined {
    return this.byMessage.get(sessionId, messageId) as TaskRow | undefined;
  }

  /** The occurrence scheduled after this one, once it has been re-armed. */
  next(sessionId: string, messageId: string): TaskRow | undefined {
    return this.byPrevious.get(sessionId, messageId) as TaskRow | undefined;
  }
}
