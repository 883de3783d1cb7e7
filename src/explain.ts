import type { Core } from './core';
import type { RecordedEvent } from './events/define';
import { OutboundDropped, OutboundRouted, type OutboundTarget } from './events/outbound';
import type { AuditRow } from './projections/audit';
import type { DestinationRow } from './projections/destinations';
import { createViews } from './projections';
import { recordedJudgement, rejudge, type Verdict } from './commands/rejudge';
import { contentOf, textOf } from './message-text';

/** A decision in a message's story, with the ACL as it stood when it was made. */
export interface TraceStep {
  event: RecordedEvent;
  /** For routing decisions: the agent group's destination map just before the decision. */
  aclAtDecision?: DestinationRow[];
  /** For a route refused after a revocation: the revocation that caused it, and its event. */
  revokedBy?: { destination: DestinationRow; event: RecordedEvent | undefined };
  /** The decider run again on the recorded command: against the ACL of its moment, and today. */
  rejudged?: { recorded: Verdict; asOfDecision?: Verdict; reproduced?: boolean; today: Verdict; differsToday: boolean };
}

/** The message an answer answers: what an operator asks first about an agent's reply. */
export interface Cause {
  messageId: string;
  platformMessageId: string | null;
  outcome: string;
  text: string | null;
  sender: string | null;
}

export interface Explanation {
  audit: AuditRow;
  /** What the message said, as far as the log has it. */
  text: string | null;
  /** For an agent's message written in reply to one: that message. */
  inReplyTo?: Cause;
  steps: TraceStep[];
}

function causeOf(core: Core, audit: AuditRow, decision: RecordedEvent | undefined): Cause | undefined {
  if (audit.direction !== 'outbound' || !decision || audit.session_id === null) return undefined;
  const inReplyTo = OutboundRouted.is(decision) ? decision.data.inReplyTo : OutboundDropped.is(decision) ? decision.data.row.in_reply_to : null;
  if (typeof inReplyTo !== 'string') return undefined;
  const row = core.views.audit.inboundRow(audit.session_id, inReplyTo) ?? core.views.audit.outboundRow(audit.session_id, inReplyTo);
  if (!row) return { messageId: inReplyTo, platformMessageId: null, outcome: 'unknown to the log', text: null, sender: null };
  const content = contentOf(core.store.readAt(row.decided_position));
  const sender = typeof content === 'object' && content !== null ? (content as { sender?: unknown }).sender : undefined;
  return { messageId: inReplyTo, platformMessageId: row.platform_message_id, outcome: row.outcome, text: textOf(content), sender: typeof sender === 'string' ? sender : null };
}

const targetKey = (target: OutboundTarget): ['channel' | 'agent', string] =>
  target.type === 'agent' ? ['agent', target.agentGroupId] : ['channel', target.messagingGroupId];

/** One event of a message's story; decisions come with the ACL of their moment and a re-run of the decider. */
function stepAt(core: Core, position: number): TraceStep[] {
  const event = core.store.readAt(position);
  if (!event) return [];
  const step: TraceStep = { event };
  const recorded = recordedJudgement(event)?.verdict;
  if (recorded) {
    const today = rejudge(core.views, event)!.verdict;
    // Outbound decisions read only the ACL, which is kept as history; inbound ones read
    // the wirings too, which are not, so those are re-run against today only.
    const asOfDecision = OutboundRouted.is(event) || OutboundDropped.is(event) ? rejudge(createViews(core.store.db, { asOf: event.position - 1 }), event)!.verdict : undefined;
    step.rejudged = {
      recorded,
      ...(asOfDecision !== undefined && { asOfDecision, reproduced: asOfDecision === recorded }),
      today,
      differsToday: today !== recorded,
    };
  }
  if (OutboundRouted.is(event) || OutboundDropped.is(event)) {
    step.aclAtDecision = core.views.destinations.list(event.data.agentGroupId, event.position - 1);
    const target = event.data.target;
    if (OutboundDropped.is(event) && event.data.reason === 'not-permitted' && target) {
      const destination = core.views.destinations.lastRevocation(event.data.agentGroupId, ...targetKey(target), event.position);
      if (destination) step.revokedBy = { destination, event: core.store.readAt(destination.revoked_at!) };
    }
  }
  return [step];
}

/** Each message the id can mean, with every event of its story and the ACL at each decision. */
export function explainMessage(core: Core, id: string): Explanation[] {
  return core.views.audit.find(id).map((audit) => {
    const decision = core.store.readAt(audit.decided_position);
    const inReplyTo = causeOf(core, audit, decision);
    return {
      audit,
      text: textOf(contentOf(decision)),
      ...(inReplyTo && { inReplyTo }),
      steps: core.views.audit.trace(audit.audit_id).flatMap((position) => stepAt(core, position)),
    };
  });
}

/** One event of a story in one line, for people. */
export const summary = (event: RecordedEvent): string => {
  const data = event.data as Record<string, unknown>;
  switch (event.type) {
    case 'InboundRouted': {
      const routing = data.routing as { rule: string; agentGroupId: string; priority: number };
      return `routed to ${routing.agentGroupId} in ${String(data.sessionId)} by ${routing.rule} (priority ${routing.priority})`;
    }
    case 'InboundDropped':
      return `dropped: ${String(data.reason)}`;
    case 'InboundRepeatIgnored':
      return 'the platform sent this message id again with other content: kept here, not routed';
    case 'OutboundRouted':
      return `routed by destination "${(data.acl as { localName: string }).localName}"`;
    case 'OutboundDropped':
      return `dropped: ${String(data.reason)}: ${String(data.explanation)}`;
    case 'DeliveryAttempted':
      return `delivery attempt ${String(data.attempt)}`;
    case 'DeliverySucceeded':
      return Array.isArray(data.platformMessageIds)
        ? `delivered in ${data.platformMessageIds.length} parts (platform ids ${data.platformMessageIds.join(', ')})`
        : `delivered (platform id ${String(data.platformMessageId)})`;
    case 'DeliveryRateLimited':
      return `attempt ${String(data.attempt)}: the platform asked to wait ${String(data.retryAfterMs)} ms (${String(data.errorClass)}); waited, not counted as a failure`;
    case 'DeliveryRetryRequested':
      return `retry requested by ${event.metadata.actor}: a new series of attempts after ${String(data.previousAttempts)}`;
    case 'DeliveryFailed':
      return `attempt ${String(data.attempt)} failed: ${String(data.errorClass)}: ${String(data.error)}${data.final ? ' (final)' : ''}`;
    case 'MessageRetryScheduled':
      return `its agent died holding it (${String(data.reason)}): retry ${String(data.attempt)} due at ${String(data.dueAt)}`;
    case 'MessageFailed':
      return `failed: its agent died holding it ${String(data.attempts)} times (last: ${String(data.reason)})`;
    case 'MessageExpired':
      return `expired: a ${String(data.kind)} row no agent claimed in ${String(data.unclaimedMs)} ms (due at ${String(data.dueAt)}; it may wait ${String(data.ttlMs)} ms)`;
    default:
      return event.type;
  }
};
