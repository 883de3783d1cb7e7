import { createHmac } from 'node:crypto';
import { decodeMultipart, FakeApiServer, isMultipart, type ApiAnswer, type ApiCall, type ApiRoute } from './fake-api-server';

/**
 * A fake Slack on loopback, for the real @chat-adapter/slack (and the @slack/web-api client
 * under it) pointed at it through SLACK_API_URL / `apiUrl` = `fake.apiUrl`.
 *
 * Web API: every method is a POST to `/api/<method>`, form-encoded by the client (objects as
 * JSON strings, the token in the body), answered `{ ok: true, … }` with HTTP 200; an unknown
 * method gets Slack's `{ ok: false, error: 'unknown_method' }`. File uploads follow Slack's
 * three steps: files.getUploadURLExternal hands out an upload URL on this server, the client
 * POSTs the bytes there, files.completeUploadExternal shares them in the channel.
 *
 * Inbound: `sendEvent` and `sendAction` sign Events API requests and interactive payloads the
 * way Slack does (`v0=` HMAC-SHA256 of `v0:<ts>:<body>` with the signing secret).
 */

export const SLACK_BOT_USER_ID = 'UBOT';
export const SLACK_TEAM_ID = 'T0001';

/** A file the agent sent, as it reached the fake: its name, bytes and where it was shared. */
export interface SlackUpload {
  fileId: string;
  filename: string;
  data: Buffer;
  channel?: string;
  threadTs?: string;
}

/** A chat.postMessage, with the files uploaded to its channel since the previous one (the adapter uploads, then posts). */
export interface SlackPosted {
  ts: string;
  args: Record<string, string>;
  files: SlackUpload[];
}

export interface SlackChannel {
  id: string;
  name: string;
  isIm?: boolean;
}

export class FakeSlack {
  /** Files uploaded by the bot, once their upload step completed. */
  readonly uploads: SlackUpload[] = [];
  /** Messages the bot posted, in order. */
  readonly posted: SlackPosted[] = [];
  private unpostedUploads: SlackUpload[] = [];
  /** Files people "posted", served at their url_private for the host to download. */
  private readonly hostedFiles = new Map<string, { data: Buffer; mimetype: string }>();
  private readonly channels = new Map<string, SlackChannel>();
  private readonly pendingUploads = new Map<string, SlackUpload>();
  private nextTs = 1_700_000_000;
  private nextFile = 1;

  private constructor(readonly api: FakeApiServer) {}

  static async start(): Promise<FakeSlack> {
    let slack: FakeSlack | undefined;
    const api = await FakeApiServer.start((call) => slack!.route(call));
    slack = new FakeSlack(api);
    return slack;
  }

  /** The Web API base URL (what SLACK_API_URL holds): the client appends the method name. */
  get apiUrl(): string {
    return `${this.api.origin}/api/`;
  }

  /** What conversations.info answers for a channel id; unknown ids are public channels named after themselves. */
  addChannel(channel: SlackChannel): void {
    this.channels.set(channel.id, channel);
  }

  /** Serves bytes as a file someone posted; returns the `files[]` entry of a message event. */
  hostFile(name: string, data: Buffer, mimetype = 'application/octet-stream'): Record<string, unknown> {
    const id = `F${this.nextFile++}`;
    this.hostedFiles.set(id, { data, mimetype });
    const url = `${this.api.origin}/files/${id}/${encodeURIComponent(name)}`;
    return { id, name, title: name, mimetype, size: data.length, url_private: url, url_private_download: url };
  }

  /** The next `count` calls of a Web API method get HTTP 429 with Retry-After, as Slack rate-limits. */
  rateLimitNext(method: string, count = 1, retryAfterSeconds = 1): void {
    this.api.failNext(count, methodPath(method), {
      status: 429,
      headers: { 'retry-after': String(retryAfterSeconds) },
      body: { ok: false, error: 'ratelimited' },
    });
  }

  /** The next `count` calls of a method fail the way Slack fails when it is down. */
  failNext(method: string, count = 1, status = 503): void {
    this.api.failNext(count, methodPath(method), { status, body: { ok: false, error: 'service_unavailable' } });
  }

