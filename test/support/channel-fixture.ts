import type { ChannelAdapter } from '../../src/adapters/channels/channel';

/**
 * What the shared channel contract suite (test/contract/channels.contract.test.ts) needs
 * of a platform: its fake on loopback, the real channel pointed at it, a way to make a
 * person write or click there, and a way to read what the bot sent. One per platform.
 */

/** A message the bot posted, as the platform's fake received it. */
export interface SentMessage {
  /** The platform's id for it, as the channel reports it back. */
  id: string;
  platformId: string;
  threadId: string | null;
  text: string;
  files: { name: string; text: string }[];
  /** The buttons' labels, in order, when it is a card. */
  buttons: string[];
  /** The platform's id of the message it answers. */
  replyTo: string | null;
}

export interface ChannelFixture {
  readonly channelType: string;
  /** A group chat wired in the tests, and a second one for the admin. */
  readonly chats: { family: string; ops: string };
  /** Chats no test registers, and the names the platform gives them. */
  readonly unregistered: { group: { platformId: string; name: string }; direct: { platformId: string; name: string } };
  /** User ids: the ops chat's admin, and someone else. */
  readonly users: { admin: string; intruder: string };
  /** The environment the channel's variables come from (the fake's base URL, a token). */
  env(): Record<string, string>;
  start(): Promise<void>;
  close(): Promise<void>;
  channel(dataDir: string): ChannelAdapter;
  /** A person writes; resolves with the platform's id of the message (as the channel reports it). */
  say(options: { chat: string; text: string; userId?: string; thread?: string; file?: { name: string; data: Buffer } }): Promise<string>;
  /** The thread a message in `say({thread})` is in, as the channel reports it. */
  threadOf(chat: string, thread: string): string;
  /** A person clicks the option at `index` of a card the bot sent. */
  click(card: SentMessage, index: number, userId: string): Promise<void>;
  /** Resolves once the bot sent `count` messages (cards and files included). */
  sent(count: number): Promise<SentMessage[]>;
  /** Resolves once the bot edited `count` messages: which one and its new text. */
  edits(count: number): Promise<{ id: string; text: string }[]>;
  /** Resolves once the bot reacted `count` times: to which message, with what. */
  reactions(count: number): Promise<{ id: string; emoji: string }[]>;
  /** Resolves once the bot showed it is typing `count` times: in which chats. */
  typing(count: number): Promise<string[]>;
  /** The platform's next `count` answers to a send are the errors of a platform that is down (a 5xx). */
  downForNextSends(count: number): void;
  /** The platform's next answer to a send is a rate limit asking to wait `seconds`. */
  rateLimitNextSend(seconds: number): void;
}
