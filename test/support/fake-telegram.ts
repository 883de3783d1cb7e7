import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A Telegram Bot API on loopback, for the real `@chat-adapter/telegram` to talk to:
 * `POST /bot<token>/<method>` with JSON or multipart bodies, answered `{ok:true,result}`;
 * unknown methods 404 as Telegram's do (the adapter then falls back, e.g. from
 * sendRichMessage to sendMessage); `GET /file/bot<token>/<path>` serves files. getUpdates
 * hands out the updates a test offers, holding the long poll until there is one. A
 * method can be told to answer 429 with `parameters.retry_after`. A second getUpdates while
 * one waits ends the waiting one with 409 Conflict, as Telegram does with two pollers of a bot.
 */

export const FAKE_BOT_TOKEN = '123456:fake-telegram-token-for-tests';
export const BOT_USER = { id: 999, is_bot: true, first_name: 'Switchyard', username: 'switchyard_bot' };

/** A call the bot made, with its parameters (a multipart body's files as {name, text}). */
export interface BotCall {
  method: string;
  params: Record<string, unknown>;
  /** What the fake answered. */
  result: unknown;
}

interface Chat {
  id: number;
  type: 'private' | 'group' | 'supergroup';
  title?: string;
  first_name?: string;
}

type Update = Record<string, unknown> & { update_id: number };

export class FakeTelegram {
  readonly calls: BotCall[] = [];
  private readonly updates: Update[] = [];
  private readonly files = new Map<string, Buffer>();
  /** Refusals waiting for the next calls of a method, in order. */
  private readonly refusals = new Map<string, { errorCode: number; description: string; retryAfter?: number }[]>();
  private readonly polls = new Set<() => void>();
  /** getUpdates calls that ended another one still waiting: Telegram answers the older 409 Conflict. */
  conflicts = 0;
  private pollsStarted = 0;
  private readonly callWaiters = new Set<() => void>();
  private nextUpdateId = 1;
  private nextMessageId = 1000;
  private nextFileId = 1;

  private constructor(
    private readonly server: Server,
    readonly token: string,
  ) {}

