import { z } from 'zod';
import { AgentMessageDelivered } from '../events/agent-messages';
import type { PendingEvent } from '../events/define';
import { DeliveryAttempted, DeliveryFailed, DeliveryRateLimited, DeliveryRetryRequested, DeliverySucceeded, RateLimit } from '../events/delivery';
import { SessionOpened } from '../events/inbound';
import { Id } from '../events/primitives';
import type { Views } from '../projections';
import { defineCommand, newId, reject } from './define';
import { answeredChain } from './loop-limits';

/** Attempts per series of a routed row, unless the host is configured otherwise (`--delivery-attempts`). */
export const DEFAULT_DELIVERY_ATTEMPTS = 3;

/**
 * The attempt limit travels in the command, not in a global: the host puts its configured
 * limit in each one, and a decision re-run later gives the answer it gave then.
 */
export const AttemptLimit = { maxAttempts: z.number().int().min(1).max(100).default(DEFAULT_DELIVERY_ATTEMPTS) };

const RowRef = { sessionId: Id, outboundId: z.string().min(1) };

/** What one call to a channel came to, as the adapter reports it. */
export const AttemptResult = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    platformMessageId: z.string().nullable(),
    /** Each part's id, in order, when the platform took the message in parts. */
    platformMessageIds: z.array(z.string()).min(2).optional(),
  }),
  z.object({ ok: z.literal(false), errorClass: z.string().min(1), error: z.string(), retryable: z.boolean().default(true) }),
]);
export type AttemptResult = z.input<typeof AttemptResult>;

/**
 * A failed attempt ends the series when retrying is pointless or it was the last one
 * allowed; `attemptInSeries` counts from the start of the current series.
 */
export const isFinalFailure = (result: { retryable: boolean }, attemptInSeries: number, maxAttempts: number) => !result.retryable || attemptInSeries >= maxAttempts;

/**
 * When the series' attempts are used up yet nothing is settled, the last one was recorded
 * but its result never was: the host died during the call. Whether the platform got it is
 * unknown (a resend would have carried the same idempotency key), and no attempt is left,
 * so the sending fails for good, saying so, instead of waiting for ever.
 */
export function interruptedAttempt(attempts: number, maxAttempts: number, retryBase = 0): { errorClass: string; error: string; final: true } | undefined {
  if (attempts - retryBase < maxAttempts) return undefined;
  return {
    errorClass: 'AttemptInterrupted',
    error: `attempt ${attempts} was opened but no result was recorded (the host stopped during the call): whether the platform received it is unknown; attempts-exhausted`,
    final: true,
  };
}

/** The open attempt of a routed row, or the rejection a late or stray report of one gets. */
function openAttempt(views: Views, command: { sessionId: string; outboundId: string; attempt: number }) {
  const row = views.audit.outboundRow(command.sessionId, command.outboundId);
  if (!row || row.outcome !== 'routed' || row.attempts !== command.attempt) {
    return { rejection: reject('stale-attempt', `attempt ${command.attempt} of outbound ${command.outboundId} is not the open one`) };
  }
  return { row };
}

/**
 * Opens the next delivery attempt of a routed row. Attempts are counted from the log (the
 * audit projection), so a restart resumes the count instead of resetting it; an attempt
 * the host died in counts, and when it was the last of its series, the row fails here.
 */
export const RecordDeliveryAttempt = defineCommand('RecordDeliveryAttempt', z.object({ ...RowRef, ...AttemptLimit }), (views, command) => {
  const row = views.audit.outboundRow(command.sessionId, command.outboundId);
  if (!row || row.outcome !== 'routed') {
    return reject('not-deliverable', `outbound ${command.outboundId} of ${command.sessionId} is ${row ? row.outcome : 'unknown'}, not awaiting delivery`);
  }
  const ref = { sessionId: command.sessionId, outboundId: command.outboundId };
  const interrupted = interruptedAttempt(row.attempts, command.maxAttempts, row.retry_base);
  if (interrupted) return [DeliveryFailed.create({ ...ref, attempt: row.attempts, ...interrupted })];
  return [DeliveryAttempted.create({ ...ref, attempt: row.attempts + 1 })];
});

export const RecordDeliveryResult = defineCommand(
  'RecordDeliveryResult',
  z.object({
    ...RowRef,
    ...AttemptLimit,
    attempt: z.number().int().min(1),
    result: AttemptResult,
  }),
  (views, command) => {
    const { row, rejection } = openAttempt(views, command);
    if (!row) return rejection;
    const ref = { sessionId: command.sessionId, outboundId: command.outboundId, attempt: command.attempt };
    const { result } = command;
    if (result.ok) {
      return [DeliverySucceeded.create({ ...ref, platformMessageId: result.platformMessageId, ...(result.platformMessageIds && { platformMessageIds: result.platformMessageIds }) })];
    }
    const final = isFinalFailure(result, command.attempt - row.retry_base, command.maxAttempts);
    return [DeliveryFailed.create({ ...ref, errorClass: result.errorClass, error: result.error, final })];
  },
);

/**
 * The platform asked the open attempt to wait (a 429 with retry-after). Recorded, and the
 * attempt stays open: the call is made again within it, so a rate limit uses up nothing.
 */
