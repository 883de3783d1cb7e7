import { join } from 'node:path';
import { ChatSdkChannel, MissingCredentialError } from '../../src/adapters/channels/chat-sdk/bridge';
import { discord } from '../../src/adapters/channels/chat-sdk/discord';
import { SqliteStateAdapter } from '../../src/adapters/channels/chat-sdk/sqlite-state';
import type { InboundReport } from '../../src/adapters/channels/channel';
import { DISCORD_APPLICATION_ID, discordMessageRequest, FakeDiscord } from '../support/fake-discord';
import { useTempDir } from '../support/temp';

/**
 * What is Discord's own in the Discord platform module, on the real @chat-adapter/discord
 * against a fake Discord REST on loopback. Messages, threads, files, edits, reactions, cards
 * and 429s with a host around the channel are the contract suite's (channels.contract.test.ts).
 */

const BOT_TOKEN = 'discord-test-bot-token';
const WEBHOOK = 'http://127.0.0.1/discord';

describe('Discord channel (Chat SDK)', () => {
  const tempDir = useTempDir();
  let fake: FakeDiscord;
  let channel: ChatSdkChannel;
  let inbound: InboundReport[];

  beforeEach(async () => {
    fake = await FakeDiscord.start();
    fake.addChannel({ id: '100', name: 'general', type: 0 });
    inbound = [];
    channel = new ChatSdkChannel({
      platform: discord,
      env: { DISCORD_BOT_TOKEN: BOT_TOKEN, DISCORD_PUBLIC_KEY: fake.publicKeyHex, DISCORD_APPLICATION_ID, DISCORD_API_URL: fake.apiUrl, DISCORD_GATEWAY: 'forwarded' },
      state: new SqliteStateAdapter(join(tempDir(), 'chat-state.db')),
    });
    await channel.setup({ conversations: [], onInbound: async (report) => void inbound.push(report) });
  });

  afterEach(async () => {
    await channel.teardown();
    await fake.close();
  });

  it('takes a forwarded gateway message with the chat name, and refuses one forwarded without the bot token', async () => {
    const message = { id: '9001', channelId: '100', guildId: '1', authorId: '42', content: 'hello agent', mentionsBot: false };

    expect((await channel.handleWebhook(discordMessageRequest(WEBHOOK, 'not-the-token', message))).status).toBe(401);
    expect(inbound).toHaveLength(0);

    expect((await channel.handleWebhook(discordMessageRequest(WEBHOOK, BOT_TOKEN, message))).status).toBe(200);
    expect(inbound).toEqual([
      expect.objectContaining({ channelType: 'discord', platformId: 'discord:1:100', threadId: null, message: expect.objectContaining({ id: '9001', content: expect.objectContaining({ text: 'hello agent', senderId: '42' }) }), chat: { name: 'general', isGroup: true } }),
    ]);
  });

  it('gives a mention outside a thread a thread of its own, and reports it as a mention in that thread', async () => {
    await channel.handleWebhook(discordMessageRequest(WEBHOOK, BOT_TOKEN, { id: '9002', channelId: '100', guildId: '1', authorId: '42', content: 'help please', mentionsBot: true }));

    expect(fake.api.callsTo(/^\/api\/v10\/channels\/100\/messages\/9002\/threads$/)).toHaveLength(1);
    expect(inbound).toEqual([expect.objectContaining({ platformId: 'discord:1:100', isMention: true, threadId: expect.stringMatching(/^discord:1:100:\d+$/) })]);
  });

  it('answers Discord’s PING with a PONG only when it is signed with the application’s key', async () => {
    const body = JSON.stringify({ id: '1', application_id: DISCORD_APPLICATION_ID, type: 1, token: 't', version: 1 });
    const ping = (headers: Record<string, string>) => channel.handleWebhook(new Request(WEBHOOK, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }));

    const signed = await ping(fake.signInteraction(body));
    expect(signed.status).toBe(200);
    expect(await signed.json()).toEqual({ type: 1 });
    expect((await ping({ ...fake.signInteraction(body), 'x-signature-timestamp': '1' })).status).toBe(401);
  });

  it('fails an attempt at once when Discord is down, and sends files to DISCORD_API_URL, not discord.com', async () => {
    fake.failNext(/\/channels\/100\/messages$/, 1, 503);
    const message = { kind: 'chat', content: JSON.stringify({ text: 'with a file' }), files: [{ name: 'a.txt', data: Buffer.from('bytes') }] };

    await expect(channel.deliver('discord:1:100', null, message)).rejects.toMatchObject({ errorClass: 'PlatformError', retryable: true });
    const id = await channel.deliver('discord:1:100', null, message);

    expect(fake.posted).toEqual([expect.objectContaining({ id, channelId: '100', files: [{ filename: 'a.txt', data: Buffer.from('bytes') }] })]);
  });
});

describe('Discord channel configuration', () => {
  const tempDir = useTempDir();
  const state = () => new SqliteStateAdapter(join(tempDir(), 'chat-state.db'));

  it('refuses to start without the public key, naming the variable', async () => {
    const channel = new ChatSdkChannel({ platform: discord, env: { DISCORD_BOT_TOKEN: 'x', DISCORD_APPLICATION_ID: '1' }, state: state() });

    const refused = await channel.setup({ conversations: [], onInbound: async () => undefined }).catch((error: unknown) => error);

    expect(refused).toBeInstanceOf(MissingCredentialError);
    expect((refused as Error).message).toContain('DISCORD_PUBLIC_KEY');
  });

  it('refuses a DISCORD_GATEWAY it does not know, saying what it takes', async () => {
    const env = { DISCORD_BOT_TOKEN: 'x', DISCORD_PUBLIC_KEY: 'a'.repeat(64), DISCORD_APPLICATION_ID: '1', DISCORD_GATEWAY: 'websocket' };
    const channel = new ChatSdkChannel({ platform: discord, env, state: state() });

    await expect(channel.setup({ conversations: [], onInbound: async () => undefined })).rejects.toThrow('DISCORD_GATEWAY must be connect or forwarded, not "websocket"');
  });
});
