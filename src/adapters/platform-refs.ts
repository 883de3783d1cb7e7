import type { Core } from '../core';
import { InboundRouted } from '../events/inbound';
import type { OutboundRouted } from '../events/outbound';

type RoutedData = ReturnType<typeof OutboundRouted.schema.parse>;

/** What a channel gets in place of the ids an agent wrote. */
export interface PlatformRefsOf {
  /** The row's content, with `messageId` turned into the platform's id where it named a message of this chat. */
  content: string;
  /** The platform's id of the message the row answers (its in_reply_to), when that is a message of this chat. */
  inReplyTo?: string;
}

/**
 * Agents name the message a reaction, an edit or a reply is aimed at by the ids they see:
 * a messages_in id (the reference's runner copies it into `content.messageId` and
 * `in_reply_to`) or one of their own messages_out ids. The reference stored the platform's
 * message id as messages_in.id; Switchyard keeps its own `msg-…` id there instead, and
 * translates here, at the edge, just before a channel is called. Why not the reference's
 * layout: messages_in.id is unique per session, and an agent-shared session takes messages
 * from many chats and platforms whose ids may collide ("42" in two Telegram chats); it also
 * names the inbox/<id>/ folder, the retry and task records and the log's events, which a
 * hostile platform id must never reach. The log already holds both ids (InboundRouted has
 * the platform's; DeliverySucceeded the one the platform gave an agent's own message).
 *
 * A name is translated only when it is a message of the row's own session and chat: an id
 * from another chat (an agent-shared session serves several) or one the session never saw
 * is passed on as written, so a bridge can never be pointed at a message outside the chat
 * the ACL let the row reach.
 */
export class PlatformRefs {
  /**
   * Platform ids of rows sent whose success is not committed yet: an edit written together
   * with the message it edits goes out in the same batch, before the batch's outcomes are.
   */
  private readonly uncommitted = new Map<string, string>();

  constructor(private readonly core: Pick<Core, 'store' | 'views'>) {}

  translate(data: RoutedData): PlatformRefsOf {
    if (data.target.type !== 'channel') return { content: data.content };
    const { messagingGroupId } = data.target;
    const resolve = (id: string) => this.platformIdOf(data.sessionId, messagingGroupId, id);
    const inReplyTo = data.inReplyTo === null ? undefined : resolve(data.inReplyTo);
    return { content: translateContent(data.content, resolve), ...(inReplyTo !== undefined && { inReplyTo }) };
  }

  /** A row was sent and the platform named it; until its success is committed, only this knows. */
  noteSent(sessionId: string, outboundId: string, platformMessageId: string | null): void {
    if (platformMessageId !== null) this.uncommitted.set(key(sessionId, outboundId), platformMessageId);
  }

  /** The row's success is in the log now. */
  forget(sessionId: string, outboundId: string): void {
    this.uncommitted.delete(key(sessionId, outboundId));
  }

  /** The platform's id for a message of this session in this chat: inbound first, as the reference's runner looks. */
  private platformIdOf(sessionId: string, messagingGroupId: string, id: string): string | undefined {
    const { audit } = this.core.views;
    const inbound = audit.inboundRow(sessionId, id);
    if (inbound) {
      const event = this.core.store.readAt(inbound.decided_position);
      return event && InboundRouted.is(event) && event.data.messagingGroupId === messagingGroupId ? event.data.platformMessageId : undefined;
    }
    const own = audit.outboundRow(sessionId, id);
    if (own?.messaging_group_id !== messagingGroupId) return undefined;
    return own.platform_message_id ?? this.uncommitted.get(key(sessionId, id));
  }
}

const key = (sessionId: string, outboundId: string) => `${sessionId}\u0000${outboundId}`;

/** Content is left byte for byte as written unless a `messageId` in it is translated. */
function translateContent(content: string, resolve: (id: string) => string | undefined): string {
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch {
    return content;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return content;
  const { messageId } = value as { messageId?: unknown };
  const platformId = typeof messageId === 'string' ? resolve(messageId) : undefined;
  return platformId === undefined ? content : JSON.stringify({ ...value, messageId: platformId });
}
