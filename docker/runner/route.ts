import { parseBlocks } from './blocks';
import type { DestinationMap } from './destinations';
import type { InboundMessage, OutboundRow } from './session';

/** Where a row goes: the routing fields of messages_out, set from this agent's own map. */
export type Routing = Pick<OutboundRow, 'channelType' | 'platformId' | 'threadId'>;

/**
 * A row's routing to the destination named `to`, answering `message`: a channel sets its
 * chat (and, when it is the chat the message came from, its thread: spec §10, threads);
 * an agent its group id. `undefined` when the map has no such name.
 */
export function routingTo(message: InboundMessage, to: string, destinations: DestinationMap): Routing | undefined {
  const destination = destinations.byName(to);
  if (!destination) return undefined;
  if (destination.type === 'agent') return { channelType: 'agent', platformId: destination.agentGroupId, threadId: null };
  const sameChat = message.channel_type === destination.channelType && message.platform_id === destination.platformId;
  return { channelType: destination.channelType, platformId: destination.platformId, threadId: sameChat ? message.thread_id : null };
}

/**
 * One chat row to the name `to`. A name the map lacks is a deliberate extension of the
 * contract: the reference runner dropped it silently; here it is written without routing
 * fields and with the name it was addressed to, so the host, which decides every route,
 * records the refusal.
 */
export function rowTo(message: InboundMessage, to: string, content: Record<string, unknown>, destinations: DestinationMap): { row: OutboundRow; known: boolean } {
  const routing = routingTo(message, to, destinations);
  if (routing) return { row: { inReplyTo: message.id, ...routing, content }, known: true };
  return { row: { inReplyTo: message.id, channelType: null, platformId: null, threadId: null, content: { ...content, to } }, known: false };
}

/** One messages_out row per `<message to>` block of the output; the rest is scratchpad, given to `note`. */
export function routeBlocks(
  message: InboundMessage,
  output: string,
  destinations: DestinationMap,
  log: (event: string, fields: Record<string, unknown>) => void,
): OutboundRow[] {
  const { blocks, scratchpad } = parseBlocks(output);
  for (const note of scratchpad) log('Scratchpad', { messageId: message.id, text: note.slice(0, 2000) });
  return blocks.map(({ to, body }) => {
    const { row, known } = rowTo(message, to, { text: body }, destinations);
    if (!known) log('UnknownDestination', { messageId: message.id, to });
    return row;
  });
}
