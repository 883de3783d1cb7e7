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
  }),
  stream: (data) => sessionStream(data.sessionId),
});

export const taskEvents = [TaskScheduled];
