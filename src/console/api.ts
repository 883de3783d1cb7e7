import { randomUUID } from 'node:crypto';
import { ApproveRequest, RejectRequest } from '../commands/approvals';
import { payloadHash } from '../commands/system-actions';
import type { Core } from '../core';
import { contentOf, textOf } from '../message-text';
import { ApprovalDecisionRefused } from '../events/admin';
import type { RecordedEvent } from '../events/define';
import { explainMessage, summary } from '../explain';
import type { ApprovalRow } from '../projections/approvals';

/** A failure the console shows as it is: an HTTP status and a sentence. */
export class ConsoleError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ConsoleError';
  }
}

const DECISIONS: Record<string, { direction: 'inbound' | 'outbound'; outcome: 'routed' | 'dropped' }> = {
  InboundRouted: { direction: 'inbound', outcome: 'routed' },
  InboundDropped: { direction: 'inbound', outcome: 'dropped' },
  OutboundRouted: { direction: 'outbound', outcome: 'routed' },
  OutboundDropped: { direction: 'outbound', outcome: 'dropped' },
};

export interface LiveDecision {
  position: number;
  at: string;
  type: string;
  direction: 'inbound' | 'outbound';
  outcome: 'routed' | 'dropped';
  reason: string | null;
  agentGroupId: string | null;
  messagingGroupId: string | null;
  messageId: string | null;
  text: string | null;
}

/** A routing decision as the Live page shows it; any other event is not one (undefined). */
export function liveDecision(core: Core, event: RecordedEvent): LiveDecision | undefined {
  const kind = DECISIONS[event.type];
  if (!kind) return undefined;
  // The audit row (keyed by the deciding command) holds the ids whatever the event's shape.
  const audit = core.views.audit.decidedBy(event.metadata.commandId);
  const data = event.data as { reason?: unknown };
  return {
    position: event.position,
    at: event.metadata.recordedAt,
    type: event.type,
    ...kind,
    reason: typeof data.reason === 'string' ? data.reason : null,
    agentGroupId: audit?.agent_group_id ?? null,
    messagingGroupId: audit?.messaging_group_id ?? null,
    messageId: audit?.message_id ?? null,
    text: textOf(contentOf(event)),
  };
}

/** Each message the id can mean, its steps summarized, with the agent group's ACL today beside the ACL of each decision. */
export function explainForConsole(core: Core, id: string) {
  const explanations = explainMessage(core, id);
  if (explanations.length === 0) throw new ConsoleError(404, `no message ${id} in the audit trail`);
  return explanations.map((explanation) => ({
    ...explanation,
    steps: explanation.steps.map((step) => ({ ...step, summary: summary(step.event) })),
    aclToday: explanation.audit.agent_group_id === null ? [] : core.views.destinations.list(explanation.audit.agent_group_id),
  }));
}

/** An agent group's destinations as granted up to a position, revoked rows included, and the log's extent for the slider. */
export function aclAt(core: Core, agentGroupId: string, at: number | undefined) {
  if (!core.views.agentGroups.get(agentGroupId)) throw new ConsoleError(404, `no agent group ${agentGroupId}`);
  const last = core.store.lastPosition();
  const position = at ?? last;
  if (!Number.isInteger(position) || position < 0 || position > last) throw new ConsoleError(400, `no position #${String(at)}: the log ends at #${last}`);
  return { agentGroupId, at: position, last, rows: core.views.destinations.history(agentGroupId, position) };
}

/** Every session with its current container (if it ever had one) and quarantine. */
export function sessionsWithContainers(core: Core) {
  return core.views.sessions.list().map((session) => ({ session, container: core.views.containers.get(session.id) ?? null }));
}

/** The approval requests, each with the payload parsed for display. */
export function approvals(core: Core) {
  return core.views.approvals.list().map((approval: ApprovalRow) => ({ ...approval, payload: JSON.parse(approval.payload) as unknown }));
}

/**
 * Decides an approval as the console's operator, the way `switchyard approvals approve`
 * does: the hash of the payload the console showed goes with the decision, so what is
 * applied is what was shown. A refusal is recorded by the decider and reported here.
 */
export function decideApproval(core: Core, approvalId: string, verdict: 'approve' | 'reject', reason: string | null, actor: string) {
  const approval = core.views.approvals.get(approvalId);
  if (!approval) throw new ConsoleError(404, `no approval request ${approvalId}`);
  const definition = verdict === 'approve' ? ApproveRequest : RejectRequest;
  const outcome = core.bus.dispatch(
    definition.envelope(`console:${randomUUID()}`, { approvalId, payloadHash: payloadHash(JSON.parse(approval.payload)), reason }, { actor }),
  );
  if (outcome.status !== 'accepted') throw new ConsoleError(409, `${outcome.type} refused (${outcome.code}): ${outcome.message}`);
  const refused = outcome.events.find((e) => e.type === ApprovalDecisionRefused.type);
  if (refused) {
    const { reason: why, explanation } = ApprovalDecisionRefused.schema.parse(core.store.readAt(refused.position)!.data);
    throw new ConsoleError(409, `refused and recorded (${why}): ${explanation}`);
  }
  return { approval: core.views.approvals.get(approvalId)!, events: outcome.events };
}
