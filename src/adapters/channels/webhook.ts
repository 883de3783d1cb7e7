import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { z } from 'zod';
import { ChatName, PlatformRef, type InboundRepeat } from '../../commands/inbound';
import { Id, MessageContent, Timestamp } from '../../events/primitives';
import type { Logger } from '../../logger';
import { DeliveryError, type ChannelAdapter, type ChannelSetup, type DeliveredIds, type InboundReport, type OutboundMessage } from './channel';
import { readLimitedBody, reportClientConnections } from './http-body';

/**
 * A generic HTTP channel: a platform bridge POSTs the messages people write to
 * `/messages`, and the host POSTs what agents send to the bridge's `deliverUrl`.
 * Only node:http and the global fetch, so any bridge in any language can speak it.
 */

/** Header carrying the shared secret, both ways. */
export const SECRET_HEADER = 'x-switchyard-secret';
/** Larger inbound bodies get 413: chat messages are small, files travel by reference. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** How much of a platform's error answer goes into a DeliveryError message. */
const CLIP_CHARS = 300;

export interface WebhookChannelOptions {
  channelType?: string;
  listen?: { host?: string; port?: number };
  /** Where outbound messages are POSTed; typing notices go to `<deliverUrl>/typing`. */
  deliverUrl: string;
  /** When set, inbound requests must carry it in `x-switchyard-secret`, and outbound ones do. */
  secret?: string;
  logger?: Logger;
  requestTimeoutMs?: number;
}

/**
 * Deeper JSON is refused before it is parsed: a chat message needs a few levels, and the
 * host serializes what it records recursively (100k levels overflowed the stack: a 500).
 */
export const MAX_JSON_DEPTH = 32;

/**
 * What a platform bridge POSTs to `/messages`: the fields in the limits of the command
 * they become, so whatever passes here the host can record (never a 500 for a long id).
 */
export const InboundBody = z.object({
  platformId: PlatformRef,
  threadId: PlatformRef.nullish(),
  messageId: PlatformRef,
  kind: z.enum(['chat', 'chat-sdk']).default('chat'),
  content: MessageContent,
  timestamp: Timestamp.optional(),
  chat: z.object({ name: ChatName.optional(), isGroup: z.boolean().optional() }).optional(),
});
export type InboundBody = z.infer<typeof InboundBody>;

/** What a platform bridge POSTs to `/actions` when someone clicks an option of a card. */
export const ActionBody = z.object({
  platformId: PlatformRef,
  /** An approval id. */
  questionId: Id,
  selectedOption: z.string().min(1).max(200),
  /** Compared with a chat's admin user id, which is at most as long. */
  userId: z.string().min(1).max(200),
});

/** What the host POSTs to `deliverUrl` for one outbound message. */
export interface WebhookDelivery {
  platformId: string;
  threadId: string | null;
  kind: string;
  /** The agent's JSON object, or its raw text when that is not a JSON object. */
  content: unknown;
  files: { name: string; data: string }[];
  /** Same on every retry of one row, so a bridge can drop duplicates. */
  idempotencyKey?: string;
  /** The platform's id of the message this one answers (content.messageId of a reaction or an edit is one too). */
  inReplyTo?: string;
}

