import { z } from 'zod';
import {
  AgentImageRebuildRequested, AgentNotified, ApprovalCardAttempted, ApprovalCardFailed, ApprovalCardRateLimited, ApprovalCardSent, ApprovalDecided, ApprovalDecisionRefused, ApprovalExpired,
} from '../events/admin';
import { AgentGroupUpdated } from '../events/agent-groups';
import { ContainerStopRequested } from '../events/containers';
import type { PendingEvent } from '../events/define';
import { RateLimit } from '../events/delivery';
import { Id, type ContainerConfig } from '../events/primitives';
import type { Views } from '../projections';
import type { ApprovalRow } from '../projections/approvals';
import { LIVE_STATUSES } from '../projections/containers';
import { defineCommand, newId, reject, type CommandContext } from './define';
import { AttemptLimit, AttemptResult, interruptedAttempt, isFinalFailure } from './delivery';
import { AddMcpServerRequest, InstallPackagesRequest, payloadHash } from './system-actions';

/**
 * Who may decide: the operator at the CLI, or the admin of the chat the card went to
 * (actor `channel:<channel type>:<platform id>:<user id>` as the adapter reports a click).
 */
function mayDecide(views: Views, approval: ApprovalRow, actor: string): boolean {
  if (actor.startsWith('operator:')) return true;
  const click = clickOf(actor);
  if (!click) return false;
  const adminChat = JSON.parse(approval.admin_chat) as { messagingGroupId: string };
  const chat = views.messagingGroups.get(adminChat.messagingGroupId);
  return chat !== undefined && chat.channel_type === click.channelType && chat.platform_id === click.platformId && chat.admin_user_id !== null && chat.admin_user_id === click.userId;
}

/** The chat and user of a click, from the actor the host gives it: `channel:<channel type>:<platform id>:<user id>`. */
export function clickOf(actor: string): { channelType: string; platformId: string; userId: string } | undefined {
  const click = /^channel:([^:]+):(.+):([^:]+)$/.exec(actor);
  return click ? { channelType: click[1]!, platformId: click[2]!, userId: click[3]! } : undefined;
}

const notify = (approval: ApprovalRow, context: CommandContext, text: string) =>
  AgentNotified.create({ sessionId: approval.session_id, noticeId: newId('notice', context), text, details: { approvalId: approval.approval_id, action: approval.action } });

/** What an approved request changes: the container config, the image, and the requester's running container. */
function apply(views: Views, approval: ApprovalRow): PendingEvent[] {
  const group = views.agentGroups.get(approval.agent_group_id);
  if (!group) return [];
  const payload = JSON.parse(approval.payload) as Record<string, unknown>;
  const events: PendingEvent[] = [];
  const config: ContainerConfig = structuredClone(group.containerConfig);
  if (approval.action === 'install_packages') {
    const { apt, npm } = InstallPackagesRequest.parse(payload);
    config.packages = { apt: [...new Set([...config.packages.apt, ...apt])], npm: [...new Set([...config.packages.npm, ...npm])] };
    events.push(AgentGroupUpdated.create({ agentGroupId: group.id, containerConfig: config }));
  } else if (approval.action === 'add_mcp_server') {
    const { name, command, args, env } = AddMcpServerRequest.parse(payload);
    config.mcpServers = { ...config.mcpServers, [name]: { command, args, env } };
    events.push(AgentGroupUpdated.create({ agentGroupId: group.id, containerConfig: config }));
  }
  if (approval.action !== 'add_mcp_server') events.push(AgentImageRebuildRequested.create({ agentGroupId: group.id, approvalId: approval.approval_id }));
  // The next wake picks up the change: the running container is stopped now.
  const container = views.containers.get(approval.session_id);
  if (container && LIVE_STATUSES.has(container.status) && container.status !== 'stopping') {
    events.push(
      ContainerStopRequested.create({ sessionId: approval.session_id, incarnationId: container.incarnation_id, reason: 'approval-applied', evidence: { approvalId: approval.approval_id, action: approval.action } }),
    );
  }
  return events;
}

