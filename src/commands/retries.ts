import { z } from 'zod';
import { Id, Timestamp } from '../events/primitives';
import { MessageExpired, MessageFailed, MessageRetryScheduled } from '../events/retries';
import { defineCommand, isRejection, reject } from './define';
import { nextOccurrenceOf } from './tasks';

/** A run that ends without an answer is retried after 5 s × 2^(runs before it), and the 5th such run fails the message (spec §7). */
export const RETRY_BASE_MS = 5_000;
export const MAX_TRIES = 5;

/**
 * A message the session's agent claimed and never answered, because that agent is gone:
 * offered again later, or failed once it has had its tries. The sweep names the dead
 * container in the command id, so each death is judged once however often it is seen;
 * the count comes from the log.
 */
export const RetryAbandonedMessage = defineCommand(
  'RetryAbandonedMessage',
  z.object({
    sessionId: Id,
    messageId: Id,
    /** The container that held the claim; null when the log knows of none. */
    incarnationId: Id.nullable(),
  }),
  (views, command, context) => {
    if (!views.sessions.get(command.sessionId)) return reject('unknown-session', `no session ${command.sessionId}`);
    const previous = views.retries.get(command.sessionId, command.messageId);
    if (previous?.status === 'failed') return reject('already-failed', `message ${command.messageId} already failed after ${previous.attempts} tries`);
    if (previous?.due_at && Date.parse(previous.due_at) > Date.parse(context.issuedAt)) {
      return reject('retry-not-due', `message ${command.messageId} is already to be retried at ${previous.due_at}`);
    }
    const container = views.containers.get(command.sessionId);
    const reason =
      container && container.incarnation_id === command.incarnationId
        ? `container ${container.status}${container.stop_reason ? ` (${container.stop_reason})` : ''}`
        : 'no agent running';
    const tries = (previous?.attempts ?? 0) + 1;
    if (tries >= MAX_TRIES) {
      // A failed occurrence of a recurring task still has a next one.
      const next = nextOccurrenceOf(views, command.sessionId, command.messageId, context);
      return [MessageFailed.create({ ...command, attempts: tries, reason }), ...(isRejection(next) ? [] : next)];
    }
    const dueAt = new Date(Date.parse(context.issuedAt) + RETRY_BASE_MS * 2 ** (tries - 1)).toISOString();
    return [MessageRetryScheduled.create({ ...command, attempt: tries, dueAt, reason })];
  },
);

/**
 * How long a `system` row may wait unclaimed (spec §10): an agent waiting for a question's
 * answer takes it at its next poll, so a row still untaken this long after it fell due has
 * nobody to take it, and would otherwise wake its session at every sweep for ever.
 */
export const UNCLAIMED_SYSTEM_ROW_MS = 10 * 60_000;

/**
 * A system row no agent claimed in time is given up, recorded with how long it waited.
 * The sweep read the row (kind, when due, unclaimed) from the session folder; the time
 * that has passed is judged here, against the command's own time.
 */
export const ExpireUnclaimedMessage = defineCommand(
  'ExpireUnclaimedMessage',
  z.object({
    sessionId: Id,
    messageId: Id,
    kind: z.literal('system'),
    dueAt: Timestamp,
    ttlMs: z.number().int().positive(),
  }),
  (views, command, context) => {
    const session = views.sessions.get(command.sessionId);
    if (!session) return reject('unknown-session', `no session ${command.sessionId}`);
    const unclaimedMs = Date.parse(context.issuedAt) - Date.parse(command.dueAt);
    if (unclaimedMs < command.ttlMs) return reject('not-expired', `message ${command.messageId} is due since ${command.dueAt}: it may wait ${command.ttlMs} ms unclaimed`);
    return [MessageExpired.create({ ...command, agentGroupId: session.agent_group_id, unclaimedMs })];
  },
);

export const retryCommands = [RetryAbandonedMessage, ExpireUnclaimedMessage];
