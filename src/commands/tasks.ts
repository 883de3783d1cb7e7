import { Cron } from 'croner';
import { z } from 'zod';
import { Id, Timestamp } from '../events/primitives';
import { TaskScheduled } from '../events/tasks';
import { defineCommand, newId, reject } from './define';

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
      }),
    ];
  },
);

/**
 * Re-arms a recurring task once an occurrence has completed: the next occurrence after
 * the command's time, as a new row. The command id names the completed occurrence, so
 * it is re-armed once however often the sweep sees it.
 */
export const ScheduleNextOccurrence = defineCommand(
  'ScheduleNextOccurrence',
  z.object({
    sessionId: Id,
    previousMessageId: Id,
    taskId: Id,
    prompt: z.string(),
    script: z.string().nullable(),
    recurrence: Recurrence,
    platformId: z.string().nullable(),
    channelType: z.string().nullable(),
    threadId: z.string().nullable(),
  }),
  (views, command, context) => {
    if (!views.sessions.get(command.sessionId)) return reject('unknown-session', `no session ${command.sessionId}`);
    const processAfter = nextOccurrence(command.recurrence, context.issuedAt);
    if (!processAfter) return reject('never-due', `the recurrence ${command.recurrence} has no occurrence after ${context.issuedAt}`);
    return [TaskScheduled.create({ ...command, messageId: newId('task', context), processAfter })];
  },
);

export const taskCommands = [ScheduleTask, ScheduleNextOccurrence];