const Decision = z.object({
  approvalId: Id,
  /** The hash of the payload the decider was shown: an approval applies exactly that payload. */
  payloadHash: z.string().regex(/^[0-9a-f]{64}$/, 'expected the sha256 of the payload shown (64 hex digits)'),
  reason: z.string().max(2000).nullable().default(null),
});

type Refusal = z.input<typeof ApprovalDecisionRefused.schema>;
const refusal = (approvalId: string, decision: Refusal['decision'], reason: Refusal['reason'], explanation: string) => [
  ApprovalDecisionRefused.create({ approvalId, decision, reason, explanation }),
];

/** The checks every decision passes, in order; a refusal an operator would ask about is recorded as an event. */
function decide(views: Views, command: z.output<typeof Decision>, context: CommandContext, decision: 'approved' | 'rejected') {
  const approval = views.approvals.get(command.approvalId);
  if (!approval) return reject('unknown-approval', `no approval request ${command.approvalId}`);
  const refused = (reason: Refusal['reason'], explanation: string) => refusal(approval.approval_id, decision, reason, explanation);
  if (approval.status !== 'pending') return refused('already-decided', `approval ${approval.approval_id} is already ${approval.status}`);
  if (Date.parse(context.issuedAt) >= Date.parse(approval.expires_at)) return refused('expired', `approval ${approval.approval_id} expired at ${approval.expires_at}`);
  if (!mayDecide(views, approval, context.actor)) return refused('not-admin', `${context.actor} is neither the operator nor the admin of the chat the request was shown in`);
  const stored = payloadHash(JSON.parse(approval.payload));
  if (command.payloadHash !== stored || stored !== approval.payload_hash) {
    return refused('payload-mismatch', `the payload decided on (${command.payloadHash.slice(0, 12)}) is not the one shown (${approval.payload_hash.slice(0, 12)})`);
  }
  return approval;
}

function approve(views: Views, command: z.output<typeof Decision>, context: CommandContext) {
  const approval = decide(views, command, context, 'approved');
  if (!('approval_id' in approval)) return approval;
  return [
    ApprovalDecided.create({ approvalId: approval.approval_id, decision: 'approved', reason: command.reason }),
    ...apply(views, approval),
    notify(approval, context, `Your ${approval.action} request (${approval.approval_id}) was approved and applied; your container restarts with it at the next message.`),
  ];
}

function rejectRequest(views: Views, command: z.output<typeof Decision>, context: CommandContext) {
  const approval = decide(views, command, context, 'rejected');
  if (!('approval_id' in approval)) return approval;
  return [
    ApprovalDecided.create({ approvalId: approval.approval_id, decision: 'rejected', reason: command.reason }),
    notify(approval, context, `Your ${approval.action} request (${approval.approval_id}) was rejected${command.reason ? `: ${command.reason}` : ''}.`),
  ];
}

export const ApproveRequest = defineCommand('ApproveRequest', Decision, approve);
export const RejectRequest = defineCommand('RejectRequest', Decision, rejectRequest);

/** The options of every approval card, in the order the spec gives them. */
export const CARD_OPTIONS = ['Approve', 'Reject'] as const;

/**
 * A click on an approval card, decided as the clicking user of that chat for the payload
 * the card showed. Every click that decides nothing is recorded with its reason, a click
 * naming no known request or option included: the admin who clicked will ask why.
 */
export function answerApprovalCard(views: Views, command: { approvalId: string; selectedOption: string }, context: CommandContext) {
  const approval = views.approvals.get(command.approvalId);
  if (!approval) return refusal(command.approvalId, null, 'unknown-request', `no approval request ${command.approvalId}`);
  const decision = { approvalId: approval.approval_id, payloadHash: approval.payload_hash, reason: null };
  if (command.selectedOption === CARD_OPTIONS[0]) return approve(views, decision, context);
  if (command.selectedOption === CARD_OPTIONS[1]) return rejectRequest(views, decision, context);
  return refusal(approval.approval_id, null, 'unknown-option', `unknown option ${JSON.stringify(command.selectedOption)}: expected ${CARD_OPTIONS.join(' or ')}`);
}

