import { discord } from '../../src/adapters/channels/chat-sdk/discord';
import type { ChannelFixture, SentMessage } from './channel-fixture';
import { DISCORD_APPLICATION_ID, DISCORD_GUILD_ID, discordMessageRequest, FakeDiscord, type DiscordPosted } from './fake-discord';
import { WebhookPlatformFixture } from './platform-webhooks';

const BOT_TOKEN = 'discord-contract-bot-token';
/** A thread channel's type on Discord (a public thread). */
const PUBLIC_THREAD = 11;
const DIRECT_MESSAGE = 1;
/** Where the bot posts a message. */
const SEND_PATH = /^\/api\/v10\/channels\/[^/]+\/messages$/;

/**
 * The real Discord channel against FakeDiscord, reached through the platform-webhook
 * listener: messages as forwarded gateway events, clicks as signed interactions.
 */
export class DiscordFixture extends WebhookPlatformFixture<FakeDiscord> implements ChannelFixture {
  readonly channelType = 'discord';
  readonly chats = { family: `discord:${DISCORD_GUILD_ID}:100`, ops: `discord:${DISCORD_GUILD_ID}:200` };
  readonly users = { admin: '501', intruder: '502' };
  /** A DM is named after the person in it (Discord gives a DM channel no name). */
  readonly unregistered = { group: { platformId: `discord:${DISCORD_GUILD_ID}:300`, name: 'neighbours' }, direct: { platformId: 'discord:@me:55', name: 'User 500' } };
  private nextMessage = 7_000_000;

  constructor() {
    super(discord);
  }

  get discord(): FakeDiscord {
    return this.started;
  }

  env(): Record<string, string> {
    return {
      DISCORD_BOT_TOKEN: BOT_TOKEN,
      DISCORD_PUBLIC_KEY: this.discord.publicKeyHex,
      DISCORD_APPLICATION_ID,
      DISCORD_API_URL: this.discord.apiUrl,
      // No gateway offline: the events come forwarded, as from a gateway forwarder.
      DISCORD_GATEWAY: 'forwarded',
    };
  }

  protected async startFake(): Promise<FakeDiscord> {
    const fake = await FakeDiscord.start();
    fake.addChannel({ id: '100', name: 'family', type: 0 });
    fake.addChannel({ id: '200', name: 'ops', type: 0 });
    fake.addChannel({ id: '300', name: 'neighbours', type: 0 });
    fake.addChannel({ id: '55', type: DIRECT_MESSAGE });
    return fake;
  }

  /** A MESSAGE_CREATE; `thread` is a thread channel's id under the chat's channel. */
  async say(options: { chat: string; text: string; userId?: string; thread?: string; file?: { name: string; data: Buffer } }): Promise<string> {
    const id = String(this.nextMessage++);
    const parent = channelOf(options.chat);
    if (options.thread !== undefined) this.discord.addChannel({ id: options.thread, type: PUBLIC_THREAD, parentId: parent });
    await this.webhooks.send(
      discordMessageRequest(this.webhooks.url(), BOT_TOKEN, {
        id,
        channelId: options.thread ?? parent,
        ...(!options.chat.startsWith('discord:@me:') && { guildId: DISCORD_GUILD_ID }),
        authorId: options.userId ?? '500',
        content: options.text,
        ...(options.thread !== undefined && { channelType: PUBLIC_THREAD }),
        ...(options.file && { attachments: [this.discord.hostFile(options.file.name, options.file.data, 'text/plain')] }),
      }),
    );
    return id;
  }

  threadOf(chat: string, thread: string): string {
    return `${chat}:${thread}`;
  }

  async click(card: SentMessage, index: number, userId: string): Promise<void> {
    const posted = this.discord.posted.find((message) => message.id === card.id);
    const button = buttonsOf(posted)[index];
    if (!posted || !button) throw new Error(`card ${card.id} has no button ${index}`);
    await this.webhooks.send(this.discord.buttonClickRequest(this.webhooks.url(), { channelId: posted.channelId, messageId: posted.id, customId: button.custom_id, userId }));
  }

  async sent(count: number): Promise<SentMessage[]> {
    await this.discord.waitForPosts(count);
    return this.discord.posted.map((posted) => {
      const { parent, thread } = this.placeOf(posted.channelId);
      const embeds = (posted.payload.embeds ?? []) as { title?: string; description?: string }[];
      const reference = posted.payload.message_reference as { message_id?: string } | undefined;
      return {
        id: posted.id,
        platformId: `discord:${DISCORD_GUILD_ID}:${parent}`,
        threadId: thread === undefined ? null : `discord:${DISCORD_GUILD_ID}:${parent}:${thread}`,
        // A card's question is in its embed.
        text: [posted.payload.content, ...embeds.flatMap((embed) => [embed.title, embed.description])].filter((part) => typeof part === 'string' && part !== '').join('\n'),
        files: posted.files.map((file) => ({ name: file.filename, text: file.data.toString('utf8') })),
        buttons: buttonsOf(posted).map((button) => button.label),
        replyTo: reference?.message_id ?? null,
      };
    });
  }

  async edits(count: number): Promise<{ id: string; text: string }[]> {
    const calls = await this.discord.api.waitForCalls(/^\/api\/v10\/channels\/[^/]+\/messages\/[^/]+$/, count);
    return calls.filter((call) => call.method === 'PATCH').map((call) => ({ id: call.path.split('/').pop()!, text: String((call.body as { content?: string }).content ?? '') }));
  }

  async reactions(count: number): Promise<{ id: string; emoji: string }[]> {
    const calls = await this.discord.api.waitForCalls(/\/reactions\/[^/]+\/@me$/, count);
    return calls.map((call) => {
      const segments = call.path.split('/');
      return { id: segments.at(-4)!, emoji: decodeURIComponent(segments.at(-2)!) };
    });
  }

  async typing(count: number): Promise<string[]> {
    const calls = await this.discord.api.waitForCalls(/\/channels\/[^/]+\/typing$/, count);
    return calls.map((call) => {
      const { parent } = this.placeOf(call.path.split('/').at(-2)!);
      return `discord:${DISCORD_GUILD_ID}:${parent}`;
    });
  }

  downForNextSends(count: number): void {
    this.discord.failNext(SEND_PATH, count, 503);
  }

  rateLimitNextSend(seconds: number): void {
    this.discord.rateLimitNext(SEND_PATH, 1, seconds);
  }

  /** A channel id the bot posted in: a chat's channel, or a thread under one. */
  private placeOf(channelId: string): { parent: string; thread?: string } {
    const parent = this.discord.parentOf(channelId);
    return parent === undefined ? { parent: channelId } : { parent, thread: channelId };
  }
}

/** `discord:<guild>:100` → `100`. */
function channelOf(platformId: string): string {
  return platformId.split(':')[2]!;
}

type DiscordButton = { type: number; custom_id: string; label: string };

/** The buttons of a message's action rows, in order. */
function buttonsOf(posted: DiscordPosted | undefined): DiscordButton[] {
  const rows = (posted?.payload.components ?? []) as { components?: DiscordButton[] }[];
  return rows.flatMap((row) => row.components ?? []).filter((component) => component.type === 2);
}