export const RecordDeliveryRateLimited = defineCommand(
  'RecordDeliveryRateLimited',
  z.object({ ...RowRef, ...RateLimit }),
  (views, command) => {
    const { row, rejection } = openAttempt(views, command);
    if (!row) return rejection;
    return [DeliveryRateLimited.create(command)];
  },
);

/**
 * An operator's retry of a delivery that failed for good: a new series of attempts, under
 * the same idempotency key (`<session>:<messages_out id>`), so a bridge that did receive an
 * earlier attempt can drop the resend. Only a message sent to a chat and failed can be
 * retried: a delivered one would be sent twice, a dropped one was refused by the ACL, and
 * one still being attempted is already on its way.
 */
export const RetryDelivery = defineCommand('RetryDelivery', z.object(RowRef), (views, command) => {
  const name = `outbound message ${command.outboundId} of ${command.sessionId}`;
  const row = views.audit.outboundRow(command.sessionId, command.outboundId);
  if (!row) return reject('unknown-message', `${name} is not in the log`);
  if (!row.target?.startsWith('channel:')) {
    return reject('not-a-delivery', `${name} is not a message to a chat (its target is ${row.target ?? 'none'}): only chat deliveries are retried`);
  }
  switch (row.outcome) {
    case 'delivered':
      return reject('already-delivered', `${name} was delivered${row.platform_message_id ? ` (platform id ${row.platform_message_id})` : ''}: retrying would send it twice`);
    case 'dropped':
      return reject('dropped', `${name} was dropped (${row.reason ?? 'no reason'}), not failed: it was never allowed out`);
    case 'routed':
      return reject('in-progress', `${name} is still being delivered (attempt ${row.attempts}): wait for its outcome`);
    case 'failed':
      return [DeliveryRetryRequested.create({ sessionId: command.sessionId, outboundId: command.outboundId, previousAttempts: row.attempts })];
  }
});

/**
 * Delivers a routed agent-to-agent row into the target's session, in the log: the
 * target's session is the one whose message the row answers (in_reply_to), else the
 * target's agent-shared session, opened if missing. Attempt and success are recorded in
 * the same command, so there is nothing to retry and nothing to lose.
 */
export const DeliverAgentMessage = defineCommand(
  'DeliverAgentMessage',
  z.object({
    ...RowRef,
    targetAgentGroupId: Id,
    kind: z.string(),
    content: z.string(),
    inReplyTo: z.string().nullable(),
  }),
  (views, command, context) => {
    const row = views.audit.outboundRow(command.sessionId, command.outboundId);
    if (!row || row.outcome !== 'routed') {
      return reject('not-deliverable', `outbound ${command.outboundId} of ${command.sessionId} is ${row ? row.outcome : 'unknown'}, not awaiting delivery`);
    }
    const source = views.sessions.get(command.sessionId)!;
    const ref = { sessionId: command.sessionId, outboundId: command.outboundId, attempt: row.attempts + 1 };
    if (!views.agentGroups.get(command.targetAgentGroupId)) {
      return [
        DeliveryAttempted.create(ref),
        DeliveryFailed.create({ ...ref, errorClass: 'TargetDeleted', error: `agent group ${command.targetAgentGroupId} no longer exists`, final: true }),
      ];
    }
    // A reply goes back to the conversation it answers, not to the target's newest session.
    const answered = command.inReplyTo ? views.agentMessages.get(command.inReplyTo) : undefined;
    const replySession = answered?.source_agent_group_id === command.targetAgentGroupId ? answered.source_session_id : undefined;
    const shared = views.sessions.find('agent-shared', command.targetAgentGroupId, '', null);
    const targetSessionId = replySession ?? shared?.id ?? newId('sess', context);
    const events: PendingEvent[] = [DeliveryAttempted.create(ref)];
    if (!replySession && !shared) {
      events.push(
        SessionOpened.create({
          sessionId: targetSessionId,
          agentGroupId: command.targetAgentGroupId,
          messagingGroupId: null,
          threadId: null,
          sessionMode: 'agent-shared',
          agentProvider: views.agentGroups.get(command.targetAgentGroupId)!.agentProvider,
        }),
      );
    }
    const messageId = newId('msg', context);
    const answeredInSource = answeredChain(views, source.id, command.inReplyTo, context.issuedAt);
    events.push(
      AgentMessageDelivered.create({
        messageId,
        targetSessionId,
        targetAgentGroupId: command.targetAgentGroupId,
        sourceSessionId: source.id,
        sourceAgentGroupId: source.agent_group_id,
        outboundId: command.outboundId,
        kind: command.kind,
        content: command.content,
        timestamp: context.issuedAt,
        inReplyTo: command.inReplyTo,
        hops: answeredInSource.hops + 1,
        chain: [...answeredInSource.chain, messageId],
      }),
      DeliverySucceeded.create({ ...ref, platformMessageId: messageId }),
    );
    return events;
  },
);

export const deliveryCommands = [RecordDeliveryAttempt, RecordDeliveryResult, RecordDeliveryRateLimited, RetryDelivery, DeliverAgentMessage];
