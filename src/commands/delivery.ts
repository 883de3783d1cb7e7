import { z } from 'zod';
import { AgentMessageDelivered } from '../events/agent-messages';
import type { PendingEvent } from '../events/define';
import { DeliveryAttempted, DeliveryFailed, DeliverySucceeded } from '../events/delivery';
import { SessionOpened } from '../events/inbound';
import { Id } from '../events/primitives';
import { defineCommand, newId, reject } from './define';
import { answeredChain } from './loop-limits';

/** Attempts per routed row before it is failed for good and the sender is told. */
export const MAX_DELIVERY_ATTEMPTS = 3;

const RowRef = { sessionId: Id, outboundId: z.string().min(1) };

/** What one call to a channel came to, as the adapter reports it. */
export const AttemptResult = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), platformMessageId: z.string().nullable() }),
  z.object({ ok: z.literal(false), errorClass: z.string().min(1), error: z.string(), retryable: z.boolean().default(true) }),
]);
export type AttemptResult = z.input<typeof AttemptResult>;

/** A failed attempt ends the sending when retrying is pointless or it was the last one allowed. */
export const isFinalFailure = (result: { retryable: boolean }, attempt: number) => !result.retryable || attempt >= MAX_DELIVERY_ATTEMPTS;

/**
 * When the attempts are used up yet nothing is settled, the last one was recorded but its
 * result never was: the host died during the call. Whether the platform got it is unknown
 * (a resend would have carried the same idempotency key), and no attempt is left, so the
 * sending fails for good, saying so, instead of waiting for ever.
 */
export function interruptedAttempt(attempts: number): { errorClass: string; error: string; final: true } | undefined {
  if (attempts < MAX_DELIVERY_ATTEMPTS) return undefined;
  return {
    errorClass: 'AttemptInterrupted',
    error: `attempt ${attempts} was opened but no result was recorded (the host stopped during the call): whether the platform received it is unknown; attempts-exhausted`,
    final: true,
  };
}

/**
 * Opens the next delivery attempt of a routed row. Attempts are counted from the log (the
 * audit projection), so a restart resumes the count instead of resetting it; an attempt
 * the host died in counts, and when it was the last, the row fails here.
 */
export const RecordDeliveryAttempt = defineCommand('RecordDeliveryAttempt', z.object(RowRef), (views, command) => {
  const row = views.audit.outboundRow(command.sessionId, command.outboundId);
  if (!row || row.outcome !== 'routed') {
    return reject('not-deliverable', `outbound ${command.outboundId} of ${command.sessionId} is ${row ? row.outcome : 'unknown'}, not awaiting delivery`);
  }
  const interrupted = interruptedAttempt(row.attempts);
  if (interrupted) return [DeliveryFailed.create({ ...command, attempt: row.attempts, ...interrupted })];
  return [DeliveryAttempted.create({ ...command, attempt: row.attempts + 1 })];
});

export const RecordDeliveryResult = defineCommand(
  'RecordDeliveryResult',
  z.object({
    ...RowRef,
    attempt: z.number().int().min(1),
    result: AttemptResult,
  }),
  (views, command) => {
    const row = views.audit.outboundRow(command.sessionId, command.outboundId);
    if (!row || row.outcome !== 'routed' || row.attempts !== command.attempt) {
      return reject('stale-attempt', `attempt ${command.attempt} of outbound ${command.outboundId} is not the open one`);
    }
    const ref = { sessionId: command.sessionId, outboundId: command.outboundId, attempt: command.attempt };
    if (command.result.ok) return [DeliverySucceeded.create({ ...ref, platformMessageId: command.result.platformMessageId })];
    return [DeliveryFailed.create({ ...ref, errorClass: command.result.errorClass, error: command.result.error, final: isFinalFailure(command.result, command.attempt) })];
  },
);

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

export const deliveryCommands = [RecordDeliveryAttempt, RecordDeliveryResult, DeliverAgentMessage];
