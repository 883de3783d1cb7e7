import type { PendingEvent, RecordedEvent } from '../events/define';
import { InboundDropped, InboundRouted } from '../events/inbound';
import { OutboundDropped, OutboundRouted, type OutboundRow } from '../events/outbound';
import type { Views } from '../projections';
import { parsePayload } from './bus';
import { isRejection, type CommandContext, type Decision } from './define';
import { ReceiveInbound, type ReceiveInboundPayload } from './inbound';
import { RouteOutbound, type RouteOutboundPayload } from './outbound';

/** A routing decision in one word, comparable between the log and a re-run. */
export type Verdict = string;

/** The verdict a recorded decision event states. */
export function recordedVerdict(event: RecordedEvent): Verdict | undefined {
  if (InboundRouted.is(event)) return `routed to ${event.data.agentGroupId}`;
  if (InboundDropped.is(event)) return `dropped: ${event.data.reason}`;
  if (OutboundRouted.is(event)) return `routed by "${event.data.acl.localName}"`;
  if (OutboundDropped.is(event)) return `dropped: ${event.data.reason}`;
  return undefined;
}

function verdictOf(decision: Decision): Verdict {
  if (isRejection(decision)) return `refused: ${decision.code}`;
  const outcome = decision.find((event: PendingEvent) => ['InboundRouted', 'InboundDropped', 'OutboundRouted', 'OutboundDropped'].includes(event.type));
  if (!outcome) return 'no decision';
  const data = outcome.data as { agentGroupId?: string; reason?: string; acl?: { localName: string } };
  if (outcome.type === 'InboundRouted') return `routed to ${data.agentGroupId}`;
  if (outcome.type === 'OutboundRouted') return `routed by "${data.acl!.localName}"`;
  return `dropped: ${data.reason}`;
}

/** The messages_out row an outbound decision judged, as the container wrote it. */
function outboundRow(event: RecordedEvent): OutboundRow | undefined {
  if (OutboundDropped.is(event)) return event.data.row;
  if (!OutboundRouted.is(event)) return undefined;
  const { data } = event;
  const target = data.target;
  return {
    id: data.outboundId,
    seq: data.seq,
    in_reply_to: data.inReplyTo,
    timestamp: event.metadata.recordedAt,
    deliver_after: null,
    recurrence: null,
    kind: data.kind,
    platform_id: target.type === 'agent' ? target.agentGroupId : target.platformId,
    channel_type: target.type === 'agent' ? 'agent' : target.channelType,
    thread_id: target.type === 'agent' ? null : target.threadId,
    content: data.content,
  };
}

/** The inbound message a decision judged; a dropped one keeps only its text, which is all routing reads. */
function inboundPayload(event: RecordedEvent): ReceiveInboundPayload | undefined {
  if (InboundRouted.is(event)) {
    const { data } = event;
    return { channelType: data.channelType, platformId: data.platformId, threadId: data.threadId, messageId: data.platformMessageId, kind: data.kind, content: data.content, timestamp: data.timestamp };
  }
  if (InboundDropped.is(event)) {
    const { data } = event;
    return {
      channelType: data.channelType, platformId: data.platformId, threadId: data.threadId, messageId: data.platformMessageId,
      content: data.evidence.text === null ? {} : { text: data.evidence.text }, timestamp: event.metadata.recordedAt,
    };
  }
  return undefined;
}

/**
 * Runs the pure decider again on the command a recorded decision answered, against the
 * given views (today's, or the ACL as of a position). Nothing is written.
 */
export function rejudge(views: Views, event: RecordedEvent): Verdict | undefined {
  const context: CommandContext = {
    commandId: event.metadata.commandId,
    actor: event.metadata.actor,
    issuedAt: event.metadata.recordedAt,
    correlationId: event.metadata.correlationId,
    causationId: event.metadata.causationId,
  };
  const row = outboundRow(event);
  if (row) {
    const payload: RouteOutboundPayload = { sessionId: (event.data as { sessionId: string }).sessionId, row };
    return verdictOf(RouteOutbound.decide(views, parsePayload(RouteOutbound, payload), context));
  }
  const inbound = inboundPayload(event);
  if (inbound) return verdictOf(ReceiveInbound.decide(views, parsePayload(ReceiveInbound, inbound), context));
  return undefined;
}
