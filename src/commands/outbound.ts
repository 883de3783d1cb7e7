import { z } from 'zod';
import { OutboundDropped, OutboundRouted, OutboundRow, type OutboundDropReason, type OutboundTarget } from '../events/outbound';
import { Id } from '../events/primitives';
import type { Views } from '../projections';
import type { DestinationRow } from '../projections/destinations';
import { defineCommand, reject, type CommandMetadata } from './define';
import { decideSystemAction } from './system-actions';

export const RouteOutboundPayload = z.object({ sessionId: Id, row: OutboundRow });
export type RouteOutboundPayload = z.input<typeof RouteOutboundPayload>;

/** A file name the container may ask to send from outbox/<row id>/: one plain path segment. */
const SAFE_FILE_NAME = /^(?!\.{1,2}$)[^/\\\u0000]{1,255}$/;

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
  const { row } = command;
  const source = session.agent_group_id;
  const dropped = (reason: OutboundDropReason, explanation: string, target: OutboundTarget | null = null) => [
    OutboundDropped.create({ sessionId: session.id, agentGroupId: source, outboundId: row.id, reason, explanation, target, row }),
  ];

  if (row.kind === 'system') return decideSystemAction(views, session, row, context);
  let files: string[] = [];
  let requestedName: string | undefined;
  try {
    const content: unknown = JSON.parse(row.content);
    const to = (content as { to?: unknown } | null)?.to;
    if (typeof to === 'string') requestedName = to;
    const requested = (content as { files?: unknown } | null)?.files;
    if (requested !== undefined) {
      if (!Array.isArray(requested) || !requested.every((name) => typeof name === 'string' && SAFE_FILE_NAME.test(name))) {
        return dropped('malformed-row', 'content.files must be a list of plain file names inside outbox/<row id>/');
      }
      files = requested as string[];
    }
  } catch {
    return dropped('malformed-row', 'content is not valid JSON');
  }

  const resolution = resolveTarget(views, source, row, requestedName);
  if (!resolution.ok) return dropped(resolution.reason, resolution.explanation, resolution.target);
  const { permit } = resolution;
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

/** The command for one messages_out row; its id makes re-reading the row harmless. */
export function routeOutbound(payload: RouteOutboundPayload, metadata: CommandMetadata = {}) {
  return RouteOutbound.envelope(`outbound:${payload.sessionId}:${payload.row.id}`, payload, metadata);
}

export const outboundCommands = [RouteOutbound];
