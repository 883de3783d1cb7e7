import { z } from 'zod';
import { defineEvent } from './define';
import { RateLimit } from './delivery';
import { agentGroupStream } from './destinations';
import { sessionStream } from './inbound';
import { Id } from './primitives';

export const approvalStream = (approvalId: string) => `approval-${approvalId}`;

/** The admin-only actions an agent can ask for that wait for an admin's decision. */
export const ApprovalAction = z.enum(['install_packages', 'add_mcp_server', 'request_rebuild']);
export type ApprovalAction = z.infer<typeof ApprovalAction>;

/** A system row the host acted on (the audit's "routed" for system actions). */
export const SystemActionAccepted = defineEvent({
  type: 'SystemActionAccepted',
  version: 1,
  schema: z.object({
    sessionId: Id,
    agentGroupId: Id,
    outboundId: z.string(),
    action: z.string(),
    /** What came of it: the new agent group, the approval request, the task. */
    result: z.record(z.string(), z.unknown()),
  }),
  stream: (data) => sessionStream(data.sessionId),
});

/** A message from the host to an agent, written into its session as a chat row from `system`. */
export const AgentNotified = defineEvent({
  type: 'AgentNotified',
  version: 1,
  schema: z.object({ sessionId: Id, noticeId: Id, text: z.string(), details: z.record(z.string(), z.unknown()).default({}) }),
  stream: (data) => sessionStream(data.sessionId),
});

/** The instructions a created agent starts with (its CLAUDE.md). */
export const AgentInstructionsSet = defineEvent({
  type: 'AgentInstructionsSet',
  version: 1,
  schema: z.object({ agentGroupId: Id, instructions: z.string() }),
  stream: (data) => agentGroupStream(data.agentGroupId),
});

/**
 * Packages or a rebuild were approved (approvalId), or the operator asked for a rebuild
 * (approvalId null, the operator is the event's actor): the group's image is to be built.
 */
export const AgentImageRebuildRequested = defineEvent({
  type: 'AgentImageRebuildRequested',
  version: 2,
  schema: z.object({ agentGroupId: Id, approvalId: Id.nullable() }),
  // v1 always came from an approval: its data is valid v2 data as it stands.
  upcasters: { 1: (data) => data },
  stream: (data) => agentGroupStream(data.agentGroupId),
});

export const ApprovalRequested = defineEvent({
  type: 'ApprovalRequested',
  version: 1,
  schema: z.object({
    approvalId: Id,
    sessionId: Id,
    agentGroupId: Id,
    outboundId: z.string(),
    action: ApprovalAction,
    /** Exactly what will be applied on approval. */
    payload: z.record(z.string(), z.unknown()),
    /** sha256 of the payload's canonical JSON: an approval must name it. */
    payloadHash: z.string(),
    /** What the admin is shown: every field of the payload, args and env included. */
    shownText: z.string(),
    expiresAt: z.string(),
    /** The admin agent group's first wired chat, where the card goes. */
    adminChat: z.object({ messagingGroupId: Id, channelType: z.string(), platformId: z.string() }),
  }),
  stream: (data) => approvalStream(data.approvalId),
});

export const ApprovalDecided = defineEvent({
  type: 'ApprovalDecided',
  version: 1,
  schema: z.object({ approvalId: Id, decision: z.enum(['approved', 'rejected']), reason: z.string().nullable() }),
  stream: (data) => approvalStream(data.approvalId),
});

export const ApprovalExpired = defineEvent({
  type: 'ApprovalExpired',
  version: 1,
  schema: z.object({ approvalId: Id, expiresAt: z.string() }),
  stream: (data) => approvalStream(data.approvalId),
});

/**
 * A decision that was not applied, and why: by somebody who may not decide, on a payload
 * other than the one shown, on a request already closed or past its expiry, or a click on
 * a card naming no known request or option (then `decision` is null).
 */
export const ApprovalDecisionRefused = defineEvent({
  type: 'ApprovalDecisionRefused',
  version: 1,
  schema: z.object({
    approvalId: Id,
    decision: z.enum(['approved', 'rejected']).nullable(),
    reason: z.enum(['not-admin', 'payload-mismatch', 'already-decided', 'expired', 'unknown-request', 'unknown-option']),
    explanation: z.string(),
  }),
  stream: (data) => approvalStream(data.approvalId),
});

/** Recorded before the card is sent to the admin chat, so its attempts survive a restart. */
export const ApprovalCardAttempted = defineEvent({
  type: 'ApprovalCardAttempted',
  version: 1,
  schema: z.object({ approvalId: Id, attempt: z.number().int().min(1) }),
  stream: (data) => approvalStream(data.approvalId),
});

export const ApprovalCardSent = defineEvent({
  type: 'ApprovalCardSent',
  version: 1,
  schema: z.object({ approvalId: Id, attempt: z.number().int().min(1), platformMessageId: z.string().nullable() }),
  stream: (data) => approvalStream(data.approvalId),
});

/** The card could not be shown; when final, the request can still be decided with `switchyard approvals`. */
export const ApprovalCardFailed = defineEvent({
  type: 'ApprovalCardFailed',
  version: 1,
  schema: z.object({ approvalId: Id, attempt: z.number().int().min(1), errorClass: z.string(), error: z.string(), final: z.boolean() }),
  stream: (data) => approvalStream(data.approvalId),
});

/** The admin chat's platform asked the open card attempt to wait; the attempt stays open (see DeliveryRateLimited). */
export const ApprovalCardRateLimited = defineEvent({
  type: 'ApprovalCardRateLimited',
  version: 1,
  schema: z.object({ approvalId: Id, ...RateLimit }),
  stream: (data) => approvalStream(data.approvalId),
});

export const adminEvents = [
  SystemActionAccepted, AgentNotified, AgentInstructionsSet, AgentImageRebuildRequested, ApprovalRequested, ApprovalDecided, ApprovalExpired, ApprovalDecisionRefused,
  ApprovalCardAttempted, ApprovalCardSent, ApprovalCardFailed, ApprovalCardRateLimited,
];
