import { createHash } from 'node:crypto';
import type { ActionEvent, Adapter, AdapterPostableMessage, Chat, Logger as SdkLogger, Message, StateAdapter, Thread } from 'chat';
import type { Logger } from '../../../logger';
import { DeliveryError, type ChannelAdapter, type ChannelConnection, type ChannelSetup, type DeliveredIds, type InboundReport, type OutboundMessage } from '../channel';

/**
 * One Chat SDK (`chat`, Vercel's) `Chat` with one platform adapter behind Switchyard's
 * channel port. The platform modules (telegram.ts, …) say only how to build their SDK
 * adapter and what the platform's limits are; everything else is here, once:
 * inbound messages and card clicks to the host, outbound text split to the platform's
 * limit, files, edits, reactions, typing, question cards with buttons, and the SDK's
 * errors turned into DeliveryErrors.
 *
 * The packages are ESM only and this project is CommonJS: types are imported with
 * `import type`, values with `await import()` (tsc keeps it a real dynamic import).
 *
 * Ids: the chat is the SDK's channel id (`telegram:-1001`, prefixed like NanoClaw's
 * platform ids), the thread is the SDK's thread id when it differs from the chat (a forum
 * topic, a Slack thread), else null; message ids are the SDK's.
 */

/** What a platform module gives the bridge. */
export interface ChatSdkPlatform {
  /** The channel type, and the name of its SDK adapter (`chat.webhooks[name]`). */
  readonly channelType: string;
  /** The variables it cannot start without (in the mode the environment asks for), in the order they are asked for. */
  requiredEnv(env: NodeJS.ProcessEnv): readonly string[];
  /** Variables whose values must never reach a log line (tokens, signing secrets). */
  readonly secretEnv: readonly string[];
  /** The longest text one platform message may carry; longer markdown is split. */
  readonly maxMessageLength: number;
  /** The longest caption a file may carry, where shorter than a message. */
  readonly maxCaptionLength?: number;
  /** Whether cards show buttons; without, a question goes out as text. */
  readonly buttons: boolean;
  /** The path its webhooks arrive on at the platform-webhook listener, or undefined when it polls or holds a gateway. */
  webhookPath(env: NodeJS.ProcessEnv): string | undefined;
  /**
   * The chat's name as the message itself carries it, where the platform sends it along;
   * without this the bridge asks the adapter (fetchChannelInfo) once per chat.
   */
  chatNameOf?(message: Message): string | undefined;
  /** Whether, in the mode the environment asks for, it receives over one connection per bot (an adapter with hold/release). */
  holdsConnection?(env: NodeJS.ProcessEnv): boolean;
  /**
   * Builds the SDK adapter from the environment (checked for requiredEnv first). With
   * `holdConnection` false, a platform that holdsConnection receives nothing until hold().
   */
  createAdapter(env: NodeJS.ProcessEnv, logger: SdkLogger, options?: { holdConnection: boolean }): Promise<Adapter & Partial<ChannelConnection>>;
}

/** A platform whose variables are not all set: the start is refused with the first one missing. */
export class MissingCredentialError extends Error {
  constructor(
    readonly channelType: string,
    readonly variable: string,
  ) {
    super(`the ${channelType} channel needs ${variable} to be set`);
    this.name = 'MissingCredentialError';
  }
}

/** Throws MissingCredentialError naming the first required variable that is unset or empty. */
export function checkCredentials(platform: ChatSdkPlatform, env: NodeJS.ProcessEnv): void {
  const missing = platform.requiredEnv(env).find((name) => !env[name]?.trim());
  if (missing !== undefined) throw new MissingCredentialError(platform.channelType, missing);
}

export interface ChatSdkChannelOptions {
  platform: ChatSdkPlatform;
  env?: NodeJS.ProcessEnv;
  /** The SDK's durable state (SqliteStateAdapter on `<data>/chat-state.db`). */
  state: StateAdapter;
  logger?: Logger;
  /** The bot's name as the SDK detects mentions of it, where the platform does not tell. */
  userName?: string;
}

/** Parsed outbound content: what the agent wrote (a JSON object), or its raw text. */
type Content = Record<string, unknown>;

/** How long the ids a row was sent as are remembered, so a retry of it is not sent twice. */
const SENT_TTL_MS = 7 * 24 * 3_600_000;
/** Prefix of the button ids the bridge makes; a click on anything else is not a card's. */
const BUTTON_PREFIX = 'sy';

