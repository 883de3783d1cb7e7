import { join } from 'node:path';
import { ChatSdkChannel, MissingCredentialError } from '../../src/adapters/channels/chat-sdk/bridge';
import { slack } from '../../src/adapters/channels/chat-sdk/slack';
import { SqliteStateAdapter } from '../../src/adapters/channels/chat-sdk/sqlite-state';
import type { InboundReport } from '../../src/adapters/channels/channel';
import { FakeSlack, slackEventRequest } from '../support/fake-slack';
import { useTempDir } from '../support/temp';

/**
 * What is Slack's own in the Slack platform module, on the real @chat-adapter/slack against
 * a fake Slack Web API on loopback. Messages, threads, files, edits, reactions, cards and
 * 429s with a host around the channel are the contract suite's (channels.contract.test.ts).
 */

const SECRET = 'slack-signing-secret-for-tests';
const WEBHOOK = 'http://127.0.0.1/slack';

describe('Slack channel (Chat SDK)', () => {
  const tempDir = useTempDir();
  let fake: FakeSlack;
  let channel: ChatSdkChannel;
  let inbound: InboundReport[];

  beforeEach(async () => {
    fake = await FakeSlack.start();
    fake.addChannel({ id: 'C1', name: 'general' });
    inbound = [];
    channel = new ChatSdkChannel({
      platform: slack,
      env: { SLACK_BOT_TOKEN: 'xoxb-test-token', SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: fake.apiUrl },
      state: new SqliteStateAdapter(join(tempDir(), 'chat-state.db')),
    });
    await channel.setup({
      conversations: [],
      onInbound: async (report) => void inbound.push(report),
    });
  });

  afterEach(async () => {
    await channel.teardown();
    await fake.close();
  });

  const say = (event: Record<string, unknown>) =>
    channel.handleWebhook(slackEventRequest(WEBHOOK, SECRET, { type: 'message', channel: 'C1', channel_type: 'channel', user: 'U1', ...event }));

  it('takes a signed message event to the host, with its thread and the chat name', async () => {
    const response = await say({ text: 'hello agent', ts: '1700000001.000100' });

    expect(response.status).toBe(200);
    expect(inbound).toHaveLength(1);
    expect(inbound[0]).toMatchObject({
      channelType: 'slack',
      platformId: 'slack:C1',
      threadId: 'slack:C1:1700000001.000100',
      message: { id: '1700000001.000100', content: { text: 'hello agent', senderId: 'U1' } },
      chat: { name: '#general', isGroup: true },
    });
  });

  it('reports a mention once, as a mention, though Slack sends it both as a message and as app_mention', async () => {
    const text = `<@UBOT> are you there?`;
    await say({ text, ts: '1700000005.000100' });
    await say({ type: 'app_mention', text, ts: '1700000005.000100' });

    expect(inbound).toHaveLength(1);
    expect(inbound[0]).toMatchObject({ message: { id: '1700000005.000100' }, isMention: true });
  });

  it('reports a direct message as a chat that is not a group', async () => {
    await say({ channel: 'D1', channel_type: 'im', text: 'just us', ts: '1700000004.000100' });

    expect(inbound[0]).toMatchObject({ platformId: 'slack:D1', isGroup: false, chat: { isGroup: false } });
  });

  it('refuses an event whose signature does not match the signing secret, and reports nothing', async () => {
    const forged = slackEventRequest(WEBHOOK, 'another-secret', { type: 'message', channel: 'C1', user: 'U1', text: 'hi', ts: '1700000002.000100' });

    const response = await channel.handleWebhook(forged);

    expect(response.status).toBe(401);
    expect(inbound).toHaveLength(0);
  });

  it('fails an attempt at once when Slack is down instead of retrying inside the client', async () => {
    fake.failNext('chat.postMessage', 1, 503);

    await expect(channel.deliver('slack:C1', null, { kind: 'chat', content: 'anyone?', files: [] })).rejects.toMatchObject({ errorClass: 'PlatformError', retryable: true });
    expect(fake.callsOf('chat.postMessage')).toHaveLength(1);
  });
});

describe('Slack channel configuration', () => {
  const tempDir = useTempDir();

  it('refuses to start without the signing secret, naming the variable', async () => {
    const channel = new ChatSdkChannel({ platform: slack, env: { SLACK_BOT_TOKEN: 'xoxb-x' }, state: new SqliteStateAdapter(join(tempDir(), 'chat-state.db')) });

    const refused = await channel.setup({ conversations: [], onInbound: async () => undefined }).catch((error: unknown) => error);

    expect(refused).toBeInstanceOf(MissingCredentialError);
    expect((refused as Error).message).toContain('SLACK_SIGNING_SECRET');
  });

  it('asks for the app token instead in socket mode', () => {
    expect(slack.requiredEnv({ SLACK_MODE: 'socket' })).toEqual(['SLACK_BOT_TOKEN', 'SLACK_APP_TOKEN']);
    expect(slack.webhookPath({ SLACK_MODE: 'socket' })).toBeUndefined();
  });
});
