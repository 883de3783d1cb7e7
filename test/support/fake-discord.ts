import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { decodeMultipart, FakeApiServer, isMultipart, type ApiAnswer, type ApiCall, type ApiRoute } from './fake-api-server';

/**
 * A fake Discord on loopback, for the real @chat-adapter/discord pointed at it through
 * DISCORD_API_URL / `apiUrl` = `fake.apiUrl` (REST v10 paths under it, JSON bodies, `Bot <token>`
 * auth; a message with files is multipart with `payload_json` and `files[i]`).
 *
 * Inbound, as the adapter takes it without a websocket: gateway events forwarded to the
 * host's Discord webhook URL with `x-discord-gateway-token: <bot token>` and a body
 * `{ type: 'GATEWAY_MESSAGE_CREATE', timestamp, data }` (what the adapter's own gateway
 * forwarder sends), and HTTP interactions (a button click) signed with Ed25519 by a key pair
 * this fake makes: `publicKeyHex` is what DISCORD_PUBLIC_KEY must hold.
 */

export const DISCORD_APPLICATION_ID = '900000000000000001';
export const DISCORD_GUILD_ID = '800000000000000001';

/** A message the bot posted or edited, as Discord stored it. */
export interface DiscordPosted {
  id: string;
  channelId: string;
  payload: Record<string, unknown>;
  files: { filename: string; data: Buffer }[];
}

export interface DiscordChannel {
  id: string;
  name?: string;
  /** Discord channel types: 0 a guild text channel, 1 a DM, 11 a public thread. */
  type: number;
  parentId?: string;
}

export class FakeDiscord {
  /** Messages the bot posted, in order (a thread created for a mention is not one). */
  readonly posted: DiscordPosted[] = [];
  readonly publicKeyHex: string;
  private readonly privateKey: KeyObject;
  private readonly channels = new Map<string, DiscordChannel>();
  private readonly hostedFiles = new Map<string, { data: Buffer; contentType: string }>();
  private nextId = 1_000_000;

  private constructor(readonly api: FakeApiServer) {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    this.privateKey = privateKey;
    // The raw 32-byte key is the tail of its SPKI encoding.
    this.publicKeyHex = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex');
  }

  static async start(): Promise<FakeDiscord> {
    let discord: FakeDiscord | undefined;
    const api = await FakeApiServer.start((call) => discord!.route(call));
    discord = new FakeDiscord(api);
    return discord;
  }

  /** The REST base URL (what DISCORD_API_URL holds). */
  get apiUrl(): string {
    return `${this.api.origin}/api/v10`;
  }

  addChannel(channel: DiscordChannel): void {
    this.channels.set(channel.id, channel);
  }

  /** The channel a thread is under; undefined for a channel that is not a thread. */
  parentOf(channelId: string): string | undefined {
    return this.channels.get(channelId)?.parentId;
  }

  /** Serves bytes as an attachment someone posted; returns the `attachments[]` entry of a MESSAGE_CREATE. */
  hostFile(filename: string, data: Buffer, contentType = 'application/octet-stream'): Record<string, unknown> {
    const id = this.newId();
    this.hostedFiles.set(id, { data, contentType });
    return { id, filename, size: data.length, content_type: contentType, url: `${this.api.origin}/attachments/${id}/${encodeURIComponent(filename)}` };
  }

  /** The next `count` REST calls whose path matches get 429 with Discord's retry-after header and body. */
  rateLimitNext(path: RegExp, count = 1, retryAfterSeconds = 1): void {
    this.api.failNext(count, path, {
      status: 429,
      headers: { 'retry-after': String(retryAfterSeconds), 'x-ratelimit-scope': 'user' },
      body: { message: 'You are being rate limited.', retry_after: retryAfterSeconds, global: false },
    });
  }

  /** The next `count` REST calls whose path matches fail as Discord does when it is down. */
  failNext(path: RegExp, count = 1, status = 503): void {
    this.api.failNext(count, path, { status, body: { message: 'Service Unavailable', code: 0 } });
  }

  /** Resolves once the bot posted `count` messages. */
  async waitForPosts(count = 1, ms?: number): Promise<DiscordPosted[]> {
    await this.api.waitForCalls(/^\/api\/v10\/(channels\/[^/]+\/messages|webhooks\/.+)$/, count, ms);
    return this.posted;
  }