export class ChatSdkChannel implements ChannelAdapter {
  readonly channelType: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly logger: Logger | undefined;
  private chat: Chat | undefined;
  private adapter: (Adapter & Partial<ChannelConnection>) | undefined;
  readonly connection: ChannelConnection | undefined;
  private sdk: typeof import('chat') | undefined;
  private connected = false;
  /** Chats whose name was looked up once this run: a name is worth one call, not one per message. */
  private readonly chatNames = new Map<string, string | undefined>();
  /** The tail of each chat's messages being handed to the host (see inChatOrder). */
  private readonly chatQueues = new Map<string, Promise<unknown>>();

  constructor(private readonly options: ChatSdkChannelOptions) {
    this.channelType = options.platform.channelType;
    this.env = options.env ?? process.env;
    this.logger = options.logger?.child({ component: 'chat-sdk-channel', channelType: this.channelType });
    this.connection = options.platform.holdsConnection?.(this.env) ? { hold: () => this.holdConnection(), release: () => this.releaseConnection() } : undefined;
  }

  async setup(setup: ChannelSetup): Promise<void> {
    if (this.chat) throw new Error(`${this.channelType} channel is already set up`);
    const { platform, state } = this.options;
    checkCredentials(platform, this.env);
    const sdkLogger = redactingLogger(this.logger, platform.secretEnv.flatMap((name) => (this.env[name] ? [this.env[name]] : [])));
    // One after the other: two concurrent first imports of these packages fail under jest.
    const sdk = await import('chat');
    const adapter = await platform.createAdapter(this.env, sdkLogger, { holdConnection: setup.holdConnection ?? true });
    const chat = new sdk.Chat({
      userName: this.options.userName ?? 'switchyard',
      adapters: { [platform.channelType]: adapter },
      state,
      logger: sdkLogger,
      // Every message goes to the host at once: the host orders, dedupes and decides who answers.
      concurrency: 'concurrent',
    });
    const receive = (thread: Thread, message: Message) => this.inChatOrder(adapter.channelIdFromThreadId(thread.id), () => this.receive(setup, adapter, thread, message));
    // Never subscribing, every message arrives through one of these: a DM, a mention, or any other text.
    chat.onDirectMessage(receive);
    chat.onNewMention(receive);
    chat.onSubscribedMessage(receive);
    chat.onNewMessage(/(?:)/, receive);
    chat.onAction(async (event) => this.click(setup, adapter, event));
    this.sdk = sdk;
    this.adapter = adapter;
    this.chat = chat;
    await chat.initialize();
    this.connected = true;
    this.logger?.info({ event: 'ChannelConnected', webhookPath: platform.webhookPath(this.env) ?? null }, `${this.channelType} channel connected`);
  }

  async teardown(): Promise<void> {
    const chat = this.chat;
    if (!chat) return;
    this.connected = false;
    this.chat = undefined;
    // shutdown stops a poller or gateway and disconnects the state.
    await chat.shutdown();
    this.logger?.info({ event: 'ChannelClosed' }, `${this.channelType} channel closed`);
  }

  isConnected(): boolean {
    return this.connected;
  }

  private async holdConnection(): Promise<void> {
    if (!this.chat) throw new Error(`${this.channelType} channel is not set up`);
    await this.adapter?.hold?.();
    this.logger?.info({ event: 'ChannelConnectionHeld' }, `${this.channelType} channel receives on this host`);
  }

  private async releaseConnection(): Promise<void> {
    await this.adapter?.release?.();
    this.logger?.info({ event: 'ChannelConnectionReleased' }, `${this.channelType} channel receives elsewhere`);
  }

  /** Where the platform-webhook listener passes a request for this platform (when it listens). */
  async handleWebhook(request: Request): Promise<Response> {
    const chat = this.chat;
    if (!chat || !this.connected) return new Response(JSON.stringify({ error: 'channel is not running' }), { status: 503 });
    const handlers = chat.webhooks as Record<string, (request: Request, options?: { waitUntil?: (task: Promise<unknown>) => void }) => Promise<Response>>;
    const tasks: Promise<unknown>[] = [];
    const response = await handlers[this.channelType]!(request, { waitUntil: (task) => tasks.push(task) });
    // Answered only once the host has recorded what came in: a platform retries what failed.
    const failed = (await Promise.allSettled(tasks)).some((outcome) => outcome.status === 'rejected');
    return failed ? new Response(JSON.stringify({ error: 'not recorded' }), { status: 500 }) : response;
  }