  /** The decoded arguments of every call of a Web API method, in order. */
  callsOf(method: string): Record<string, string>[] {
    return this.api.callsTo(methodPath(method)).map((call) => call.body as Record<string, string>);
  }

  /** Resolves with the arguments of the first `count` calls of a method. */
  async waitFor(method: string, count = 1, ms?: number): Promise<Record<string, string>[]> {
    const calls = await this.api.waitForCalls(methodPath(method), count, ms);
    return calls.map((call) => call.body as Record<string, string>);
  }

  close(): Promise<void> {
    return this.api.close();
  }

  private route(call: ApiCall): ApiRoute | undefined {
    if (call.method === 'GET' && call.path.startsWith('/files/')) return () => this.serveFile(call);
    if (call.method === 'POST' && call.path.startsWith('/upload/')) return () => this.receiveUpload(call);
    if (call.method !== 'POST' || !call.path.startsWith('/api/')) return undefined;
    const method = call.path.slice('/api/'.length);
    const handler = this.methods[method];
    return handler ? () => ({ body: { ok: true, ...handler(argsOf(call)) } }) : () => ({ body: { ok: false, error: 'unknown_method' } });
  }

  /** Slack's answers, only the fields the adapter reads. */
  private readonly methods: Record<string, (args: Record<string, string>) => Record<string, unknown>> = {
    'auth.test': () => ({ user: 'switchyard', user_id: SLACK_BOT_USER_ID, bot_id: 'BBOT', team_id: SLACK_TEAM_ID, team: 'Test' }),
    'chat.postMessage': (args) => {
      const ts = this.newTs();
      this.posted.push({ ts, args, files: this.unpostedUploads.filter((upload) => upload.channel === args.channel) });
      this.unpostedUploads = this.unpostedUploads.filter((upload) => upload.channel !== args.channel);
      return { channel: args.channel, ts, message: { type: 'message', ts, text: args.text, user: SLACK_BOT_USER_ID, thread_ts: args.thread_ts } };
    },
    'chat.update': (args) => ({ channel: args.channel, ts: args.ts, text: args.text }),
    'chat.delete': (args) => ({ channel: args.channel, ts: args.ts }),
    'reactions.add': () => ({}),
    'reactions.remove': () => ({}),
    'conversations.info': (args) => ({ channel: this.describeChannel(args.channel ?? '') }),
    'conversations.open': (args) => ({ channel: { id: `D${args.users ?? 'X'}` } }),
    'conversations.replies': () => ({ messages: [], has_more: false }),
    'conversations.history': () => ({ messages: [], has_more: false }),
    'users.info': (args) => ({ user: { id: args.user, name: `user-${args.user}`, real_name: `User ${args.user}`, profile: { display_name: `user-${args.user}`, real_name: `User ${args.user}` } } }),
    'assistant.threads.setStatus': () => ({}),
    'files.getUploadURLExternal': (args) => {
      const fileId = `F${this.nextFile++}`;
      this.pendingUploads.set(fileId, { fileId, filename: args.filename ?? 'file', data: Buffer.alloc(0) });
      return { upload_url: `${this.api.origin}/upload/${fileId}`, file_id: fileId };
    },
    'files.completeUploadExternal': (args) => {
      const files = JSON.parse(args.files ?? '[]') as { id: string; title?: string }[];
      for (const { id } of files) {
        const upload = this.pendingUploads.get(id);
        if (!upload) continue;
        this.pendingUploads.delete(id);
        const shared = { ...upload, channel: args.channel_id, threadTs: args.thread_ts };
        this.uploads.push(shared);
        this.unpostedUploads.push(shared);
      }
      return { files: files.map(({ id, title }) => ({ id, title })) };
    },
  };

  private describeChannel(id: string): Record<string, unknown> {
    const channel = this.channels.get(id) ?? { id, name: id.toLowerCase() };
    const isIm = channel.isIm ?? id.startsWith('D');
    // A direct chat has no name on Slack, only the person it is with.
    if (isIm) return { id, is_im: true, user: 'U1', is_member: true };
    return { id, name: channel.name, is_channel: true, is_im: false, is_private: false, is_member: true, num_members: 5 };
  }

