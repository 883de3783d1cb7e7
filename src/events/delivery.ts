import { z } from 'zod';
import { defineEvent } from './define';
import { sessionStream } from './inbound';
import { Id } from './primitives';

/** Recorded before the channel (or the target session) is called, so attempts survive a restart. */
export const DeliveryAttempted = defineEvent({
  type: 'DeliveryAttempted',
  version: 1,
  schema: z.object({ sessionId: Id, outboundId: z.string(), attempt: z.number().int().min(1) }),
  stream: (data) => sessionStream(data.sessionId),
});

export const DeliverySucceeded = defineEvent({
  type: 'DeliverySucceeded',
  version: 1,
  schema: z.object({
    sessionId: Id,
    outboundId: z.string(),
    attempt: z.number().int().min(1),
    /** The platform's id for the sent message; for agent targets, the target's messages_in id. */
    platformMessageId: z.string().nullable(),
  }),
  stream: (data) => sessionStream(data.sessionId),
});

export const DeliveryFailed = defineEvent({
  type: 'DeliveryFailed',
  version: 1,
  schema: z.object({
    sessionId: Id,
    outboundId: z.string(),
    attempt: z.number().int().min(1),
    errorClass: z.string(),
    error: z.string(),
    /** The last attempt: the row is failed for good and the sending agent is told. */
    final: z.boolean(),
  }),
  stream: (data) => sessionStream(data.sessionId),
});

export const deliveryEvents = [DeliveryAttempted, DeliverySucceeded, DeliveryFailed];