  close(): Promise<void> {
    return this.api.close();
  }

  /**
   * Signs an interaction body as Discord does: Ed25519 over `<timestamp><body>`, the
   * signature hex in `x-signature-ed25519`, the timestamp in `x-signature-timestamp`.
   */
  signInteraction(body: string, timestamp = String(Math.floor(Date.now() / 1000))): Record<string, string> {
    const signature = sign(null, Buffer.from(timestamp + body), this.privateKey).toString('hex');
    return { 'x-signature-ed25519': signature, 'x-signature-timestamp': timestamp };
  }

  /** A signed button click (a MESSAGE_COMPONENT interaction) on one of the bot's messages: `fetch` it, or hand it to the channel. */
  buttonClickRequest(webhookUrl: string, click: { channelId: string; messageId: string; customId: string; userId: string; guildId?: string }): Request {
    const body = JSON.stringify({
      id: this.newId(),
      application_id: DISCORD_APPLICATION_ID,
      type: 3,
      token: `interaction-token-${this.nextId}`,
      version: 1,
      guild_id: click.guildId ?? DISCORD_GUILD_ID,
      channel_id: click.channelId,
      channel: { id: click.channelId, type: this.channels.get(click.channelId)?.type ?? 0 },
      member: { user: { id: click.userId, username: `user-${click.userId}`, global_name: `User ${click.userId}` } },
      message: { id: click.messageId, channel_id: click.channelId },
      data: { custom_id: click.customId, component_type: 2 },
    });
    return new Request(webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...this.signInteraction(body) }, body });
  }

  private route(call: ApiCall): ApiRoute | undefined {
    if (call.method === 'GET' && call.path.startsWith('/attachments/')) return () => this.serveFile(call);
    const prefix = '/api/v10';
    if (!call.path.startsWith(prefix)) return undefined;
    const key = `${call.method} ${call.path.slice(prefix.length).replace(/\/[0-9A-Za-z%@._-]+/g, (segment) => (/^\/(channels|messages|reactions|threads|typing|webhooks|users)$/.test(segment) ? segment : '/:x'))}`;
    const handler = this.routes[key];
    return handler ? () => handler(call, call.path.slice(prefix.length).split('/').slice(1)) : undefined;
  }

  /** Discord's REST, only the fields the adapter reads; keys are `METHOD /path` with ids as `:x`. */
  private readonly routes: Record<string, (call: ApiCall, segments: string[]) => ApiAnswer | Promise<ApiAnswer>> = {
    'GET /channels/:x': (_call, [, channelId]) => ({ body: this.describeChannel(channelId!) }),
    'POST /channels/:x/messages': (call, [, channelId]) => this.post(call, channelId!),
    'PATCH /channels/:x/messages/:x': (call, [, channelId, , messageId]) => this.edit(call, channelId!, messageId!),
    'DELETE /channels/:x/messages/:x': () => ({ status: 204 }),
    'PUT /channels/:x/messages/:x/reactions/:x/:x': () => ({ status: 204 }),
    'DELETE /channels/:x/messages/:x/reactions/:x/:x': () => ({ status: 204 }),
    'POST /channels/:x/typing': () => ({ status: 204 }),
    'POST /channels/:x/messages/:x/threads': (call, [, channelId]) => {
      const thread: DiscordChannel = { id: this.newId(), name: String((call.body as { name?: string }).name ?? 'thread'), type: 11, parentId: channelId! };
      this.addChannel(thread);
      return { status: 201, body: { id: thread.id, name: thread.name, type: 11, parent_id: channelId } };
    },
    'GET /users/:x': (_call, [, userId]) => ({ body: { id: userId, username: `user-${userId}`, global_name: `User ${userId}`, bot: userId === DISCORD_APPLICATION_ID } }),
    // Interaction follow-ups and edits of the original response, which the adapter sends for slash commands.
    'POST /webhooks/:x/:x': (call, [, , token]) => this.post(call, `interaction:${token}`),
    'PATCH /webhooks/:x/:x/messages/:x': (call, [, , token]) => this.post(call, `interaction:${token}`),
  };

  private async post(call: ApiCall, channelId: string): Promise<ApiAnswer> {
    const { payload, files } = await decodeMessage(call);
    const posted: DiscordPosted = { id: this.newId(), channelId, payload, files };
    this.posted.push(posted);
    return { body: this.message(posted) };
  }

  private async edit(call: ApiCall, channelId: string, messageId: string): Promise<ApiAnswer> {
    const { payload } = await decodeMessage(call);
    return { body: this.message({ id: messageId, channelId, payload, files: [] }) };
  }

  private message(posted: DiscordPosted): Record<string, unknown> {
    return {
      id: posted.id,
      channel_id: posted.channelId,
      type: 0,
      content: posted.payload.content ?? '',
      embeds: posted.payload.embeds ?? [],
      components: posted.payload.components ?? [],
      attachments: posted.files.map((file, index) => ({ id: `${posted.id}${index}`, filename: file.filename, size: file.data.length })),
      author: { id: DISCORD_APPLICATION_ID, username: 'switchyard', bot: true },
      timestamp: new Date().toISOString(),
    };
  }

  private describeChannel(id: string): Record<string, unknown> {
    const channel = this.channels.get(id) ?? { id, type: 0, name: `channel-${id}` };
    return { id, type: channel.type, name: channel.name, parent_id: channel.parentId ?? null, ...(channel.type !== 1 && { guild_id: DISCORD_GUILD_ID }) };
  }

  private serveFile(call: ApiCall): ApiAnswer {
    const file = this.hostedFiles.get(call.path.split('/')[2] ?? '');
    if (!file) return { status: 404, body: { message: 'Unknown Attachment', code: 10049 } };
    return { headers: { 'content-type': file.contentType }, body: file.data };
  }

  private newId(): string {
    return String(this.nextId++);
  }
}

