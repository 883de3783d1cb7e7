import type { InboundRepeat } from '../../commands/inbound';

/**
 * The channel adapter contract of the spec (§8): one adapter per channel type, reporting
 * inbound messages and delivering outbound ones. Only adapters talk to platforms.
 */

/** A chat wired to an agent, so an adapter can filter at the source. */
export interface Conversation {
  platformId: string;
  agentGroupId: string;
  triggerPattern: string | null;
  requiresTrigger: boolean;
  sessionMode: string;
}

/** One message as a platform reported it. */
export interface InboundReport {
  channelType: string;
  platformId: string;
  threadId: string | null;
  message: {
    id: string;
    kind: 'chat' | 'chat-sdk';
    content: Record<string, unknown>;
    /**
     * The platform's time. Left out when the platform gave none: the host then takes the
     * time it first received the message, so that a retry is not a different message.
     */
    timestamp?: string;
  };
  /** What the platform says about the chat, for a chat seen for the first time. */
  chat?: { name?: string; isGroup?: boolean };
  /** Whether the message names the bot (an @-mention, or a direct message). */
  isMention?: boolean;
  /** Whether the chat is a group rather than a direct conversation. */
  isGroup?: boolean;
  /** The platform's id of the message this one answers. */
  replyTo?: string;
}

export interface OutboundFile {
  name: string;
  /** The bytes, read from the session's outbox/<row id>/ once, so what is sent is what was checked. */
  data: Buffer;
}

export interface OutboundMessage {
  /**
   * The same for every attempt at one row (`<session id>:<messages_out id>`): a platform
   * bridge that remembers it turns the host's at-least-once retries into exactly-once.
   */
  idempotencyKey?: string;
  kind: string;
  /**
   * The row's content: a JSON string as the agent wrote it, except that a `messageId` naming
   * a message of this chat (what a reaction or an edit is aimed at) is the platform's id.
   */
  content: string;
  files: OutboundFile[];
  /** The platform's id of the message this one answers, when the agent named one of this chat. */
  inReplyTo?: string;
}

/** A click on an ask_question card (spec §6): which card, which option, by whom. */
export interface ActionReport {
  channelType: string;
  platformId: string;
  questionId: string;
  selectedOption: string;
  userId: string;
}

export interface ChannelSetup {
  conversations: Conversation[];
  /**
   * Resolves once the message is recorded in the log (routed or dropped), with whether it
   * repeats a message id recorded before; an adapter that says nothing is taken as 'none'.
   */
  onInbound(report: InboundReport): Promise<InboundRepeat | void>;
  /**
   * A client connected over which messages may arrive (an adapter with its own server calls
   * it), and the returned function when the connection closes: several clients' messages
   * then share one commit, while a lone client's never wait for company.
   */
  onClientConnected?(): () => void;
  /** Resolves with what became of the click once it is recorded. */
  onAction?(report: ActionReport): Promise<{ accepted: boolean; reason?: string }>;
  /**
   * False: a channel with a `connection` is set up to send only, and receives once told to
   * hold it (the host holds the channel's lease). Default true.
   */
  holdConnection?: boolean;
}

/**
 * A connection the platform allows one of per bot, over which a channel receives (Telegram's
 * getUpdates: a second poller is refused with 409 Conflict). With several hosts on one log,
 * only the one holding the channel's lease holds it; every host sends.
 */
export interface ChannelConnection {
  hold(): Promise<void>;
  release(): Promise<void>;
}

/**
 * A failure the platform reported; `retryable` false means further attempts are pointless.
 * `retryAfterMs` says the platform asked to be called again after that long (a 429 with
 * retry-after): the delivery loop waits it out and calls again within the same attempt.
 */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly errorClass: string,
    readonly retryable = true,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'DeliveryError';
  }
}

/** What a delivery returns: the platform's id, the ids of the parts it was split into, or null. */
export type DeliveredIds = string | string[] | null;

export interface ChannelAdapter {
  readonly channelType: string;
  setup(setup: ChannelSetup): Promise<void>;
  teardown(): Promise<void>;
  isConnected(): boolean;
  /** Present where the channel receives over a connection one host at a time may hold. */
  readonly connection?: ChannelConnection;
  /** Where the platform reaches this channel (a webhook's URL), for a channel that listens. */
  url?(): string;
  /**
   * Sends one message; returns the platform's id for it (null if the platform gives none),
   * or the ids of its parts in order when the platform took it in parts (a text over its
   * size limit, split by the adapter).
   */
  deliver(platformId: string, threadId: string | null, message: OutboundMessage): Promise<DeliveredIds>;
  /** Best effort: show the agent is working. */
  setTyping?(platformId: string, threadId: string | null): Promise<void>;
}