/** A request refused with a status and a JSON body; thrown by handlers, answered by `handle`. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {
    super(String(body.error ?? status));
  }
}

type Answer = { status: number; body: Record<string, unknown> };
type Handler = (req: IncomingMessage) => Promise<Answer>;

export class WebhookChannel implements ChannelAdapter {
  readonly channelType: string;
  private readonly logger: Logger | undefined;
  private readonly timeoutMs: number;
  private server: Server | undefined;
  private connected = false;
  /** Requests being handled: teardown lets them answer before it drops the sockets. */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: WebhookChannelOptions) {
    this.channelType = options.channelType ?? 'webhook';
    this.timeoutMs = options.requestTimeoutMs ?? 10_000;
    new URL(options.deliverUrl); // a typo in the config fails at startup, not at the first delivery
    this.logger = options.logger?.child({ component: 'webhook-channel', channelType: this.channelType });
  }

  async setup(setup: ChannelSetup): Promise<void> {
    if (this.server) throw new Error(`webhook channel ${this.channelType} is already set up`);
    const routes: Record<string, Record<string, Handler>> = {
      '/messages': { POST: (req) => this.receive(req, setup) },
      '/actions': { POST: (req) => this.receiveAction(req, setup) },
      '/health': { GET: async () => ({ status: 200, body: { ok: true, channelType: this.channelType } }) },
    };
    const server = createServer((req, res) => this.track(this.handle(routes, req, res)));
    reportClientConnections(server, setup);
    const { host = '127.0.0.1', port = 0 } = this.options.listen ?? {};
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (error) => this.logger?.error({ err: error }, 'webhook server error'));
    this.server = server;
    this.connected = true;
    this.logger?.info({ event: 'ChannelListening', url: this.url() }, 'webhook channel listening');
  }

  /** Where the server listens; only after setup. */
  address(): { host: string; port: number } {
    const address = this.server?.address();
    if (!address || typeof address === 'string') throw new Error(`webhook channel ${this.channelType} is not set up`);
    return { host: address.address, port: address.port };
  }

  url(): string {
    const { host, port } = this.address();
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  /** Stops listening, lets requests in flight answer (their messages are recorded), then drops every socket. */
  async teardown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.connected = false;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.allSettled([...this.inFlight]);
    // Keep-alive sockets would otherwise hold the port open for keepAliveTimeout.
    server.closeAllConnections();
    await closed;
    this.server = undefined;
    this.logger?.info({ event: 'ChannelClosed' }, 'webhook channel closed');
  }

  isConnected(): boolean {
    return this.connected;
  }

  async deliver(platformId: string, threadId: string | null, message: OutboundMessage): Promise<DeliveredIds> {
    const payload: WebhookDelivery = {
      platformId,
      threadId,
      kind: message.kind,
      content: parseContent(message.content),
      files: message.files.map((file) => ({ name: file.name, data: file.data.toString('base64') })),
      ...(message.idempotencyKey ? { idempotencyKey: message.idempotencyKey } : {}),
      ...(message.inReplyTo !== undefined && { inReplyTo: message.inReplyTo }),
    };
    const { status, text, retryAfter } = await this.post(this.options.deliverUrl, payload);
    const retryAfterMs = status === 429 ? retryAfterMsOf(retryAfter) : undefined;
    // The bridge said when to come back: a wait, not a failed attempt.
    if (retryAfterMs !== undefined) throw new DeliveryError(`platform answered 429, retry after ${retryAfterMs} ms: ${clip(text)}`, 'RateLimited', true, retryAfterMs);
    if (status < 200 || status > 299) {
      // A rate limit or a server fault may pass; any other refusal will be repeated.
      const retryable = status === 429 || status >= 500;
      throw new DeliveryError(`platform answered ${status}: ${clip(text)}`, 'HttpError', retryable);
    }
    return platformMessageIds(text);
  }

  /** Best effort: a typing notice that does not arrive costs nothing, so failures are only logged. */
  async setTyping(platformId: string, threadId: string | null): Promise<void> {
    try {
      const { status, text } = await this.post(`${this.options.deliverUrl.replace(/\/+$/, '')}/typing`, { platformId, threadId, typing: true });
      if (status < 200 || status > 299) this.logger?.debug({ platformId, threadId, status, body: clip(text) }, 'typing notice refused');
    } catch (error) {
      this.logger?.debug({ err: error, platformId, threadId }, 'typing notice failed');
    }
  }

  /** POSTs JSON and reads the whole answer; a failure to get one is a retryable NetworkError. */
  private async post(url: string, payload: unknown): Promise<{ status: number; text: string; retryAfter: string | null }> {
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(this.options.secret ? { [SECRET_HEADER]: this.options.secret } : {}) },
        body: JSON.stringify(payload),
        // A redirected POST would be replayed as a GET; report it as the refusal it is.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      return { status: response.status, text: await response.text(), retryAfter: response.headers.get('retry-after') };
    } catch (error) {
      throw new DeliveryError(`POST ${url} failed: ${describeFetchError(error, this.timeoutMs)}`, 'NetworkError', true);
    }
  }

  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  /** Routes one request and always answers it with JSON; never rejects. */
  private async handle(routes: Record<string, Record<string, Handler>>, req: IncomingMessage, res: ServerResponse): Promise<void> {
    let answer: Answer;
    let headers: Record<string, string> = {};
    try {
      answer = await this.route(routes, req);
    } catch (error) {
      if (error instanceof Refusal) {
        answer = { status: error.status, body: error.body };
        headers = error.headers;
      } else {
        this.logger?.error({ err: error, url: req.url }, 'webhook request failed');
        answer = { status: 500, body: { error: errorMessage(error) } };
      }
    }
    await sendJson(res, answer, headers);
  }

  private async route(routes: Record<string, Record<string, Handler>>, req: IncomingMessage): Promise<Answer> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const methods = routes[path];
    if (!methods) throw new Refusal(404, { error: `no route ${path}` });
    const handler = methods[req.method ?? ''];
    if (!handler) throw new Refusal(405, { error: `${req.method} not allowed on ${path}` }, { allow: Object.keys(methods).join(', ') });
    // A request that slipped in on a kept-alive socket during teardown must not reach a host that is stopping.
    if (!this.connected) throw new Refusal(503, { error: 'channel is shutting down' }, { connection: 'close' });
    return handler(req);
  }

  /** `POST /messages`: authenticate, read, validate, record; 202 only once the host has recorded it. */
  private checkSecret(req: IncomingMessage): void {
    if (this.options.secret !== undefined && !secretMatches(this.options.secret, req.headers[SECRET_HEADER])) {
      throw new Refusal(401, { error: `missing or wrong ${SECRET_HEADER} header` });
    }
  }

  /** A click on a card: 200 with what became of it (a refusal by the host is an answer, not an error). */
  private async receiveAction(req: IncomingMessage, setup: ChannelSetup): Promise<Answer> {
    this.checkSecret(req);
    if (!setup.onAction) throw new Refusal(404, { error: 'this host takes no card actions' });
    const body = parseBody(await readBody(req, MAX_BODY_BYTES), ActionBody, 'invalid action');
    const outcome = await setup.onAction({ channelType: this.channelType, ...body });
    return { status: 200, body: outcome };
  }

  private async receive(req: IncomingMessage, setup: ChannelSetup): Promise<Answer> {
    this.checkSecret(req);
    const body = parseBody(await readBody(req, MAX_BODY_BYTES), InboundBody, 'invalid message');
    const report = toReport(this.channelType, body);
    let repeat: InboundRepeat | void;
    try {
      repeat = await setup.onInbound(report);
    } catch (error) {
      this.logger?.warn({ err: error, platformId: report.platformId, messageId: report.message.id }, 'inbound message not recorded');
      throw new Refusal(500, { error: errorMessage(error) });
    }
    // A retry the host had recorded before: done, and not to be tried again.
    if (repeat === 'same' || repeat === 'changed') return { status: 200, body: { accepted: true, repeat } };
    return { status: 202, body: { accepted: true } };
  }
}