/** A message body: JSON, or multipart with `payload_json` and `files[i]` parts. */
async function decodeMessage(call: ApiCall): Promise<{ payload: Record<string, unknown>; files: { filename: string; data: Buffer }[] }> {
  if (!isMultipart(call)) return { payload: (call.body ?? {}) as Record<string, unknown>, files: [] };
  const { fields, files } = await decodeMultipart(call);
  return {
    payload: JSON.parse(fields.get('payload_json') ?? '{}') as Record<string, unknown>,
    files: files.filter((file) => file.field.startsWith('files[')).map(({ filename, data }) => ({ filename, data })),
  };
}

/** One message someone wrote, as the gateway's MESSAGE_CREATE carries it. */
export interface DiscordMessageCreate {
  id: string;
  channelId: string;
  authorId: string;
  content: string;
  /** Omit for a DM. */
  guildId?: string;
  /** Set when the channel is a thread: the adapter then asks for its parent. */
  channelType?: number;
  mentionsBot?: boolean;
  attachments?: Record<string, unknown>[];
  /** The message this one replies to. */
  referencedMessageId?: string;
}

/**
 * A MESSAGE_CREATE gateway event for the host's Discord webhook URL, forwarded the way the
 * adapter's own gateway forwarder does it (authenticated by the bot token).
 */
export function discordMessageRequest(webhookUrl: string, botToken: string, message: DiscordMessageCreate): Request {
  const data = {
    id: message.id,
    channel_id: message.channelId,
    ...(message.guildId !== undefined && { guild_id: message.guildId }),
    ...(message.channelType !== undefined && { channel_type: message.channelType }),
    author: { id: message.authorId, username: `user-${message.authorId}`, global_name: `User ${message.authorId}`, bot: false },
    content: message.content,
    timestamp: new Date().toISOString(),
    mentions: message.mentionsBot ? [{ id: DISCORD_APPLICATION_ID, username: 'switchyard', bot: true }] : [],
    mention_roles: [],
    attachments: message.attachments ?? [],
    ...(message.referencedMessageId !== undefined && { message_reference: { message_id: message.referencedMessageId, channel_id: message.channelId } }),
  };
  return discordGatewayEventRequest(webhookUrl, botToken, 'MESSAGE_CREATE', data);
}

/** Any forwarded gateway event (MESSAGE_REACTION_ADD, …), typed `GATEWAY_<type>`. */
export function discordGatewayEventRequest(webhookUrl: string, botToken: string, type: string, data: Record<string, unknown>): Request {
  return new Request(webhookUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-discord-gateway-token': botToken },
    body: JSON.stringify({ type: `GATEWAY_${type}`, timestamp: Date.now(), data }),
  });
}