/** A request nobody decided in time closes itself, and the requester is told. */
export const ExpireApproval = defineCommand('ExpireApproval', z.object({ approvalId: Id }), (views, command, context) => {
  const approval = views.approvals.get(command.approvalId);
  if (!approval) return reject('unknown-approval', `no approval request ${command.approvalId}`);
  if (approval.status !== 'pending') return reject('already-decided', `approval ${approval.approval_id} is already ${approval.status}`);
  if (Date.parse(context.issuedAt) < Date.parse(approval.expires_at)) return reject('not-expired', `approval ${approval.approval_id} expires at ${approval.expires_at}`);
  return [
    ApprovalExpired.create({ approvalId: approval.approval_id, expiresAt: approval.expires_at }),
    notify(approval, context, `Your ${approval.action} request (${approval.approval_id}) expired without a decision.`),
  ];
});

const CardRef = z.object({ approvalId: Id });

/**
 * Opens the next attempt to show a request's card in the admin chat, counted from the log.
 * A card is due while the request is pending and the card neither sent nor failed.
 */
export const RecordApprovalCardAttempt = defineCommand('RecordApprovalCardAttempt', CardRef.extend(AttemptLimit), (views, command) => {
  const approval = views.approvals.get(command.approvalId);
  if (!approval || approval.status !== 'pending' || approval.card_status !== 'pending') {
    return reject('no-card-due', `approval ${command.approvalId} is ${approval ? `${approval.status}, its card ${approval.card_status}` : 'unknown'}: no card to send`);
  }
  const interrupted = interruptedAttempt(approval.card_attempts, command.maxAttempts);
  if (interrupted) return [ApprovalCardFailed.create({ approvalId: approval.approval_id, attempt: approval.card_attempts, ...interrupted })];
  return [ApprovalCardAttempted.create({ approvalId: approval.approval_id, attempt: approval.card_attempts + 1 })];
});

/** The refusal a report about a card attempt gets when that attempt is not the open one. */
function staleCardAttempt(views: Views, command: { approvalId: string; attempt: number }) {
  const approval = views.approvals.get(command.approvalId);
  if (approval && approval.card_status === 'pending' && approval.card_attempts === command.attempt) return undefined;
  return reject('stale-attempt', `card attempt ${command.attempt} of approval ${command.approvalId} is not the open one`);
}

export const RecordApprovalCardResult = defineCommand(
  'RecordApprovalCardResult',
  CardRef.extend({ ...AttemptLimit, attempt: z.number().int().min(1), result: AttemptResult }),
  (views, command) => {
    const stale = staleCardAttempt(views, command);
    if (stale) return stale;
    const { approvalId, attempt, result } = command;
    if (result.ok) return [ApprovalCardSent.create({ approvalId, attempt, platformMessageId: result.platformMessageId })];
    return [ApprovalCardFailed.create({ approvalId, attempt, errorClass: result.errorClass, error: result.error, final: isFinalFailure(result, attempt, command.maxAttempts) })];
  },
);

/** The admin chat's platform asked the open card attempt to wait: recorded, and the attempt stays open. */
export const RecordApprovalCardRateLimited = defineCommand(
  'RecordApprovalCardRateLimited',
  CardRef.extend(RateLimit),
  (views, command) => staleCardAttempt(views, command) ?? [ApprovalCardRateLimited.create(command)],
);

export const approvalCommands = [ApproveRequest, RejectRequest, ExpireApproval, RecordApprovalCardAttempt, RecordApprovalCardResult, RecordApprovalCardRateLimited];
