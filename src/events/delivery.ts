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
    /** The platform's id for the sent message (its first part when split); for agent targets, the target's messages_in id. */
    platformMessageId: z.string().nullable(),
    /**
     * When the platform took the message in parts (a text over its size limit), each part's
     * id in order. Optional, so the events written before it still read as they are.
     */
    platformMessageIds: z.array(z.string()).min(2).optional(),
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

/** What a platform's request to wait was, within which attempt: the same for a delivery and an approval card. */
export const RateLimit = {
  attempt: z.number().int().min(1),
  /** What the platform asked for; the host may wait less long if that is over its cap. */
  retryAfterMs: z.number().int().min(0),
  errorClass: z.string().min(1),
  error: z.string(),
};

/**
 * The platform asked to be called again later (a 429 with retry-after) during an attempt.
 * Not a failure: the attempt stays open, the host waits and calls again within it, so a
 * rate limit never uses up the attempts. Recorded so that the wait is a fact an operator
 * can read (`explain`, `deliveries list`), not a silence.
 */
export const DeliveryRateLimited = defineEvent({
  type: 'DeliveryRateLimited',
  version: 1,
  schema: z.object({ sessionId: Id, outboundId: z.string(), ...RateLimit }),
  stream: (data) => sessionStream(data.sessionId),
});

/**
 * An operator asked for a failed delivery to be tried again: a new series of attempts
 * starts after the ones already made (which stay counted in the log), under the same
 * idempotency key. The operator is the event's actor.
 */
export const DeliveryRetryRequested = defineEvent({
  type: 'DeliveryRetryRequested',
  version: 1,
  schema: z.object({
    sessionId: Id,
    outboundId: z.string(),
    /** Attempts made before this series; the new series counts its own from here. */
    previousAttempts: z.number().int().min(0),
  }),
  stream: (data) => sessionStream(data.sessionId),
});

export const deliveryEvents = [DeliveryAttempted, DeliverySucceeded, DeliveryFailed, DeliveryRateLimited, DeliveryRetryRequested];