  async deliver(platformId: string, threadId: string | null, message: OutboundMessage): Promise<DeliveredIds> {
    const { adapter, state } = this.running();
    const sentKey = message.idempotencyKey === undefined ? undefined : `switchyard:sent:${this.channelType}:${message.idempotencyKey}`;
    if (sentKey !== undefined) {
      // A retry of a row the platform already took (the host crashed before recording it): not sent again.
      const sent = await state.get<DeliveredIds>(sentKey);
      if (sent !== null) return sent;
    }
    const thread = threadId ?? platformId;
    const content = parseContent(message.content);
    const sent = await platformCall(`${this.channelType} ${describe(content)}`, () => this.send(adapter, thread, content, message));
    if (sentKey !== undefined && sent !== null) await state.set(sentKey, sent, SENT_TTL_MS);
    return sent;
  }

  /** Best effort: a typing notice that does not arrive costs nothing, so failures are only logged. */
  async setTyping(platformId: string, threadId: string | null): Promise<void> {
    try {
      await this.running().adapter.startTyping(threadId ?? platformId);
    } catch (error) {
      this.logger?.debug({ err: error, platformId, threadId }, 'typing notice failed');
    }
  }

  private async send(adapter: Adapter, thread: string, content: Content, message: OutboundMessage): Promise<DeliveredIds> {
    const target = typeof content.messageId === 'string' ? content.messageId : undefined;
    if (content.operation === 'edit' && target !== undefined) {
      await adapter.editMessage(thread, target, { markdown: text(content) });
      return target;
    }
    if (content.operation === 'reaction' && target !== undefined && typeof content.emoji === 'string') {
      await adapter.addReaction(thread, target, content.emoji);
      return null;
    }
    if (content.type === 'ask_question' && typeof content.questionId === 'string' && Array.isArray(content.options)) {
      return (await this.post(adapter, thread, await this.card(content.questionId, String(content.question ?? ''), content.options.map(String)), message.inReplyTo)).id;
    }
    return this.postText(adapter, thread, text(content), message);
  }

  /** Text in parts of at most the platform's length; the files go with the last part when it fits a caption, else after. */
  private async postText(adapter: Adapter, thread: string, body: string, message: OutboundMessage): Promise<DeliveredIds> {
    const { maxMessageLength, maxCaptionLength = maxMessageLength } = this.options.platform;
    const parts = splitMarkdown(body, maxMessageLength);
    const files = message.files.map((file) => ({ filename: file.name, data: file.data }));
    const captioned = files.length > 0 && (parts.at(-1) ?? '').length <= maxCaptionLength ? parts.pop() ?? '' : undefined;
    const ids: string[] = [];
    for (const part of parts) ids.push((await this.post(adapter, thread, { markdown: part }, ids.length === 0 ? message.inReplyTo : undefined)).id);
    if (files.length > 0) ids.push((await this.post(adapter, thread, { markdown: captioned ?? '', files }, ids.length === 0 ? message.inReplyTo : undefined)).id);
    return ids.length === 1 ? ids[0]! : ids;
  }

  private post(adapter: Adapter, thread: string, body: AdapterPostableMessage, replyTo: string | undefined) {
    return replyTo !== undefined && adapter.reply ? adapter.reply(thread, replyTo, body) : adapter.postMessage(thread, body);
  }

  /**
   * A question as a card with one button per option, or as text where the platform has no
   * buttons. A button's id names the card by a short hash (platforms cap a button's data,
   * Telegram at 64 bytes) and the option by its index; the card itself is kept in the
   * SDK's state, so a click after a restart still finds it.
   */
  private async card(questionId: string, question: string, options: string[]): Promise<AdapterPostableMessage> {
    const fallbackText = [question, ...options.map((option, index) => `${index + 1}. ${option}`)].join('\n');
    // Sent as it is: a numbered list through markdown would come out renumbered or escaped.
    if (!this.options.platform.buttons) return { raw: fallbackText };
    const { Card, CardText, Actions, Button } = this.sdk!;
    const key = cardKey(questionId);
    await this.running().state.set(`switchyard:card:${key}`, { questionId, options });
    return {
      card: Card({ children: [CardText(question), Actions(options.map((option, index) => Button({ id: `${BUTTON_PREFIX}:${key}:${index}`, label: option })))] }),
      fallbackText,
    };
  }

