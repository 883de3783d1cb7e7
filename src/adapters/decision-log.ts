import type { Subscription } from 'rxjs';
import { ApprovalRequested } from '../events/admin';
import { ContainerStarting, ContainerStopped } from '../events/containers';
import type { RecordedEvent } from '../events/define';
import { DeliveryFailed, DeliverySucceeded } from '../events/delivery';
import { InboundDropped, InboundRouted } from '../events/inbound';
import { OutboundDropped, OutboundRouted } from '../events/outbound';
import { SessionQuarantined } from '../events/quarantine';
import type { EventStore } from '../events/store';
import type { Logger } from '../logger';

/**
 * The facts an operator tailing the host's log expects at info: each message routed or
 * dropped and why, each delivery's outcome, each agent start and stop. Ids and reasons
 * only: what people wrote stays in the log, not in a log file.
 */
function notable(event: RecordedEvent): { fields: Record<string, unknown>; message: string } | undefined {
  if (InboundRouted.is(event)) {
    const { messageId, channelType, platformId, platformMessageId, agentGroupId, sessionId } = event.data;
    return { fields: { messageId, channelType, platformId, platformMessageId, agentGroupId, sessionId }, message: 'inbound message routed' };
  }
  if (InboundDropped.is(event)) {
    const { messageId, channelType, platformId, platformMessageId, reason } = event.data;
    return { fields: { messageId, channelType, platformId, platformMessageId, reason }, message: `inbound message dropped: ${reason}` };
  }
  if (OutboundRouted.is(event)) {
    const { outboundId, sessionId, agentGroupId, acl } = event.data;
    return { fields: { outboundId, sessionId, agentGroupId, destination: acl.localName }, message: 'outbound message routed' };
  }
  if (OutboundDropped.is(event)) {
    const { outboundId, sessionId, agentGroupId, reason, explanation } = event.data;
    return { fields: { outboundId, sessionId, agentGroupId, reason, explanation }, message: `outbound message dropped: ${reason}` };
  }
  if (DeliverySucceeded.is(event)) {
    const { outboundId, sessionId, attempt, platformMessageId } = event.data;
    return { fields: { outboundId, sessionId, attempt, platformMessageId }, message: 'delivered' };
  }
  if (DeliveryFailed.is(event) && event.data.final) {
    const { outboundId, sessionId, attempt, errorClass } = event.data;
    return { fields: { outboundId, sessionId, attempt, errorClass }, message: `delivery failed for good: ${errorClass}` };
  }
  if (ContainerStarting.is(event)) {
    const { sessionId, agentGroupId, incarnationId, runtime, image, wokenBy } = event.data;
    return { fields: { sessionId, agentGroupId, incarnationId, runtime, image, wokenBy }, message: 'agent starting' };
  }
  if (ContainerStopped.is(event)) {
    const { sessionId, incarnationId, reason, exitCode } = event.data;
    return { fields: { sessionId, incarnationId, reason, exitCode }, message: `agent stopped: ${reason}` };
  }
  if (SessionQuarantined.is(event)) {
    const { sessionId, component, reason } = event.data;
    return { fields: { sessionId, folderComponent: component, reason }, message: `session quarantined: ${reason}` };
  }
  if (ApprovalRequested.is(event)) {
    const { approvalId, agentGroupId, action } = event.data;
    return { fields: { approvalId, agentGroupId, action }, message: `approval requested: ${action}` };
  }
  return undefined;
}

/** Logs what commits from `after` on, at info, with the event type as the stable `event` field. */
export function logDecisions(store: EventStore, logger: Logger, after: number): Subscription {
  return store.subscribe({ after }).subscribe((event) => {
    const line = notable(event);
    if (line) logger.info({ event: event.type, position: event.position, ...line.fields }, line.message);
  });
}