  private serveFile(call: ApiCall): ApiAnswer {
    const file = this.hostedFiles.get(call.path.split('/')[2] ?? '');
    if (!file) return { status: 404, body: { ok: false, error: 'file_not_found' } };
    return { headers: { 'content-type': file.mimetype }, body: file.data };
  }

  /** The client POSTs the bytes as they are or as the one file of a multipart body. */
  private async receiveUpload(call: ApiCall): Promise<ApiAnswer> {
    const upload = this.pendingUploads.get(call.path.split('/')[2] ?? '');
    if (!upload) return { status: 404, body: { ok: false, error: 'invalid_upload' } };
    upload.data = isMultipart(call) ? ((await decodeMultipart(call)).files[0]?.data ?? Buffer.alloc(0)) : call.raw;
    return { body: { ok: true } };
  }

  private newTs(): string {
    return `${this.nextTs++}.000100`;
  }
}

function methodPath(method: string): RegExp {
  return new RegExp(`^/api/${method.replace(/\./g, '\\.')}$`);
}

/** A Web API call's arguments: the client form-encodes them, some callers send JSON. */
function argsOf(call: ApiCall): Record<string, string> {
  if (call.body && typeof call.body === 'object' && !Buffer.isBuffer(call.body)) {
    return Object.fromEntries(
      Object.entries(call.body as Record<string, unknown>).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]),
    );
  }
  return {};
}

/** The headers Slack puts on a request it signs: `v0=` HMAC-SHA256 of `v0:<ts>:<body>`. */
export function slackSignature(signingSecret: string, body: string, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  const signature = createHmac('sha256', signingSecret).update(`v0:${timestamp}:${body}`).digest('hex');
  return { 'x-slack-signature': `v0=${signature}`, 'x-slack-request-timestamp': String(timestamp) };
}

let nextEventId = 1;

/**
 * One Events API callback (e.g. a `message` or `app_mention` event) for the host's Slack
 * webhook URL, signed with the signing secret: `fetch` it, or hand it to the channel.
 */
export function slackEventRequest(webhookUrl: string, signingSecret: string, event: Record<string, unknown>): Request {
  const body = JSON.stringify({
    token: 'verification-token-unused',
    team_id: SLACK_TEAM_ID,
    api_app_id: 'A0001',
    type: 'event_callback',
    event_id: `Ev${String(nextEventId++).padStart(6, '0')}`,
    event_time: Math.floor(Date.now() / 1000),
    event,
  });
  return new Request(webhookUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...slackSignature(signingSecret, body) },
    body,
  });
}

/** A person's click on a button of a message the bot posted, as Slack's block_actions payload. */
export interface SlackButtonClick {
  channel: string;
  /** The ts of the message carrying the button. */
  messageTs: string;
  threadTs?: string;
  userId: string;
  actionId: string;
  value?: string;
}

/** A signed interactive payload (form-encoded `payload=<json>`) for one button click. */
export function slackButtonClickRequest(webhookUrl: string, signingSecret: string, click: SlackButtonClick): Request {
  const payload = {
    type: 'block_actions',
    team: { id: SLACK_TEAM_ID },
    user: { id: click.userId, username: `user-${click.userId}`, name: `user-${click.userId}` },
    api_app_id: 'A0001',
    container: { type: 'message', message_ts: click.messageTs, channel_id: click.channel, is_ephemeral: false, thread_ts: click.threadTs },
    trigger_id: `trigger-${click.messageTs}`,
    channel: { id: click.channel },
    message: { type: 'message', ts: click.messageTs, thread_ts: click.threadTs },
    actions: [{ type: 'button', action_id: click.actionId, value: click.value, block_id: 'actions', action_ts: String(Date.now() / 1000) }],
  };
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  return new Request(webhookUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...slackSignature(signingSecret, body) },
    body,
  });
}