  /** A click on a card's button, back to the host as the option it names. */
  private async click(setup: ChannelSetup, adapter: Adapter, event: ActionEvent): Promise<void> {
    const [prefix, key, index] = event.actionId.split(':');
    if (prefix !== BUTTON_PREFIX || key === undefined || index === undefined) return;
    const card = await this.running().state.get<{ questionId: string; options: string[] }>(`switchyard:card:${key}`);
    const selectedOption = card?.options[Number(index)];
    const platformId = adapter.channelIdFromThreadId(event.threadId);
    if (!card || selectedOption === undefined || !setup.onAction) {
      this.logger?.warn({ event: 'CardClickUnknown', platformId, actionId: event.actionId }, 'a click on a card this host does not know');
      return;
    }
    const outcome = await setup.onAction({ channelType: this.channelType, platformId, questionId: card.questionId, selectedOption, userId: event.user.userId });
    this.logger?.info({ event: 'CardClicked', platformId, questionId: card.questionId, accepted: outcome.accepted, ...(outcome.reason && { reason: outcome.reason }) }, 'card clicked');
  }

  /**
   * Runs the handling of one chat's messages one after the other, in the order the SDK
   * handed them over: a message with an attachment to download must not be overtaken by
   * the plain one written after it. Chats still run side by side.
   */
  private inChatOrder(platformId: string, handle: () => Promise<void>): Promise<void> {
    const handled = (this.chatQueues.get(platformId) ?? Promise.resolve()).then(handle, handle);
    const settled = handled.catch(() => undefined);
    this.chatQueues.set(platformId, settled);
    void settled.then(() => {
      if (this.chatQueues.get(platformId) === settled) this.chatQueues.delete(platformId);
    });
    return handled;
  }

  private async receive(setup: ChannelSetup, adapter: Adapter, thread: Thread, message: Message): Promise<void> {
    if (message.author.isMe) return;
    const platformId = adapter.channelIdFromThreadId(thread.id);
    const isGroup = !(adapter.isDM?.(thread.id) ?? thread.isDM);
    const attachments = await Promise.all(message.attachments.map(async (attachment, index) => ({
      name: attachment.name ?? `attachment-${index + 1}`,
      type: attachment.type,
      ...(attachment.mimeType !== undefined && { mimeType: attachment.mimeType }),
      // The host saves it into the session's inbox/<id>/ through its confinement (attachments.ts).
      data: Buffer.from(await attachmentData(attachment)).toString('base64'),
    })));
    const name =
      (this.options.platform.chatNameOf ? this.options.platform.chatNameOf(message) : await this.chatName(adapter, platformId)) ??
      // A direct chat has no name of its own on Slack or Discord: it is named after the person in it.
      (isGroup ? undefined : message.author.fullName || message.author.userName || undefined);
    const report: InboundReport = {
      channelType: this.channelType,
      platformId,
      threadId: thread.id === platformId ? null : thread.id,
      message: {
        id: message.id,
        kind: 'chat',
        content: {
          text: message.text,
          sender: message.author.fullName || message.author.userName,
          senderId: message.author.userId,
          ...(message.isMention && { isMention: true }),
          ...(message.replyTo && { replyTo: message.replyTo.id }),
          ...(attachments.length > 0 && { attachments }),
        },
        timestamp: message.metadata.dateSent.toISOString(),
      },
      chat: { ...(name !== undefined && { name }), isGroup },
      isGroup,
      ...(message.isMention !== undefined && { isMention: message.isMention }),
      ...(message.replyTo && { replyTo: message.replyTo.id }),
    };
    // A throw reaches the SDK, which keeps the update to try again (a poller) or answers 500 (a webhook).
    await setup.onInbound(report);
  }

  private async chatName(adapter: Adapter, platformId: string): Promise<string | undefined> {
    if (this.chatNames.has(platformId)) return this.chatNames.get(platformId);
    const name = await adapter.fetchChannelInfo?.(platformId).then(
      (info) => info.name,
      (error: unknown) => {
        this.logger?.debug({ err: error, platformId }, 'chat name lookup failed');
        return undefined;
      },
    );
    this.chatNames.set(platformId, name);
    return name;
  }

