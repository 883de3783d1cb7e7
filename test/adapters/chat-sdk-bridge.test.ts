import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { ChatSdkChannel, checkCredentials, MissingCredentialError, platformCall, redactingLogger, splitMarkdown } from '../../src/adapters/channels/chat-sdk/bridge';
import { SqliteStateAdapter } from '../../src/adapters/channels/chat-sdk/sqlite-state';
import { telegram } from '../../src/adapters/channels/chat-sdk/telegram';
import { DeliveryError } from '../../src/adapters/channels/channel';
import { createLogger } from '../../src/logger';
import { FakeTelegram } from '../support/fake-telegram';
import { useTempDir } from '../support/temp';

describe('splitMarkdown', () => {
  it('keeps text within the limit whole, and cuts longer text at a paragraph, else a line, else a space, else mid-word', () => {
    expect(splitMarkdown('short', 10)).toEqual(['short']);
    expect(splitMarkdown('aaaa bbbb\n\ncccc', 12)).toEqual(['aaaa bbbb', 'cccc']);
    expect(splitMarkdown('aaaa\nbbbb cccc', 12)).toEqual(['aaaa', 'bbbb cccc']);
    expect(splitMarkdown('aaaa bbbb cccc', 12)).toEqual(['aaaa bbbb', 'cccc']);
    expect(splitMarkdown('x'.repeat(25), 10)).toEqual(['x'.repeat(10), 'x'.repeat(10), 'x'.repeat(5)]);
    for (const part of splitMarkdown('word '.repeat(2000), 4096)) expect(part.length).toBeLessThanOrEqual(4096);
  });
});

describe('platformCall', () => {
  const failWith = (error: object) => platformCall('telegram message', () => Promise.reject(Object.assign(new Error('refused'), error))).catch((caught: unknown) => caught);

  it('turns the SDK errors into DeliveryErrors: a rate limit with its wait, refusals that will repeat as not retryable, the rest retryable', async () => {
    expect(await failWith({ code: 'RATE_LIMITED', retryAfter: 7 })).toEqual(expect.objectContaining({ errorClass: 'RateLimited', retryable: true, retryAfterMs: 7000 }));
    expect(await failWith({ code: 'AUTH_FAILED' })).toEqual(expect.objectContaining({ errorClass: 'AuthFailed', retryable: false }));
    expect(await failWith({ code: 'PERMISSION_DENIED' })).toEqual(expect.objectContaining({ errorClass: 'PermissionDenied', retryable: false }));
    expect(await failWith({ code: 'NOT_FOUND' })).toEqual(expect.objectContaining({ errorClass: 'NotFound', retryable: false }));
    expect(await failWith({ code: 'VALIDATION_ERROR' })).toEqual(expect.objectContaining({ errorClass: 'InvalidRequest', retryable: false }));
    const other = await failWith({ code: 'NETWORK_ERROR' });
    expect(other).toBeInstanceOf(DeliveryError);
    expect(other).toEqual(expect.objectContaining({ errorClass: 'PlatformError', retryable: true, message: 'telegram message failed: refused' }));
  });
});

describe('redactingLogger', () => {
  it('writes the SDK lines as pino JSON with a stable event, and never a secret value, wherever it appears', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString()), done()) });
    const logger = redactingLogger(pino({ level: 'debug' }, sink), ['s3cret-token']);
    logger.child('telegram').warn('GET https://api.example/bots3cret-token/getMe failed', { url: 'https://api.example/bots3cret-token/x', error: new Error('s3cret-token refused') });
    const [line] = lines.map((text) => JSON.parse(text));
    expect(line).toEqual(expect.objectContaining({ level: 40, event: 'ChatSdkLog', sdk: 'chat:telegram' }));
    expect(lines.join('')).not.toContain('s3cret-token');
    expect(lines.join('')).toContain('[redacted]');
  });
});

describe('checkCredentials', () => {
  it('names the first variable the platform needs that is unset or blank, in the mode asked for', () => {
    expect(() => checkCredentials(telegram, {})).toThrow(new MissingCredentialError('telegram', 'TELEGRAM_BOT_TOKEN'));
    expect(() => checkCredentials(telegram, { TELEGRAM_BOT_TOKEN: '  ' })).toThrow('the telegram channel needs TELEGRAM_BOT_TOKEN to be set');
    expect(() => checkCredentials(telegram, { TELEGRAM_BOT_TOKEN: 't' })).not.toThrow();
    expect(() => checkCredentials(telegram, { TELEGRAM_BOT_TOKEN: 't', TELEGRAM_MODE: 'webhook' })).toThrow('TELEGRAM_WEBHOOK_SECRET_TOKEN');
  });
});

describe('ChatSdkChannel against the fake Bot API', () => {
  const tempDir = useTempDir();
  let fake: FakeTelegram;
  let channel: ChatSdkChannel;
  const open = async (platform = telegram) => {
    channel = new ChatSdkChannel({
      platform,
      env: { TELEGRAM_BOT_TOKEN: fake.token, TELEGRAM_API_BASE_URL: fake.url, TELEGRAM_POLL_TIMEOUT_S: '1' },
      state: new SqliteStateAdapter(join(tempDir(), 'chat-state.db')),
      logger: createLogger('silent'),
    });
    await channel.setup({ conversations: [], onInbound: async () => undefined });
  };
  beforeEach(async () => {
    fake = await FakeTelegram.start();
  });
  afterEach(async () => {
    await channel.teardown();
    await fake.close();
  });

  const question = JSON.stringify({ type: 'ask_question', questionId: 'q-1', question: 'Tea or coffee?', options: ['Tea', 'Coffee'] });

  it('sends a question as numbered text where the platform has no buttons', async () => {
    await open({ ...telegram, buttons: false });
    await channel.deliver('telegram:-1001', null, { kind: 'chat', content: question, files: [] });
    const [sent] = await fake.waitForCalls('sendMessage');
    expect(sent!.params.reply_markup).toBeUndefined();
    expect(sent!.params.text).toBe('Tea or coffee?\n1. Tea\n2. Coffee');
  });

  it('a refusal that will be repeated (the bot was removed from the chat) is not retryable', async () => {
    await open();
    fake.refuseNext('sendMessage', 403, 'Forbidden: bot was kicked from the supergroup chat');
    const failure = await channel.deliver('telegram:-1001', null, { kind: 'chat', content: 'hello', files: [] }).catch((error: unknown) => error);
    expect(failure).toEqual(expect.objectContaining({ errorClass: 'PermissionDenied', retryable: false }));
  });

  it('is not connected after teardown, and says so to a delivery', async () => {
    await open();
    expect(channel.isConnected()).toBe(true);
    await channel.teardown();
    expect(channel.isConnected()).toBe(false);
    await expect(channel.deliver('telegram:-1001', null, { kind: 'chat', content: 'hello', files: [] })).rejects.toEqual(expect.objectContaining({ errorClass: 'ChannelDown' }));
  });
});
