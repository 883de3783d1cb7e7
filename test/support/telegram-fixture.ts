import { join } from 'node:path';
import { ChatSdkChannel } from '../../src/adapters/channels/chat-sdk/bridge';
import { CHAT_STATE_FILE, SqliteStateAdapter } from '../../src/adapters/channels/chat-sdk/sqlite-state';
import { telegram } from '../../src/adapters/channels/chat-sdk/telegram';
import { createLogger } from '../../src/logger';
import type { ChannelFixture, SentMessage } from './channel-fixture';
import { FakeTelegram, type BotCall } from './fake-telegram';

const FAMILY = { id: -1001, type: 'supergroup' as const, title: 'Family' };
const OPS = { id: -2002, type: 'supergroup' as const, title: 'Ops' };
type Chat = { id: number; type: 'supergroup' | 'private'; title?: string; first_name?: string };
const CHATS: Record<string, Chat> = {
  'telegram:-1001': FAMILY,
  'telegram:-2002': OPS,
  'telegram:-3003': { id: -3003, type: 'supergroup', title: 'Neighbours' },
  'telegram:55': { id: 55, type: 'private', first_name: 'Bea' },
};
const SEND_METHODS = ['sendMessage', 'sendDocument', 'sendMediaGroup'];

/** The real Telegram channel (polling) against FakeTelegram. */
export class TelegramFixture implements ChannelFixture {
  readonly channelType = 'telegram';
  readonly chats = { family: 'telegram:-1001', ops: 'telegram:-2002' };
  readonly users = { admin: '7', intruder: '8' };
  readonly unregistered = { group: { platformId: 'telegram:-3003', name: 'Neighbours' }, direct: { platformId: 'telegram:55', name: 'Bea' } };
  private fake: FakeTelegram | undefined;

  get telegram(): FakeTelegram {
    if (!this.fake) throw new Error('the fake Telegram is not started');
    return this.fake;
  }

  env(): Record<string, string> {
    // A short long-poll, so a stop does not wait on an open getUpdates for long.
    return this.telegram.hostEnv();
  }

  async start(): Promise<void> {
    this.fake = await FakeTelegram.start();
  }

  async close(): Promise<void> {
    await this.fake?.close();
  }

  channel(dataDir: string): ChatSdkChannel {
    return new ChatSdkChannel({ platform: telegram, env: this.env(), state: new SqliteStateAdapter(join(dataDir, CHAT_STATE_FILE)), logger: createLogger('silent') });
  }

  async say(options: { chat: string; text: string; userId?: string; thread?: string; file?: { name: string; data: Buffer } }): Promise<string> {
    const chat = CHATS[options.chat]!;
    const { message_id } = this.telegram.offerMessage({
      chat,
      text: options.text,
      ...(options.userId !== undefined && { from: { id: Number(options.userId), first_name: `User ${options.userId}` } }),
      ...(options.thread !== undefined && { messageThreadId: Number(options.thread) }),
      ...(options.file && { document: options.file }),
    });
    return `${chat.id}:${message_id}`;
  }

  threadOf(chat: string, thread: string): string {
    return `${chat}:${thread}`;
  }

  async click(card: SentMessage, index: number, userId: string): Promise<void> {
    const call = this.telegram.callsOf('sendMessage').find((c) => `${String(c.params.chat_id)}:${messageIdOf(c)}` === card.id);
    const keyboard = (call?.params.reply_markup as { inline_keyboard: { callback_data: string }[][] } | undefined)?.inline_keyboard.flat() ?? [];
    const button = keyboard[index];
    if (!button) throw new Error(`card ${card.id} has no button ${index}`);
    this.telegram.offerClick({ chat: CHATS[card.platformId]!, messageId: Number(card.id.split(':')[1]), from: { id: Number(userId), first_name: `User ${userId}` }, data: button.callback_data });
  }

  async sent(count: number): Promise<SentMessage[]> {
    const calls = await this.telegram.waitForCalls(SEND_METHODS, count);
    return calls.map(toSent);
  }

  async edits(count: number): Promise<{ id: string; text: string }[]> {
    const calls = await this.telegram.waitForCalls('editMessageText', count);
    return calls.map((call) => ({ id: `${String(call.params.chat_id)}:${String(call.params.message_id)}`, text: String(call.params.text) }));
  }

  async reactions(count: number): Promise<{ id: string; emoji: string }[]> {
    const calls = await this.telegram.waitForCalls('setMessageReaction', count);
    return calls.map((call) => ({ id: `${String(call.params.chat_id)}:${String(call.params.message_id)}`, emoji: (call.params.reaction as { emoji: string }[])[0]!.emoji }));
  }

  async typing(count: number): Promise<string[]> {
    const calls = await this.telegram.waitForCalls('sendChatAction', count);
    return calls.map((call) => `telegram:${String(call.params.chat_id)}`);
  }

  downForNextSends(count: number): void {
    for (let i = 0; i < count; i++) this.telegram.refuseNext('sendMessage', 502, 'Bad Gateway');
  }

  rateLimitNextSend(seconds: number): void {
    this.telegram.rateLimit('sendMessage', seconds);
  }
}

/** The message id the fake answered a send with (the first, for a media group). */
function messageIdOf(call: BotCall): number {
  const result = call.result as { message_id: number } | { message_id: number }[];
  return Array.isArray(result) ? result[0]!.message_id : result.message_id;
}

function toSent(call: BotCall): SentMessage {
  const { params } = call;
  const chatId = String(params.chat_id);
  const markup = typeof params.reply_markup === 'string' ? JSON.parse(params.reply_markup) : params.reply_markup;
  const buttons = ((markup as { inline_keyboard?: { text: string }[][] } | undefined)?.inline_keyboard ?? []).flat().map((button) => button.text);
  const replyParameters = typeof params.reply_parameters === 'string' ? JSON.parse(params.reply_parameters) : params.reply_parameters;
  const document = params.document as { name: string; text: string } | undefined;
  return {
    id: `${chatId}:${messageIdOf(call)}`,
    platformId: `telegram:${chatId}`,
    threadId: params.message_thread_id === undefined ? null : `telegram:${chatId}:${String(params.message_thread_id)}`,
    text: String(params.text ?? params.caption ?? ''),
    files: document ? [document] : [],
    buttons,
    replyTo: replyParameters ? `${chatId}:${String((replyParameters as { message_id: number }).message_id)}` : null,
  };
}
