import { z } from 'zod';
import { OutboundDropped, OutboundRouted, OutboundRow, OutboundRowAsRead, type OutboundDropReason, type OutboundTarget } from '../events/outbound';
import { Id } from '../events/primitives';
import type { Views } from '../projections';
import type { DestinationRow } from '../projections/destinations';
import { readAgentTime } from './agent-time';
import { defineCommand, reject, type CommandMetadata } from './define';
import { answeredChain, limitNotice, loopLimitHit, rateLimitHit } from './loop-limits';
import { decideSystemAction } from './system-actions';

export const RouteOutboundPayload = z.object({ sessionId: Id, row: OutboundRowAsRead });
export type RouteOutboundPayload = z.input<typeof RouteOutboundPayload>;

/**
 * The largest content the host takes from an agent. The longest message a chat platform
 * accepts is about 40,000 characters (Slack); 64 KiB holds that as JSON with room to spare,
 * and every system action's fields fit well under it. A bigger row is no message but an
 * attempt to fill the log and the chat, and is dropped with its size.
 */
export const MAX_OUTBOUND_CONTENT_BYTES = 64 * 1024;
/** Every other column (ids, chat and thread ids, kind, times) is short: 2 KiB holds a 500-character id in any script. */
export const MAX_OUTBOUND_FIELD_BYTES = 2 * 1024;
const MAX_ID_CHARS = 500;
const CONTROL_CHARACTER = /\p{Cc}/u;

/** Why a row's id cannot name it (in a command id, the audit, the delivered table), or undefined if it can. */
export function idProblem(row: Pick<OutboundRowAsRead, 'id' | 'oversize'>): string | undefined {
  const { id } = row;
  if (id === null) return 'the row has no id (NULL)';
  if (typeof id === 'number') return "the row's id is a number, not text";
  if (typeof id !== 'string') return "the row's id is a blob, not text";
  if (row.oversize?.id !== undefined) return `the row's id is ${row.oversize.id} bytes; the cap is ${MAX_OUTBOUND_FIELD_BYTES}`;
  if (id === '') return "the row's id is empty";
  if (id.length > MAX_ID_CHARS) return `the row's id is ${id.length} characters; at most ${MAX_ID_CHARS}`;
  if (CONTROL_CHARACTER.test(id)) return "the row's id holds a control character";
  return undefined;
}

/** How the log names a row: its id, or its rowid when the id cannot name it. */
const outboundIdOf = (row: OutboundRowAsRead) => (idProblem(row) === undefined ? (row.id as string) : `rowid:${row.rowid ?? 'unknown'}`);

export function seqProblem(seq: OutboundRowAsRead['seq']): string | undefined {
  if (seq === null) return 'seq is NULL';
  if (typeof seq === 'string') return `seq is text ${JSON.stringify(seq.slice(0, 40))}`;
  if (typeof seq === 'object') return 'seq is a blob';
  if (!Number.isSafeInteger(seq) || seq < 0) return `seq ${seq} is not a whole number from 0 to 2^53`;
  return undefined;
}

/**
 * The row as a well-formed OutboundRow, or why it is not one. Seq parity is not checked:
 * it keeps the host's and the container's rows apart for addressing, it grants nothing,
 * so a row with the host's parity is routed like any other.
 */
function wellFormed(read: OutboundRowAsRead, now: number): { row: OutboundRow } | { reason: OutboundDropReason; explanation: string } {
  const malformed = (explanation: string) => ({ reason: 'malformed-row' as const, explanation });
  const id = idProblem(read);
  if (id !== undefined) return malformed(`${id} (rowid ${read.rowid ?? 'unknown'})`);
  const seq = seqProblem(read.seq);
  if (seq !== undefined) return malformed(seq);
  const [column, bytes] = Object.entries(read.oversize ?? {})[0] ?? [];
  if (column === 'content') return { reason: 'too-large', explanation: `content is ${bytes} bytes; the cap is ${MAX_OUTBOUND_CONTENT_BYTES}` };
  if (column !== undefined) return malformed(`${column} is ${bytes} bytes; the cap is ${MAX_OUTBOUND_FIELD_BYTES}`);
  const deliverAfter = read.deliver_after === null ? undefined : readAgentTime('deliver_after', read.deliver_after, now);
  if (deliverAfter && 'problem' in deliverAfter) return malformed(deliverAfter.problem);
  return { row: OutboundRow.parse(read) };
}

/** A file name the container may ask to send from outbox/<row id>/: one plain path segment. */
const SAFE_FILE_NAME = /^(?!\.{1,2}$)[^/\\\u0000]{1,255}$/;

/** What routing reads of a row's content: the name the agent addressed (content.to) and the files to send, or why it cannot be read. */
export function readContent(content: string): { requestedName: string | undefined; files: string[] } | { problem: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch {
    return { problem: 'content is not valid JSON' };
  }
  const to = (parsed as { to?: unknown } | null)?.to;
  const requested = (parsed as { files?: unknown } | null)?.files;
  if (requested !== undefined && (!Array.isArray(requested) || !requested.every((name) => typeof name === 'string' && SAFE_FILE_NAME.test(name)))) {
    return { problem: 'content.files must be a list of plain file names inside outbox/<row id>/' };
  }
  return { requestedName: typeof to === 'string' ? to : undefined, files: (requested as string[] | undefined) ?? [] };
}

type Resolution =
  | { ok: true; target: OutboundTarget; permit: DestinationRow }
  | { ok: false; reason: OutboundDropReason; explanation: string; target: OutboundTarget | null };

const fail = (reason: OutboundDropReason, explanation: string, target: OutboundTarget | null = null): Resolution => ({ ok: false, reason, explanation, target });