/** The body, or a 413 when it is longer than `limit`. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const body = await readLimitedBody(req, limit);
  if (body === undefined) throw new Refusal(413, { error: `body over ${limit} bytes` });
  return body;
}

/**
 * Whether JSON text nests deeper than `limit`: one linear pass counting brackets outside
 * strings, so the check itself cannot recurse. Malformed text is left to JSON.parse.
 */
function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (inString) {
      if (char === '\\') i++;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === '{' || char === '[') {
      if (++depth > limit) return true;
    } else if (char === '}' || char === ']') depth--;
  }
  return false;
}

/** JSON-parses and validates a body; a refusal names every bad field. */
function parseBody<S extends z.ZodType>(raw: Buffer, schema: S, what: string): z.output<S> {
  const text = raw.toString('utf8');
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new Refusal(400, { error: what, issues: [{ path: '(body)', message: `JSON nested deeper than ${MAX_JSON_DEPTH} levels` }] });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Refusal(400, { error: 'body is not valid JSON', issues: [{ path: '(body)', message: errorMessage(error) }] });
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({ path: issue.path.join('.') || '(body)', message: issue.message }));
  throw new Refusal(400, { error: what, issues });
}

function toReport(channelType: string, body: InboundBody): InboundReport {
  return {
    channelType,
    platformId: body.platformId,
    threadId: body.threadId ?? null,
    message: {
      id: body.messageId,
      kind: body.kind,
      content: body.content,
      // The log keeps UTC: a sender's offset is normalized. No time of our own for a missing
      // one: the host's would make every retry differ from the message it repeats.
      ...(body.timestamp && { timestamp: new Date(body.timestamp).toISOString() }),
    },
    ...(body.chat ? { chat: body.chat } : {}),
  };
}