  private running(): { adapter: Adapter; state: StateAdapter } {
    if (!this.adapter || !this.connected) throw new DeliveryError(`the ${this.channelType} channel is not running`, 'ChannelDown', true);
    return { adapter: this.adapter, state: this.options.state };
  }
}

/** Agents write a JSON object; anything else is taken as the text it is. */
function parseContent(raw: string): Content {
  try {
    const value: unknown = JSON.parse(raw);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Content;
  } catch {
    // plain text
  }
  return { text: raw };
}

function text(content: Content): string {
  return typeof content.text === 'string' ? content.text : '';
}

function describe(content: Content): string {
  if (typeof content.operation === 'string') return content.operation;
  return content.type === 'ask_question' ? 'card' : 'message';
}

const cardKey = (questionId: string) => createHash('sha256').update(questionId).digest('base64url').slice(0, 16);

async function attachmentData(attachment: { data?: Buffer | Blob; fetchData?: () => Promise<Buffer | ArrayBuffer> }): Promise<Uint8Array> {
  if (attachment.data instanceof Blob) return new Uint8Array(await attachment.data.arrayBuffer());
  if (attachment.data) return attachment.data;
  if (attachment.fetchData) {
    const data = await attachment.fetchData();
    return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
  }
  return new Uint8Array();
}

/**
 * Markdown in parts of at most `limit` characters: cut at the last paragraph break, else
 * line break, else space in the window, and only mid-word when a word is longer than it.
 */
export function splitMarkdown(body: string, limit: number): string[] {
  const parts: string[] = [];
  let rest = body;
  while (rest.length > limit) {
    const window = rest.slice(0, limit);
    const cut = [window.lastIndexOf('\n\n'), window.lastIndexOf('\n'), window.lastIndexOf(' ')].find((at) => at > 0) ?? limit;
    parts.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  parts.push(rest);
  return parts;
}

/**
 * Runs one call to the platform, turning the SDK's errors (read by their `code`, as the
 * shared adapter errors carry it) into DeliveryErrors: a rate limit is retryable with the
 * wait the platform asked for, a refusal that will be repeated (bad token, no permission,
 * no such message, invalid request) is not, anything else (the network, a 5xx) is.
 */
export async function platformCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof DeliveryError) throw error;
    const { code, message, retryAfter } = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; message?: unknown; retryAfter?: unknown };
    const detail = `${what} failed: ${typeof message === 'string' ? message : String(error)}`;
    switch (code) {
      case 'RATE_LIMITED':
        throw new DeliveryError(detail, 'RateLimited', true, typeof retryAfter === 'number' ? retryAfter * 1000 : undefined);
      case 'AUTH_FAILED':
        throw new DeliveryError(detail, 'AuthFailed', false);
      case 'PERMISSION_DENIED':
        throw new DeliveryError(detail, 'PermissionDenied', false);
      case 'NOT_FOUND':
        throw new DeliveryError(detail, 'NotFound', false);
      case 'VALIDATION_ERROR':
        throw new DeliveryError(detail, 'InvalidRequest', false);
      default:
        throw new DeliveryError(detail, 'PlatformError', true);
    }
  }
}

/**
 * The SDK's logger interface on pino, at debug level except warnings and errors, with
 * every secret value replaced wherever it appears (an SDK may log a URL with the token in it).
 */
export function redactingLogger(logger: Logger | undefined, secrets: readonly string[]): SdkLogger {
  const redact = (value: unknown): unknown => {
    if (secrets.length === 0) return value;
    let json: string;
    try {
      json = JSON.stringify(value, (_key, inner: unknown) => (inner instanceof Error ? { name: inner.name, message: inner.message } : inner)) ?? '';
    } catch {
      json = String(value);
    }
    for (const secret of secrets) json = json.split(secret).join('[redacted]');
    try {
      return JSON.parse(json);
    } catch {
      return json;
    }
  };
  const make = (prefix: string): SdkLogger => {
    const write = (level: 'debug' | 'info' | 'warn' | 'error') => (message: string, ...args: unknown[]) => {
      logger?.[level === 'info' ? 'debug' : level]({ event: 'ChatSdkLog', sdk: prefix, ...(args.length > 0 && { details: redact(args) }) }, String(redact(message)));
    };
    return { child: (child) => make(`${prefix}:${child}`), debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
  };
  return make('chat');
}