/** The row's target, checked against the source agent group's destination map. */
function resolveTarget(views: Views, source: string, row: z.output<typeof OutboundRow>, requestedName: string | undefined): Resolution {
  if (row.channel_type === 'agent') {
    if (!row.platform_id) return fail('malformed-row', 'an agent-to-agent row must name the target agent group in platform_id');
    const target: OutboundTarget = { type: 'agent', agentGroupId: row.platform_id };
    if (row.platform_id === source) {
      return fail('self-address', `agent group ${source} addressed itself; no destination can grant that (rule implicit-self)`, target);
    }
    const permit = views.destinations.nameFor(source, 'agent', row.platform_id);
    const exists = views.agentGroups.get(row.platform_id) !== undefined;
    if (!permit) {
      return exists
        ? fail('not-permitted', `agent group ${source} has no destination to agent group ${row.platform_id}`, target)
        : fail('unknown-destination', `no agent group ${row.platform_id}, and no destination to it`);
    }
    if (!exists) return fail('target-deleted', `destination ${permit.local_name} points at agent group ${row.platform_id}, which was deleted`, target);
    return { ok: true, target, permit };
  }
  if (!row.channel_type && !row.platform_id && requestedName !== undefined) {
    // Our runner sends a block addressed to a name its map lacks unrouted, naming it, so the refusal is on record here.
    return fail('unknown-destination', `agent group ${source} has no destination named "${requestedName}"`);
  }
  if (!row.channel_type || !row.platform_id) return fail('malformed-row', 'a channel row must set channel_type and platform_id');
  const chat = views.messagingGroups.byPlatform(row.channel_type, row.platform_id);
  if (!chat) return fail('unknown-destination', `no ${row.channel_type} chat ${row.platform_id} is registered`);
  const target: OutboundTarget = { type: 'channel', messagingGroupId: chat.id, channelType: chat.channel_type, platformId: chat.platform_id, threadId: row.thread_id };
  const permit = views.destinations.nameFor(source, 'channel', chat.id);
  if (!permit) return fail('not-permitted', `agent group ${source} has no destination to ${row.channel_type} chat ${row.platform_id} (${chat.id})`, target);
  return { ok: true, target, permit };
}

/**
 * Re-checks one messages_out row against the source agent group's destination map, on
 * the host, whatever the container claimed: routed with the ACL row that permitted it,
 * or dropped with a reason from a closed set and the evidence.
 */
export const RouteOutbound = defineCommand('RouteOutbound', RouteOutboundPayload, (views, command, context) => {
  const session = views.sessions.get(command.sessionId);
  if (!session) return reject('unknown-session', `no session ${command.sessionId}`);
  const source = session.agent_group_id;
  // Before anything else: a session flooding the host with rows, well formed or not, is cut off.
  const flood = rateLimitHit(views, session.id, source, context.issuedAt);
  if (flood) {
    const outboundId = outboundIdOf(command.row);
    return [
      OutboundDropped.create({ sessionId: session.id, agentGroupId: source, outboundId, reason: 'rate-limited', explanation: flood.explanation, target: null, row: command.row }),
      ...(flood.tell ? [limitNotice(session.id, outboundId, 'rate-limited', flood.explanation, context)] : []),
    ];
  }
  const checked = wellFormed(command.row, Date.parse(context.issuedAt));
  if (!('row' in checked)) {
    const { reason, explanation } = checked;
    return [OutboundDropped.create({ sessionId: session.id, agentGroupId: source, outboundId: outboundIdOf(command.row), reason, explanation, target: null, row: command.row })];
  }
  const { row } = checked;
  const dropped = (reason: OutboundDropReason, explanation: string, target: OutboundTarget | null = null) => [
    OutboundDropped.create({ sessionId: session.id, agentGroupId: source, outboundId: row.id, reason, explanation, target, row }),
  ];

  if (row.kind === 'system') return decideSystemAction(views, session, row, context);
  const content = readContent(row.content);
  if ('problem' in content) return dropped('malformed-row', content.problem);
  const { requestedName, files } = content;

  const resolution = resolveTarget(views, source, row, requestedName);
  if (!resolution.ok) return dropped(resolution.reason, resolution.explanation, resolution.target);
  const { permit } = resolution;
  if (resolution.target.type === 'agent') {
    const answered = answeredChain(views, session.id, row.in_reply_to, context.issuedAt);
    const loop = loopLimitHit(views, session.id, source, answered, context.issuedAt);
    if (loop) {
      return [
        OutboundDropped.create({ sessionId: session.id, agentGroupId: source, outboundId: row.id, reason: 'loop-limit', explanation: loop.explanation, target: resolution.target, row, chain: answered.chain }),
        ...(loop.tell ? [limitNotice(session.id, row.id, 'loop-limit', loop.explanation, context)] : []),
      ];
    }
  }
  return [
    OutboundRouted.create({
      sessionId: session.id,
      agentGroupId: source,
      outboundId: row.id,
      seq: row.seq,
      kind: row.kind,
      content: row.content,
      files,
      inReplyTo: row.in_reply_to,
      target: resolution.target,
      acl: { rule: 'destination', localName: permit.local_name, grantedAt: permit.granted_at, grantedBy: permit.granted_by },
    }),
  ];
});

/**
 * The command for one messages_out row; its id makes re-reading the row harmless. A row
 * whose id cannot name it is named by its rowid, in a namespace no row id can reach.
 */
export function routeOutbound(payload: RouteOutboundPayload, metadata: CommandMetadata = {}) {
  const { sessionId, row } = payload;
  const commandId = idProblem(row) === undefined ? `outbound:${sessionId}:${String(row.id)}` : `outbound-rowid:${sessionId}:${row.rowid ?? 'unknown'}`;
  return RouteOutbound.envelope(commandId, payload, metadata);
}

export const outboundCommands = [RouteOutbound];
