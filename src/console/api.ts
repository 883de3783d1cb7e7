import { randomUUID } from 'node:crypto';
import { ApproveRequest, RejectRequest } from '../commands/approvals';
import { CommandValidationError } from '../commands/bus';
import { payloadHash } from '../commands/system-actions';
import type { Core } from '../core';
import { contentOf, textOf } from '../message-text';
import { ApprovalDecisionRefused } from '../events/admin';
import type { RecordedEvent } from '../events/define';
import { explainMessage, summary } from '../explain';
import { incarnationsOf } from '../incarnations';
import { canJudgeInWorkers, changeEntry, ChangeRefusedError, checkChange, whatIf, whatIfParallel, type ChangeKind } from '../what-if';
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

/** How far back the Sessions page looks for agents cut off by the hop or rate limit: the window `status` uses. */
const LIMITED_WINDOW_MS = 60 * 60 * 1000;

/** Sessions whose rows were dropped by the hop limit (agents answering each other) or the rate limit in the last hour. */
function limitedLastHour(core: Core) {
  return core.views.audit.limitedSince(new Date(Date.now() - LIMITED_WINDOW_MS).toISOString());
}

/** Every session with its current container (if it ever had one), quarantine, and any loop or rate limit hit lately. */
export function sessionsWithContainers(core: Core) {
  const limited = limitedLastHour(core);
  return core.views.sessions.list().map((session) => ({
    session,
    container: core.views.containers.get(session.id) ?? null,
    limited: limited.filter((hit) => hit.sessionId === session.id),
  }));
}

/** One session with every incarnation of its agent: when each started, what woke it, why it stopped. */
export function sessionDetail(core: Core, sessionId: string) {
  const session = core.views.sessions.get(sessionId);
  if (!session) throw new ConsoleError(404, `no session ${sessionId}`);
  return {
    session,
    container: core.views.containers.get(sessionId) ?? null,
    incarnations: incarnationsOf(core, sessionId),
    limited: limitedLastHour(core).filter((hit) => hit.sessionId === sessionId),
  };
}

const WHAT_IF_PARAMETERS = { add: 'addDestinations', remove: 'removeDestinations', wire: 'wire', unwire: 'unwire' } as const;

/**
 * The what-if of the console: the change as the CLI's flags write it (`add=ag:name=channel:mg`,
 * `remove=ag:name`, `wire=mg:ag`, `unwire=mg:ag`), judged in a worker thread where the
 * compiled worker exists, so a long log does not stall the host that serves the page.
 */
export async function whatIfForConsole(core: Core, query: URLSearchParams) {
  let change: Required<Record<ChangeKind, Array<Record<string, string>>>>;
  try {
    change = Object.fromEntries(Object.entries(WHAT_IF_PARAMETERS).map(([parameter, kind]) => [kind, query.getAll(parameter).map((value) => changeEntry(kind, value))])) as typeof change;
  } catch (error) {
    throw new ConsoleError(400, (error as Error).message);
  }
  if (Object.values(change).every((entries) => entries.length === 0)) throw new ConsoleError(400, 'nothing to try: give add, remove, wire or unwire');
  const last = core.store.lastPosition();
  const since = query.get('since') || undefined;
  if (since !== undefined && !/^\d+$/.test(since)) throw new ConsoleError(400, `since: expected a log position, got "${since}"`);
  const agentGroupId = query.get('agentGroup') || undefined;
  const window = { after: since === undefined ? 0 : Math.max(0, Number(since) - 1), until: last, ...(agentGroupId !== undefined && { agentGroupId }) };
  try {
    checkChange(core, change);
    return canJudgeInWorkers() ? await whatIfParallel(core.store.db.name, change, window, 1) : whatIf(core, change, window);
  } catch (error) {
    if (error instanceof ChangeRefusedError) throw new ConsoleError(409, `the change cannot be applied: ${error.message}`);
    if (error instanceof CommandValidationError) throw new ConsoleError(400, error.message);
    throw error;
  }
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
