import { z } from 'zod';
import { defineEvent } from './define';
import { sessionStream } from './inbound';
import { Id } from './primitives';

/**
 * A scheduled message for a session's agent: a `task` row of messages_in that falls due
 * at processAfter. A recurring one carries its cron expression; each next occurrence is
 * scheduled as a new event when the previous one completes.
 */
export const TaskScheduled = defineEvent({
  type: 'TaskScheduled',
  version: 1,
  schema: z.object({
    sessionId: Id,
    /** The messages_in id of this occurrence. */
    messageId: Id,
    taskId: Id,
    prompt: z.string(),
    script: z.string().nullable(),
    processAfter: z.string(),
    recurrence: z.string().nullable(),
    /** Where answers go by default: the chat the task was scheduled from. */
    platformId: z.string().nullable(),
    channelType: z.string().nullable(),
    threadId: z.string().nullable(),
    /** The occurrence this one follows; null for the first. */
    previousMessageId: Id.nullable(),
    /** Re-armed while its task was paused: the row is written paused, and runs once resumed. */
    paused: z.boolean().default(false),
  }),
  stream: (data) => sessionStream(data.sessionId),
});

/** The task and the one occurrence of it that can still be pending (the latest). */
const TaskChange = z.object({ sessionId: Id, taskId: Id, messageId: Id });
const taskChange = <Type extends string>(type: Type) => defineEvent({ type, version: 1, schema: TaskChange, stream: (data) => sessionStream(data.sessionId) });

/** Its pending occurrence waits, and is not re-armed to run, until the task is resumed (spec §5 pause_task). */
export const TaskPaused = taskChange('TaskPaused');
/** Its paused occurrence is pending again (spec §5 resume_task). */
export const TaskResumed = taskChange('TaskResumed');
/** Its pending or paused occurrence is completed unrun, and it never recurs again (spec §5 cancel_task). */
export const TaskCancelled = taskChange('TaskCancelled');

export const taskEvents = [TaskScheduled, TaskPaused, TaskResumed, TaskCancelled];
