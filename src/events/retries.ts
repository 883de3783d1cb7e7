import { z } from 'zod';
import { defineEvent } from './define';
import { sessionStream } from './inbound';
import { Id } from './primitives';

/**
 * A message the session's agent had claimed when it died is offered to the agent again
 * at dueAt (spec §7: 5 s × 2^(attempt - 1)). `attempt` counts the runs that ended
 * without an answer, from this event's predecessors in the log, never from inbound.db.
 */
export const MessageRetryScheduled = defineEvent({
  type: 'MessageRetryScheduled',
  version: 1,
  schema: z.object({
    sessionId: Id,
    messageId: Id,
    attempt: z.number().int().positive(),
    dueAt: z.string(),
    /** The container that died holding the claim, and how it ended. */
    incarnationId: Id.nullable(),
    reason: z.string(),
  }),
  stream: (data) => sessionStream(data.sessionId),
});

/** A message whose runs kept ending without an answer is given up: its row becomes `failed`. */
export const MessageFailed = defineEvent({
  type: 'MessageFailed',
  version: 1,
  schema: z.object({
    sessionId: Id,
    messageId: Id,
    attempts: z.number().int().positive(),
    incarnationId: Id.nullable(),
    reason: z.string(),
  }),
  stream: (data) => sessionStream(data.sessionId),
});

/**
 * A host → agent `system` row (spec §2: a question_response) that no agent claimed within
 * ttlMs of falling due: its row becomes `failed`, and it wakes the session no more (spec §10).
 */
export const MessageExpired = defineEvent({
  type: 'MessageExpired',
  version: 1,
  schema: z.object({
    sessionId: Id,
    agentGroupId: Id,
    messageId: Id,
    kind: z.literal('system'),
    /** When the row fell due: written, or its process_after passed. */
    dueAt: z.string(),
    unclaimedMs: z.number().int().nonnegative(),
    ttlMs: z.number().int().positive(),
  }),
  stream: (data) => sessionStream(data.sessionId),
});

export const retryEvents = [MessageRetryScheduled, MessageFailed, MessageExpired];
