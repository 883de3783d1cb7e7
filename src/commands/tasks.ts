import { Cron } from 'croner';
import { z } from 'zod';
import { Id, Timestamp } from '../events/primitives';
import { TaskCancelled, TaskPaused, TaskResumed, TaskScheduled } from '../events/tasks';
import type { Views } from '../projections';
import type { TaskRow, TaskStatus } from '../projections/tasks';
import { defineCommand, newId, reject, type CommandContext, type Decision, type Rejection } from './define';

/** A cron expression (five fields, or six with seconds first), read in UTC. */
const Recurrence = z.string().refine((expression) => {
  try {
    new Cron(expression, { timezone: 'UTC' });
    return true;
  } catch {
    return false;
  }
}, 'expected a cron expression: "m h dom mon dow", or with seconds first');

const nextOccurrence = (recurrence: string, after: string): string | undefined =>
  new Cron(recurrence, { timezone: 'UTC' }).nextRun(new Date(after))?.toISOString();

/** Schedules a task row in a session: once at processAfter, or from then on by its cron expression. */
export const ScheduleTask = defineCommand(
  'ScheduleTask',
  z.object({
    sessionId: Id,
    taskId: Id.optional(),
    prompt: z.string().min(1).max(100_000),
    script: z.string().max(100_000).nullable().default(null),
    /** When it first falls due; default: now, or the recurrence's first occurrence. */
    processAfter: Timestamp.optional(),
    recurrence: Recurrence.nullable().default(null),
    platformId: z.string().min(1).nullable().default(null),
    channelType: z.string().min(1).nullable().default(null),
    threadId: z.string().min(1).nullable().default(null),
  }),
  (views, command, context) => {
    const session = views.sessions.get(command.sessionId);
    if (!session) return reject('unknown-session', `no session ${command.sessionId}`);
    // Checked with or without a processAfter: a cron that never fires (31 February) would leave a task that is never re-armed.
    const firstOccurrence = command.recurrence ? nextOccurrence(command.recurrence, context.issuedAt) : undefined;
    if (command.recurrence && !firstOccurrence) return reject('never-due', `the recurrence ${command.recurrence} has no occurrence after ${context.issuedAt}`);
    const processAfter = command.processAfter ?? firstOccurrence ?? context.issuedAt;
    const taskId = command.taskId ?? newId('task', context);
    const chat = session.messaging_group_id ? views.messagingGroups.get(session.messaging_group_id) : undefined;
    return [
      TaskScheduled.create({
        sessionId: session.id,
        messageId: taskId,
        taskId,
        prompt: command.prompt,
        script: command.script,
        processAfter: new Date(processAfter).toISOString(),
        recurrence: command.recurrence,
        // Answers go to the session's own chat unless the task names another.
        platformId: command.platformId ?? chat?.platform_id ?? null,
        channelType: command.channelType ?? chat?.channel_type ?? null,
        threadId: command.threadId ?? session.thread_id,
        previousMessageId: null,
        paused: false,
      }),
    ];
  },
);

/**
 * The next occurrence of the recurring task the log scheduled as previousMessageId, after
 * the command's time. What recurs, and with what prompt, is read from the log's task,
 * never from the row: a session folder is agent-reachable.
 */
export function nextOccurrenceOf(views: Views, sessionId: string, previousMessageId: string, context: CommandContext): Decision {
  const task = views.tasks.occurrence(sessionId, previousMessageId);
  if (!task?.recurrence) return reject('not-recurring', `the log scheduled no recurring task as ${previousMessageId} in session ${sessionId}`);
  if (task.status === 'cancelled') return reject('task-cancelled', `task ${task.task_id} was cancelled: it recurs no more`);
  const next = views.tasks.next(sessionId, previousMessageId);
  if (next) return reject('already-rearmed', `${previousMessageId} was already followed by ${next.message_id}`);
  const processAfter = nextOccurrence(task.recurrence, context.issuedAt);
  if (!processAfter) return reject('never-due', `the recurrence ${task.recurrence} has no occurrence after ${context.issuedAt}`);
  return [
    TaskScheduled.create({
      sessionId,
      messageId: newId('task', context),
      taskId: task.task_id,
      prompt: task.prompt,
      script: task.script,
      processAfter,
      recurrence: task.recurrence,
      platformId: task.platform_id,
      channelType: task.channel_type,
      threadId: task.thread_id,
      previousMessageId,
      // Still re-armed, so that resuming finds an occurrence to run, whichever state its run ended in.
      paused: task.status === 'paused',
    }),
  ];
}

/**
 * Re-arms a recurring task once an occurrence has ended, answered or failed: once, however
 * often the sweep sees it end and whether its agent or the host's retries ended it.
 */
export const ScheduleNextOccurrence = defineCommand('ScheduleNextOccurrence', z.object({ sessionId: Id, previousMessageId: Id }), (views, command, context) => {
  if (!views.sessions.get(command.sessionId)) return reject('unknown-session', `no session ${command.sessionId}`);
  return nextOccurrenceOf(views, command.sessionId, command.previousMessageId, context);
});

/** A task by its id: in one session when given (an agent's own, or the operator's choice), else wherever it is unique. */
const TaskRef = z.object({ taskId: Id, sessionId: Id.optional() });

function findTask(views: Views, command: z.output<typeof TaskRef>): TaskRow | Rejection {
  const found = views.tasks.latest(command);
  const where = command.sessionId ? ` in session ${command.sessionId}` : '';
  if (found.length === 0) return reject('unknown-task', `no task ${command.taskId}${where}`);
  if (found.length > 1) return reject('ambiguous-task', `task ${command.taskId} is in sessions ${found.map((t) => t.session_id).join(', ')}: name one with its session`);
  return found[0]!;
}

/** A change of a task's status (spec §5), allowed only from the statuses given. */
function statusChange<Type extends string>(name: Type, event: typeof TaskPaused | typeof TaskResumed | typeof TaskCancelled, from: readonly TaskStatus[]) {
  return defineCommand(name, TaskRef, (views, command) => {
    const task = findTask(views, command);
    if ('rejected' in task) return task;
    if (!from.includes(task.status)) return reject(`task-${task.status}`, `task ${task.task_id} is ${task.status}: ${name} needs it ${from.join(' or ')}`);
    return [event.create({ sessionId: task.session_id, taskId: task.task_id, messageId: task.message_id })];
  });
}

export const PauseTask = statusChange('PauseTask', TaskPaused, ['active']);
export const ResumeTask = statusChange('ResumeTask', TaskResumed, ['paused']);
export const CancelTask = statusChange('CancelTask', TaskCancelled, ['active', 'paused']);

export const taskCommands = [ScheduleTask, ScheduleNextOccurrence, PauseTask, ResumeTask, CancelTask];
