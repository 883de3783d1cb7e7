import { z } from 'zod';
import { defineEvent } from './define';
import { sessionStream } from './inbound';
import { Id } from './primitives';

/** Where a routed row goes: a chat, or another agent group. */
export const OutboundTarget = z.discriminatedUnion('type', [
  z.object({ type: z.literal('channel'), messagingGroupId: Id, channelType: z.string(), platformId: z.string(), threadId: z.string().nullable() }),
  z.object({ type: z.literal('agent'), agentGroupId: Id }),
]);
export type OutboundTarget = z.infer<typeof OutboundTarget>;

/** The messages_out row as the container wrote it: the evidence of every decision on it. */
export const OutboundRow = z.object({
  id: z.string().min(1).max(500),
  seq: z.number().int(),
  in_reply_to: z.string().nullable(),
  timestamp: z.string(),
  deliver_after: z.string().nullable(),
  recurrence: z.string().nullable(),
  kind: z.string(),
  platform_id: z.string().nullable(),
  channel_type: z.string().nullable(),
  thread_id: z.string().nullable(),
  content: z.string(),
});
export type OutboundRow = z.infer<typeof OutboundRow>;

/** A SQLite value as read: a blob (never text or a number here) by its bytes in hex. */
const SqlValue = z.union([z.string(), z.number(), z.null(), z.object({ blob: z.string() })]);

/**
 * A messages_out row as the poller read it, before the host judged it: the container may
 * write any value into id and seq, and any length into any column. Every decision records
 * the row in this shape; a well-formed row is exactly an OutboundRow, so events written
 * before this shape existed read the same.
 */
export const OutboundRowAsRead = OutboundRow.extend({
  id: SqlValue,
  seq: SqlValue,
  /** Columns longer than the host reads, by their size in bytes: such a column holds only a prefix. */
  oversize: z.record(z.string(), z.number().int()).optional(),
  /** The SQLite rowid, set when the row's id cannot name it (NULL, a blob, too long…). */
  rowid: z.number().int().optional(),
});
export type OutboundRowAsRead = z.infer<typeof OutboundRowAsRead>;

/** The ACL row that permitted a route, or the explicit rule that stood in for one. */
export const AclEvidence = z.object({
  rule: z.enum(['destination']),
  localName: z.string(),
  grantedAt: z.number().int(),
  grantedBy: z.string(),
});

export const OutboundRouted = defineEvent({
  type: 'OutboundRouted',
  version: 1,
  schema: z.object({
    sessionId: Id,
    agentGroupId: Id,
    outboundId: z.string(),
    seq: z.number().int(),
    kind: z.string(),
    content: z.string(),
    files: z.array(z.string()),
    inReplyTo: z.string().nullable(),
    target: OutboundTarget,
    acl: AclEvidence,
  }),
  stream: (data) => sessionStream(data.sessionId),
});

export const OutboundDropReason = z.enum([
  'unknown-destination',
  'not-permitted',
  'target-deleted',
  'malformed-row',
  'self-address',
  'unknown-action',
  /** An admin-only action asked for by an agent group that is not an admin. */
  'not-admin',
  /** A system action whose fields fail the host's validation (package names, MCP command…). */
  'invalid-request',
  /** An approval was asked for, but no admin agent group has a wired chat to show it in. */
  'no-admin-channel',
  /** Content over the host's cap: the event records its size, never the content. */
  'too-large',
  /** An agent answered an agent message that already ended a chain of the agent group's hop limit. */
  'loop-limit',
  /** The session wrote more rows in a minute than its agent group allows. */
  'rate-limited',
]);
export type OutboundDropReason = z.infer<typeof OutboundDropReason>;

export const OutboundDropped = defineEvent({
  type: 'OutboundDropped',
  version: 1,
  schema: z.object({
    sessionId: Id,
    agentGroupId: Id,
    outboundId: z.string(),
    reason: OutboundDropReason,
    /** One sentence an operator can read: what was asked and what the ACL said. */
    explanation: z.string(),
    /** The resolved target, when the row named one that exists. */
    target: OutboundTarget.nullable(),
    row: OutboundRowAsRead,
    /** For `loop-limit`: the chain of agent messages the row would have extended, origin first. */
    chain: z.array(z.string()).optional(),
  }),
  stream: (data) => sessionStream(data.sessionId),
});

export const outboundEvents = [OutboundRouted, OutboundDropped];
