import { writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ChannelSetup, InboundReport } from '../../src/adapters/channels/channel';
import { DeliveryError } from '../../src/adapters/channels/channel';
import { MAX_BODY_BYTES, MAX_JSON_DEPTH, retryAfterMsOf, WebhookChannel, type WebhookChannelOptions } from '../../src/adapters/channels/webhook';
import { Host } from '../../src/host';
import { FakePlatform, postInbound } from '../support/fake-platform';
import { useTempDir } from '../support/temp';
import { useWebhookHost } from '../support/webhook-host';

const message = { platformId: 'chat-1', threadId: 't-1', messageId: 'm-1', kind: 'chat', content: { text: 'hi' }, timestamp: '2025-01-02T03:04:05.000Z' };

/** A promise with its resolve handle, to hold a step open until the test lets it go. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A loopback port nothing listens on: bound, noted, released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves with the error code of a TCP connection attempt ('connected' if it got through). */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

async function rejection(promise: Promise<unknown>): Promise<DeliveryError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DeliveryError);
  return error as DeliveryError;
}

describe('WebhookChannel (real HTTP on 127.0.0.1)', () => {
  const tempDir = useTempDir();
  let platform: FakePlatform;
  const channels: WebhookChannel[] = [];

  beforeEach(async () => {
    platform = await FakePlatform.start();
  });
  afterEach(async () => {
    await Promise.all(channels.splice(0).map((channel) => channel.teardown()));
    await platform.close();
  });

  async function start(options: Partial<WebhookChannelOptions> = {}, onInbound: ChannelSetup['onInbound'] = async () => {}): Promise<WebhookChannel> {
    const channel = new WebhookChannel({ deliverUrl: platform.url, ...options });
    channels.push(channel);
    await channel.setup({ conversations: [], onInbound });
    return channel;
  }

  describe('inbound', () => {
    it('reports a valid message and answers 202 only after onInbound resolved', async () => {
      const called = deferred<InboundReport>();
      const gate = deferred();
      let recorded = false;
      const channel = await start({ channelType: 'bridge' }, async (report) => {
        called.resolve(report);
        await gate.promise;
        recorded = true;
      });

      let recordedWhenAnswered: boolean | undefined;
      const response = postInbound(channel.url(), { ...message, chat: { name: 'Team', isGroup: true } }).then((r) => {
        recordedWhenAnswered = recorded;
        return r;
      });
      const report = await called.promise;
      // A round trip on another connection while onInbound is held: an early 202 would have arrived by now.
      expect((await fetch(`${channel.url()}/health`)).status).toBe(200);
      expect(recordedWhenAnswered).toBeUndefined();
      gate.resolve();

      expect(await response).toEqual({ status: 202, json: { accepted: true } });
      expect(recordedWhenAnswered).toBe(true);
      expect(report).toEqual<InboundReport>({
        channelType: 'bridge',
        platformId: 'chat-1',
        threadId: 't-1',
        message: { id: 'm-1', kind: 'chat', content: { text: 'hi' }, timestamp: '2025-01-02T03:04:05.000Z' },
        chat: { name: 'Team', isGroup: true },
      });
    });

    it('fills defaults: no thread, kind chat; no time of its own, so a retry is the same report', async () => {
      const reports: InboundReport[] = [];
      const channel = await start({}, async (report) => void reports.push(report));

      const { status } = await postInbound(channel.url(), { platformId: 'chat-1', messageId: 'm-2', content: { text: 'x' } });
      await postInbound(channel.url(), { platformId: 'chat-1', messageId: 'm-2', content: { text: 'x' } });

      expect(status).toBe(202);
      expect(reports[0]).toMatchObject({ channelType: 'webhook', threadId: null, message: { kind: 'chat' } });
      expect(reports[0]!.message).not.toHaveProperty('timestamp');
      expect(reports[0]).not.toHaveProperty('chat');
      expect(reports[1]).toEqual(reports[0]);
    });

    it.each([
      ['platformId missing', { ...message, platformId: undefined }, 'platformId'],
      ['content not an object', { ...message, content: 'hello' }, 'content'],
      ['content an array', { ...message, content: ['hello'] }, 'content'],
      ['an unknown kind', { ...message, kind: 'sms' }, 'kind'],
      ['a timestamp that is not ISO', { ...message, timestamp: 'yesterday' }, 'timestamp'],
      ['chat.isGroup not a boolean', { ...message, chat: { isGroup: 'yes' } }, 'chat.isGroup'],
      // The command's own limits, checked here: past them the bus would refuse it, and the platform got a 500.
      ['platformId over 500 characters', { ...message, platformId: 'p'.repeat(501) }, 'platformId'],
      ['messageId over 500 characters', { ...message, messageId: 'm'.repeat(501) }, 'messageId'],
      ['threadId over 500 characters', { ...message, threadId: 't'.repeat(501) }, 'threadId'],
      ['chat.name over 200 characters', { ...message, chat: { name: 'n'.repeat(201) } }, 'chat.name'],
      ['chat.name empty', { ...message, chat: { name: '' } }, 'chat.name'],
    ])('answers 400 naming the field for %s, without reporting it', async (_, body, field) => {
      const onInbound = jest.fn(async () => {});
      const channel = await start({}, onInbound);

      const { status, json } = await postInbound(channel.url(), body);

      expect(status).toBe(400);
      expect(json.error).toEqual(expect.any(String));
      expect(json.issues).toEqual([{ path: field, message: expect.any(String) }]);
      expect(onInbound).not.toHaveBeenCalled();
    });

    it('answers 400 for a body that is not JSON', async () => {
      const channel = await start();
      const { status, json } = await postInbound(channel.url(), '{"platformId":');
      expect(status).toBe(400);
      expect(json.issues).toEqual([{ path: '(body)', message: expect.any(String) }]);
    });

    it('answers 400 for JSON nested deeper than the cap, before parsing it, without reporting it', async () => {
      const onInbound = jest.fn(async () => {});
      const channel = await start({}, onInbound);
      const deep = `{"platformId":"chat-1","messageId":"m-deep","content":{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;

      const { status, json } = await postInbound(channel.url(), deep);

      expect(status).toBe(400);
      expect(json).toEqual({ error: 'invalid message', issues: [{ path: '(body)', message: `JSON nested deeper than ${MAX_JSON_DEPTH} levels` }] });
      expect(onInbound).not.toHaveBeenCalled();
    });

    it('takes nesting up to the cap, and counts brackets inside strings as text', async () => {
      const reports: InboundReport[] = [];
      const channel = await start({}, async (report) => void reports.push(report));
      // The body is level 1 and content level 2: the deepest value allowed sits at the cap.
      const nested = JSON.parse(`${'['.repeat(MAX_JSON_DEPTH - 2)}"[[[{{{"${']'.repeat(MAX_JSON_DEPTH - 2)}`) as unknown;

      const { status } = await postInbound(channel.url(), { ...message, content: { deep: nested, text: '[{"' } });

      expect(status).toBe(202);
      expect(reports[0]!.message.content).toEqual({ deep: nested, text: '[{"' });
    });

    it('answers 413 for a body over 1 MiB', async () => {
      const onInbound = jest.fn(async () => {});
      const channel = await start({}, onInbound);

      const { status } = await postInbound(channel.url(), { ...message, content: { text: 'x'.repeat(MAX_BODY_BYTES) } });

      expect(status).toBe(413);
      expect(onInbound).not.toHaveBeenCalled();
    });

    it('enforces the shared secret: 401 without it or with a wrong one, 202 with it', async () => {
      const onInbound = jest.fn(async () => {});
      const channel = await start({ secret: 's3cret' }, onInbound);

      expect((await postInbound(channel.url(), message)).status).toBe(401);
      expect((await postInbound(channel.url(), message, 'wrong')).status).toBe(401);
      expect(onInbound).not.toHaveBeenCalled();
      expect(await postInbound(channel.url(), message, 's3cret')).toEqual({ status: 202, json: { accepted: true } });
      expect(onInbound).toHaveBeenCalledTimes(1);
    });

    it('answers 500 with the message when onInbound throws', async () => {
      const channel = await start({}, async () => {
        throw new Error('store is closed');
      });
      expect(await postInbound(channel.url(), message)).toEqual({ status: 500, json: { error: 'store is closed' } });
    });

    it('answers health, 404 for an unknown path and 405 for a wrong method', async () => {
      const channel = await start({ channelType: 'bridge' });
      const health = await fetch(`${channel.url()}/health`);
      expect([health.status, await health.json()]).toEqual([200, { ok: true, channelType: 'bridge' }]);
      expect((await fetch(`${channel.url()}/nowhere`, { method: 'POST' })).status).toBe(404);
      const wrongMethod = await fetch(`${channel.url()}/messages`);
      expect([wrongMethod.status, wrongMethod.headers.get('allow')]).toEqual([405, 'POST']);
    });
  });

  describe('card actions', () => {
    const click = { platformId: 'chat-1', questionId: 'appr-1', selectedOption: 'Approve', userId: 'u-1' };
    const postAction = async (url: string, body: unknown) => {
      const response = await fetch(`${url}/actions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
      return { status: response.status, json: (await response.json()) as Record<string, unknown> };
    };

    async function startWithActions(onAction: NonNullable<ChannelSetup['onAction']>): Promise<WebhookChannel> {
      const channel = new WebhookChannel({ deliverUrl: platform.url });
      channels.push(channel);
      await channel.setup({ conversations: [], onInbound: async () => {}, onAction });
      return channel;
    }

    it('reports a click and answers 200 with what became of it', async () => {
      const onAction = jest.fn(async () => ({ accepted: false, reason: 'no approval request appr-1' }));
      const channel = await startWithActions(onAction);
      expect(await postAction(channel.url(), click)).toEqual({ status: 200, json: { accepted: false, reason: 'no approval request appr-1' } });
      expect(onAction).toHaveBeenCalledWith({ channelType: 'webhook', ...click });
    });

    it.each([
      ['platformId over 500 characters', { ...click, platformId: 'p'.repeat(501) }, 'platformId'],
      ['questionId over 200 characters', { ...click, questionId: 'q'.repeat(201) }, 'questionId'],
      ['selectedOption over 200 characters', { ...click, selectedOption: 'o'.repeat(201) }, 'selectedOption'],
      ['userId over 200 characters', { ...click, userId: 'u'.repeat(201) }, 'userId'],
    ])('answers 400 naming the field for %s, without reporting it', async (_, body, field) => {
      const onAction = jest.fn(async () => ({ accepted: true }));
      const channel = await startWithActions(onAction);
      const { status, json } = await postAction(channel.url(), body);
      expect(status).toBe(400);
      expect(json.issues).toEqual([{ path: field, message: expect.stringMatching(/<=\d+ characters/) }]);
      expect(onAction).not.toHaveBeenCalled();
    });

    it('answers 400 for deeply nested JSON', async () => {
      const onAction = jest.fn(async () => ({ accepted: true }));
      const channel = await startWithActions(onAction);
      const { status, json } = await postAction(channel.url(), `{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
      expect(status).toBe(400);
      expect(json.issues).toEqual([{ path: '(body)', message: `JSON nested deeper than ${MAX_JSON_DEPTH} levels` }]);
      expect(onAction).not.toHaveBeenCalled();
    });
  });

  describe('lifecycle', () => {
    it('is connected between setup and teardown, and teardown frees the port', async () => {
      const channel = new WebhookChannel({ deliverUrl: platform.url });
      expect(channel.isConnected()).toBe(false);
      await channel.setup({ conversations: [], onInbound: async () => {} });
      expect(channel.isConnected()).toBe(true);
      const { host, port } = channel.address();
      expect(host).toBe('127.0.0.1');
      expect(channel.url()).toBe(`http://127.0.0.1:${port}`);
      // A kept-alive connection from an earlier request must not hold the server open.
      expect((await fetch(`${channel.url()}/health`)).status).toBe(200);

      await channel.teardown();

      expect(channel.isConnected()).toBe(false);
      expect(await tryConnect(port)).toBe('ECONNREFUSED');
    });

    it('lets a message being recorded get its 202 before teardown closes', async () => {
      const called = deferred();
      const gate = deferred();
      const channel = await start({}, async () => {
        called.resolve();
        await gate.promise;
      });
      const response = postInbound(channel.url(), message);
      await called.promise;

      let tornDown = false;
      const teardown = channel.teardown().then(() => (tornDown = true));
      expect(channel.isConnected()).toBe(false);
      gate.resolve();

      expect(await response).toEqual({ status: 202, json: { accepted: true } });
      await teardown;
      expect(tornDown).toBe(true);
    });
  });

  describe('outbound', () => {
    it('POSTs the message with parsed content and base64 files, and returns the platform id', async () => {
      const channel = await start({ secret: 's3cret' });

      const id = await channel.deliver('chat-1', 't-1', {
        idempotencyKey: 'sess-1:7',
        kind: 'chat',
        content: JSON.stringify({ text: 'hello', markdown: true }),
        files: [
          { name: 'photo.png', data: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff]) },
          { name: 'notes.txt', data: Buffer.from('hello\n') },
        ],
      });

      expect(id).toBe('pm-1');
      expect(platform.received).toEqual([
        {
          platformId: 'chat-1',
          threadId: 't-1',
          kind: 'chat',
          content: { text: 'hello', markdown: true },
          files: [
            { name: 'photo.png', data: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff]).toString('base64') },
            { name: 'notes.txt', data: Buffer.from('hello\n').toString('base64') },
          ],
          idempotencyKey: 'sess-1:7',
        },
      ]);
      expect(platform.secrets).toEqual(['s3cret']);
    });

    it('passes content that is not a JSON object on as the raw string', async () => {
      const channel = await start();
      await channel.deliver('chat-1', null, { kind: 'chat', content: 'plain words', files: [] });
      await channel.deliver('chat-1', null, { kind: 'chat', content: '[1,2]', files: [] });
      const received = await platform.waitFor(2);
      expect(received.map((body) => [body.threadId, body.content])).toEqual([
        [null, 'plain words'],
        [null, '[1,2]'],
      ]);
      expect(platform.secrets).toEqual([undefined, undefined]);
    });

    it('maps 503 to a retryable HttpError and recovers once the platform does', async () => {
      const channel = await start();
      platform.failNext(1, 503);

      const error = await rejection(channel.deliver('chat-1', null, { kind: 'chat', content: '{}', files: [] }));
      expect([error.errorClass, error.retryable]).toEqual(['HttpError', true]);
      expect(error.message).toContain('503');
      expect(error.message).toContain('injected failure 503');

      expect(await channel.deliver('chat-1', null, { kind: 'chat', content: '{}', files: [] })).toBe('pm-1');
    });

    it('maps 429 to retryable and 404 to a non-retryable HttpError', async () => {
      const channel = await start();
      platform.failNext(1, 429);
      platform.failNext(1, 404);
      const send = () => channel.deliver('chat-1', null, { kind: 'chat', content: '{}', files: [] });

      const limited = await rejection(send());
      const missing = await rejection(send());

      expect([limited.errorClass, limited.retryable]).toEqual(['HttpError', true]);
      expect([missing.errorClass, missing.retryable]).toEqual(['HttpError', false]);
      expect(missing.message).toContain('404');
      expect(platform.received).toEqual([]);
    });

    it('maps 429 with Retry-After to a RateLimited error carrying the wait, which the delivery loop waits out', async () => {
      const channel = await start();
      platform.rateLimitNext(1, 2);

      const limited = await rejection(channel.deliver('chat-1', null, { kind: 'chat', content: '{}', files: [] }));

      expect([limited.errorClass, limited.retryable, limited.retryAfterMs]).toEqual(['RateLimited', true, 2000]);
      expect(limited.message).toContain('429');
    });

    it('reads Retry-After as seconds or as an HTTP date, and ignores what it cannot read', () => {
      const now = Date.parse('2026-12-02T20:00:00Z');
      expect(retryAfterMsOf('1.5', now)).toBe(1500);
      expect(retryAfterMsOf('Wed, 02 Dec 2026 20:00:03 GMT', now)).toBe(3000);
      expect(retryAfterMsOf('soon', now)).toBeUndefined();
      expect(retryAfterMsOf(null, now)).toBeUndefined();
    });

    it('returns the ids of the parts, in order, when the bridge split the message', async () => {
      const channel = await start();
      platform.splitNext(['pm-a', 'pm-b', 'pm-c']);

      expect(await channel.deliver('chat-1', null, { kind: 'chat', content: '{"text":"long"}', files: [] })).toEqual(['pm-a', 'pm-b', 'pm-c']);
    });

    it('maps a closed port to a retryable NetworkError', async () => {
      const port = await closedPort();
      const channel = await start({ deliverUrl: `http://127.0.0.1:${port}/deliver` });

      const error = await rejection(channel.deliver('chat-1', null, { kind: 'chat', content: '{}', files: [] }));

      expect([error.errorClass, error.retryable]).toEqual(['NetworkError', true]);
      expect(error.message).toContain('ECONNREFUSED');
    });

    it('maps a platform that does not answer in time to a retryable NetworkError', async () => {
      const channel = await start({ requestTimeoutMs: 200 });
      platform.stallNext(1);

      const error = await rejection(channel.deliver('chat-1', null, { kind: 'chat', content: '{}', files: [] }));

      expect([error.errorClass, error.retryable]).toEqual(['NetworkError', true]);
      expect(error.message).toContain('no answer within 200 ms');
    });

    it('sends typing notices best effort', async () => {
      const channel = await start();
      await channel.setTyping('chat-1', 't-1');
      expect(platform.typing).toEqual([{ platformId: 'chat-1', threadId: 't-1', typing: true }]);

      await platform.close();
      await expect(channel.setTyping('chat-1', null)).resolves.toBeUndefined();
    });
  });
});