  static async start(token = FAKE_BOT_TOKEN): Promise<FakeTelegram> {
    let fake: FakeTelegram | undefined;
    const server = createServer((req, res) => void fake!.handle(req, res).catch(() => res.destroy()));
    fake = new FakeTelegram(server, token);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  /** What a host talking to this fake is started with: the token, the API's address, a short long poll. */
  hostEnv() {
    return { TELEGRAM_BOT_TOKEN: this.token, TELEGRAM_API_BASE_URL: this.url, TELEGRAM_POLL_TIMEOUT_S: '1' };
  }

  /** What TELEGRAM_API_BASE_URL is set to. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const wake of this.polls) wake();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  /** Offers a message from a person; returns its update's message (ids as Telegram gives them). */
  offerMessage(options: { chat: Chat; from?: { id: number; first_name: string; username?: string }; text?: string; document?: { name: string; data: Buffer; mimeType?: string }; replyToMessageId?: number; messageThreadId?: number }): { message_id: number } {
    const from = options.from ?? { id: 42, is_bot: false, first_name: 'Ann', username: 'ann' };
    const message: Record<string, unknown> = {
      message_id: this.nextMessageId++,
      date: Math.floor(Date.now() / 1000),
      chat: options.chat,
      from: { is_bot: false, ...from },
      ...(options.messageThreadId !== undefined && { message_thread_id: options.messageThreadId, is_topic_message: true }),
    };
    if (options.document) {
      const fileId = `file-${this.nextFileId++}`;
      this.files.set(fileId, options.document.data);
      message.document = { file_id: fileId, file_unique_id: `u-${fileId}`, file_name: options.document.name, mime_type: options.document.mimeType ?? 'application/octet-stream', file_size: options.document.data.length };
      if (options.text !== undefined) message.caption = options.text;
    } else {
      message.text = options.text ?? '';
    }
    if (options.replyToMessageId !== undefined) message.reply_to_message = { message_id: options.replyToMessageId, date: message.date, chat: options.chat, from: BOT_USER, text: '…' };
    this.offer({ message });
    return { message_id: message.message_id as number };
  }

  /** Offers a click on an inline button of a message the bot sent. */
  offerClick(options: { chat: Chat; messageId: number; from: { id: number; first_name: string }; data: string }): void {
    this.offer({
      callback_query: {
        id: `cb-${this.nextUpdateId}`,
        from: { is_bot: false, ...options.from },
        chat_instance: 'ci-1',
        data: options.data,
        message: { message_id: options.messageId, date: Math.floor(Date.now() / 1000), chat: options.chat, from: BOT_USER, text: 'card' },
      },
    });
  }

  /** The next call of `method` is answered 429 with retry_after seconds. */
  rateLimit(method: string, retryAfterSeconds: number): void {
    this.refuseNext(method, 429, `Too Many Requests: retry after ${retryAfterSeconds}`, retryAfterSeconds);
  }

  /** The next call of `method` is refused with this error, as Telegram refuses (e.g. 403 "bot was kicked"). */
  refuseNext(method: string, errorCode: number, description: string, retryAfter?: number): void {
    this.refusals.set(method, [...(this.refusals.get(method) ?? []), { errorCode, description, ...(retryAfter !== undefined && { retryAfter }) }]);
  }

  /** The calls of a method so far. */
  callsOf(method: string): BotCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  /** Resolves once `count` calls of `method` (one of several, when an array) were made; the timeout only turns a hang into a failure. */
  async waitForCalls(method: string | string[], count = 1, ms = 15_000): Promise<BotCall[]> {
    const methods = new Set([method].flat());
    const matching = () => this.calls.filter((call) => methods.has(call.method));
    const deadline = Date.now() + ms;
    while (matching().length < count) {
      if (Date.now() > deadline) throw new Error(`fake Telegram: ${matching().length} of ${count} ${[...methods].join('/')} calls after ${ms} ms; calls: ${this.calls.map((c) => c.method).join(', ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.callWaiters.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return matching();
  }

  private offer(update: Record<string, unknown>): void {
    this.updates.push({ update_id: this.nextUpdateId++, ...update });
    for (const wake of this.polls) wake();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const file = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    if (req.method === 'GET' && file) {
      const data = file[1] === this.token ? this.files.get(file[2]!.replace(/^documents\//, '')) : undefined;
      res.writeHead(data ? 200 : 404);
      res.end(data ?? 'not found');
      return;
    }
    const call = /^\/bot([^/]+)\/(\w+)$/.exec(url.pathname);
    if (req.method !== 'POST' || !call) return reply(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
    if (call[1] !== this.token) return reply(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
    const method = call[2]!;
    const params = await readParams(req);
    const handler = this.methods[method];
    if (!handler) return reply(res, 404, { ok: false, error_code: 404, description: 'Not Found: method not found' });
    const refusal = this.refusals.get(method)?.shift();
    if (refusal) {
      const { errorCode, description, retryAfter } = refusal;
      return reply(res, errorCode, { ok: false, error_code: errorCode, description, ...(retryAfter !== undefined && { parameters: { retry_after: retryAfter } }) });
    }
    let result: unknown;
    try {
      result = await handler(params);
    } catch (error) {
      if (!(error instanceof PollConflict)) throw error;
      return reply(res, 409, { ok: false, error_code: 409, description: 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running' });
    }
    if (method !== 'getUpdates' || (result as unknown[]).length > 0) this.calls.push({ method, params, result });
    for (const wake of this.callWaiters) wake();
    this.callWaiters.clear();
    reply(res, 200, { ok: true, result });
  }

  private sent(params: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
    const chatId = Number(params.chat_id);
    return { message_id: this.nextMessageId++, date: Math.floor(Date.now() / 1000), chat: { id: chatId, type: chatId < 0 ? 'supergroup' : 'private' }, from: BOT_USER, ...extra };
  }

  private readonly methods: Record<string, (params: Record<string, unknown>) => unknown> = {
    getMe: () => BOT_USER,
    getWebhookInfo: () => ({ url: '', has_custom_certificate: false, pending_update_count: 0 }),
    deleteWebhook: () => true,
    getUpdates: (params) => this.poll(params),
    sendMessage: (params) => this.sent(params, { text: params.text }),
    editMessageText: (params) => this.sent(params, { message_id: Number(params.message_id), text: params.text, edit_date: Math.floor(Date.now() / 1000) }),
    setMessageReaction: () => true,
    sendChatAction: () => true,
    answerCallbackQuery: () => true,
    editMessageReplyMarkup: (params) => this.sent(params, { message_id: Number(params.message_id) }),
    sendDocument: (params) => this.sent(params, { document: { file_id: `sent-${this.nextFileId++}`, file_unique_id: 'x' }, ...(params.caption !== undefined && { caption: params.caption }) }),
    sendMediaGroup: (params) => [this.sent(params, {})],
    getFile: (params) => ({ file_id: params.file_id, file_path: `documents/${String(params.file_id)}` }),
  };

  /** Long poll: the updates from `offset` on, or, when there are none, wait for one (at most `timeout` s). */
  private async poll(params: Record<string, unknown>): Promise<Update[]> {
    const mine = ++this.pollsStarted;
    if (this.polls.size > 0) {
      this.conflicts++;
      for (const wake of this.polls) wake();
    }
    const offset = Number(params.offset ?? 0);
    const due = () => this.updates.filter((update) => update.update_id >= offset);
    if (due().length === 0 && Number(params.timeout ?? 0) > 0) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.polls.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Number(params.timeout) * 1000);
        this.polls.add(wake);
      });
    }
    if (mine !== this.pollsStarted) throw new PollConflict();
    return due().slice(0, Number(params.limit ?? 100));
  }
}

/** A long poll ended by a newer one, as Telegram ends it when a second poller of the bot calls. */
class PollConflict extends Error {}

function reply(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** JSON, or multipart form data (files as {name, text} so a test can compare them). */
async function readParams(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('multipart/form-data')) {
    const form = await new Response(body, { headers: { 'content-type': type } }).formData();
    const params: Record<string, unknown> = {};
    for (const [name, value] of form.entries()) {
      params[name] = typeof value === 'string' ? value : { name: value.name, text: Buffer.from(await value.arrayBuffer()).toString('utf8') };
    }
    return params;
  }
  return body.length === 0 ? {} : (JSON.parse(body.toString('utf8')) as Record<string, unknown>);
}