/** Constant-time comparison; hashing first makes the lengths equal, as timingSafeEqual needs. */
function secretMatches(expected: string, given: string | string[] | undefined): boolean {
  if (typeof given !== 'string') return false;
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(expected), digest(given));
}

/** Resolves once the answer is handed to the socket, so teardown never cuts one off. */
function sendJson(res: ServerResponse, answer: Answer, headers: Record<string, string>): Promise<void> {
  return new Promise((resolve) => {
    res.once('finish', resolve);
    res.once('close', resolve);
    res.writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(answer.body));
  });
}

/** Agents write a JSON object; anything else is passed on as the text it is. */
function parseContent(content: string): unknown {
  try {
    const value: unknown = JSON.parse(content);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : content;
  } catch {
    return content;
  }
}


/**
 * The platform's id for the message, if its answer is JSON with a string `id`; the ids of
 * its parts, in order, if the bridge split it and answered `{ platformMessageIds: [...] }`.
 */
function platformMessageIds(text: string): DeliveredIds {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return null;
    const { id, platformMessageIds: parts } = value as { id?: unknown; platformMessageIds?: unknown };
    if (Array.isArray(parts) && parts.length > 0 && parts.every((part) => typeof part === 'string')) return parts as string[];
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}

/** Retry-After in milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function retryAfterMsOf(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return seconds >= 0 ? Math.round(seconds * 1000) : undefined;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** fetch says only "fetch failed"; the reason (ECONNREFUSED, a timeout) is in its cause. */
function describeFetchError(error: unknown, timeoutMs: number): string {
  const { name, cause } = errorFields(error);
  if (name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  if (cause === undefined) return errorMessage(error);
  // An AggregateError (every address of a host refused) has an empty message but a code.
  const code = errorFields(cause).code;
  return `${errorMessage(error)} (${errorMessage(cause) || String(code)})`;
}

/**
 * Errors are read by shape, not by `instanceof Error`: fetch's errors come from another
 * realm under some runners (jest's vm), where that check is false.
 */
function errorFields(error: unknown): { name?: unknown; message?: unknown; cause?: unknown; code?: unknown } {
  return typeof error === 'object' && error !== null ? error : {};
}

function errorMessage(error: unknown): string {
  const { message } = errorFields(error);
  return typeof message === 'string' ? message : String(error);
}

function clip(text: string): string {
  return text.length > CLIP_CHARS ? `${text.slice(0, CLIP_CHARS)}…` : text;
}