describe('WebhookChannel in a running host: one message per (channel, chat, message id)', () => {
  const running = useWebhookHost(useTempDir());
  let channel: WebhookChannel;
  let host: Host;
  beforeEach(() => {
    host = running.host();
    channel = running.channel();
  });

  const inboundEvents = () => [...host.core.store.readAll()].filter((event) => event.type.startsWith('Inbound'));
  const first = { platformId: 'chat-9', messageId: 'm-1', content: { text: 'hello' } };

  it('a retry of a message without timestamp is answered 200 as a repeat, and nothing new is recorded', async () => {
    expect(await postInbound(channel.url(), first)).toEqual({ status: 202, json: { accepted: true } });
    const position = host.core.store.lastPosition();

    expect(await postInbound(channel.url(), first)).toEqual({ status: 200, json: { accepted: true, repeat: 'same' } });
    expect(await postInbound(channel.url(), first)).toEqual({ status: 200, json: { accepted: true, repeat: 'same' } });

    expect(host.core.store.lastPosition()).toBe(position);
    expect(inboundEvents().map((event) => event.type)).toEqual(['InboundDropped']);
  });

  it.each([
    ['a platformId over 500 characters', { ...first, platformId: 'p'.repeat(501) }, 'platformId'],
    ['a messageId over 500 characters', { ...first, messageId: 'm'.repeat(501) }, 'messageId'],
    ['a threadId over 500 characters', { ...first, threadId: 't'.repeat(501) }, 'threadId'],
    ['a chat.name over 200 characters', { ...first, chat: { name: 'n'.repeat(201) } }, 'chat.name'],
    ['JSON 100k levels deep', `{"platformId":"chat-9","messageId":"m-9","content":{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`, '(body)'],
  ])('answers %s with 400 naming it, not 500, and records nothing', async (_, body, field) => {
    const position = host.core.store.lastPosition();
    const { status, json } = await postInbound(channel.url(), body);
    expect(status).toBe(400);
    expect(json.issues).toEqual([{ path: field, message: expect.any(String) }]);
    expect(host.core.store.lastPosition()).toBe(position);
  });

  it('gathers concurrent POSTs into shared transactions: each answered for its own message, each recorded once', async () => {
    const messages = Array.from({ length: 48 }, (_, i) => ({ platformId: 'chat-9', messageId: `burst-${i}`, content: { text: `hello ${i}` } }));
    const before = host.core.store.committedTransactions();

    const answers = await Promise.all([
      ...messages.map((message) => postInbound(channel.url(), message)),
      // A retry of one of them, and the same id with other content, in the same burst.
      postInbound(channel.url(), messages[0]),
      postInbound(channel.url(), { ...messages[1], content: { text: 'edited' } }),
    ]);

    // Whichever of a pair arrived first is the message; the other is its repeat.
    const [retry, edited] = answers.slice(messages.length);
    expect([answers[0]!.json, retry!.json]).toEqual(expect.arrayContaining([{ accepted: true }, { accepted: true, repeat: 'same' }]));
    expect([answers[1]!.json, edited!.json]).toEqual(expect.arrayContaining([{ accepted: true }, { accepted: true, repeat: 'changed' }]));
    expect(answers.filter((answer) => answer.status === 202)).toHaveLength(messages.length);
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(2);
    const recorded = inboundEvents().filter((event) => event.type === 'InboundDropped').map((event) => (event.data as { platformMessageId: string }).platformMessageId);
    expect(recorded.sort()).toEqual(messages.map((message) => message.messageId).sort());
    expect(host.core.store.committedTransactions() - before).toBeLessThan(messages.length);
  });

  it('a repeat with other content is answered 200 and recorded once as ignored, in the first message’s audit trail', async () => {
    expect((await postInbound(channel.url(), { ...first, timestamp: '2025-01-02T03:04:05Z' })).status).toBe(202);
    const edited = { ...first, content: { text: 'hello (edited)' }, threadId: 't-2' };

    expect(await postInbound(channel.url(), edited)).toEqual({ status: 200, json: { accepted: true, repeat: 'changed' } });
    expect(await postInbound(channel.url(), edited)).toEqual({ status: 200, json: { accepted: true, repeat: 'changed' } });

    const [dropped, repeat, ...more] = inboundEvents();
    expect(more).toEqual([]);
    expect(dropped!.type).toBe('InboundDropped');
    expect(repeat).toMatchObject({
      type: 'InboundRepeatIgnored',
      stream: dropped!.stream,
      data: {
        messageId: (dropped!.data as { messageId: string }).messageId,
        channelType: 'webhook', platformId: 'chat-9', platformMessageId: 'm-1', threadId: 't-2',
        kind: 'chat', content: { text: 'hello (edited)' }, timestamp: null,
      },
    });
    expect(host.core.views.audit.trace('inbound:webhook:chat-9:m-1')).toEqual([dropped!.position, repeat!.position]);
  });
});
