import { join } from 'node:path';
import { ChatSdkChannel, MissingCredentialError } from '../../../src/adapters/channels/chat-sdk/bridge';
import { slack } from '../../../src/adapters/channels/chat-sdk/slack';
import { SqliteStateAdapter } from '../../../src/adapters/channels/chat-sdk/sqlite-state';
import { DeliveryError, type ActionReport, type InboundReport } from '../../../src/adapters/channels/channel';
import { FakeSlack, slackButtonClickRequest, slackEventRequest } from '../../support/fake-slack';
import { useTempDir } from '../../support/temp';
import { waitUntil } from '../../support/wait';

/**
 * The Slack platform module on the real @chat-adapter/slack against a fake Slack Web API on
 * loopback: what goes out reaches Slack as Slack's client sends it, what comes in is signed
 * as Slack signs it. (The host around it is the contract suite's.)
 */

const SECRET = 'slack-signing-secret-for-tests';
const WEBHOOK = 'http://127.0.0.1/slack';
const ADMIN = 'UADMIN';

describe('Slack channel (Chat SDK)', () => {
  const tempDir = useTempDir();
  let fake: FakeSlack;
  let channel: ChatSdkChannel;
  let inbound: InboundReport[];
  let actions: ActionReport[];

  beforeEach(async () => {
    fake = await FakeSlack.start();
    fake.addChannel({ id: 'C1', name: 'general' });
    inbound = [];
    actions = [];
    channel = new ChatSdkChannel({
      platform: slack,
      env: { SLACK_BOT_TOKEN: 'xoxb-test-token', SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: fake.apiUrl },
      state: new SqliteStateAdapter(join(tempDir(), 'chat-state.db')),
    });
    await channel.setup({
      conversations: [],
      onInbound: async (report) => void inbound.push(report),
      onAction: async (report) => {
        actions.push(report);
        return report.userId === ADMIN ? { accepted: true } : { accepted: false, reason: 'not-admin' };
      },
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

  it('refuses an event whose signature does not match the signing secret, and reports nothing', async () => {
    const forged = slackEventRequest(WEBHOOK, 'another-secret', { type: 'message', channel: 'C1', user: 'U1', text: 'hi', ts: '1700000002.000100' });

    const response = await channel.handleWebhook(forged);

    expect(response.status).toBe(401);
    expect(inbound).toHaveLength(0);
  });

  it('answers in the thread the message came from and returns Slack’s ts as the message id', async () => {
    const id = await channel.deliver('slack:C1', 'slack:C1:1700000001.000100', { kind: 'chat', content: JSON.stringify({ text: 'the answer' }), files: [] });

    const [posted] = fake.callsOf('chat.postMessage');
    expect(posted).toMatchObject({ channel: 'C1', thread_ts: '1700000001.000100', markdown_text: 'the answer' });
    expect(id).toMatch(/^\d+\.\d+$/);
  });

  it('downloads a file someone posted and sends the agent’s file through Slack’s upload flow', async () => {
    const file = fake.hostFile('notes.txt', Buffer.from('inbound bytes'), 'text/plain');
    await say({ text: 'see attached', ts: '1700000003.000100', files: [file] });

    const attachments = inbound[0]?.message.content.attachments as { name: string; data: string }[];
    expect(attachments).toEqual([expect.objectContaining({ name: 'notes.txt', data: Buffer.from('inbound bytes').toString('base64') })]);

    await channel.deliver('slack:C1', 'slack:C1:1700000003.000100', {
      kind: 'chat',
      content: JSON.stringify({ text: 'here it is' }),
      files: [{ name: 'report.csv', data: Buffer.from('a,b\n1,2\n') }],
    });
    expect(fake.uploads).toEqual([expect.objectContaining({ filename: 'report.csv', data: Buffer.from('a,b\n1,2\n'), channel: 'C1', threadTs: '1700000003.000100' })]);
  });

  it('edits a message and reacts to one by their Slack ts', async () => {
    await channel.deliver('slack:C1', 'slack:C1:1700000001.000100', { kind: 'chat', content: JSON.stringify({ operation: 'edit', messageId: '1700000009.000100', text: 'corrected' }), files: [] });
    await channel.deliver('slack:C1', 'slack:C1:1700000001.000100', { kind: 'chat', content: JSON.stringify({ operation: 'reaction', messageId: '1700000001.000100', emoji: 'thumbs_up' }), files: [] });

    expect(fake.callsOf('chat.update')).toEqual([expect.objectContaining({ channel: 'C1', ts: '1700000009.000100', markdown_text: 'corrected' })]);
    expect(fake.callsOf('reactions.add')).toEqual([expect.objectContaining({ channel: 'C1', timestamp: '1700000001.000100', name: '+1' })]);
  });

  it('posts a question as buttons and reports a click with who clicked, for the host to accept or refuse', async () => {
    const cardTs = await channel.deliver('slack:C1', null, {
      kind: 'chat',
      content: JSON.stringify({ type: 'ask_question', questionId: 'appr-1', question: 'Allow it?', options: ['Approve', 'Reject'] }),
      files: [],
    });
    const [posted] = fake.callsOf('chat.postMessage');
    const buttons = (JSON.parse(posted!.blocks!) as { type: string; elements?: { action_id: string; text: { text: string } }[] }[]).flatMap((block) => block.elements ?? []);
    expect(buttons.map((button) => button.text.text)).toEqual(['Approve', 'Reject']);

    const click = (userId: string, index: number) =>
      channel.handleWebhook(slackButtonClickRequest(WEBHOOK, SECRET, { channel: 'C1', messageTs: String(cardTs), userId, actionId: buttons[index]!.action_id }));
    expect((await click('USTRANGER', 0)).status).toBe(200);
    expect((await click(ADMIN, 1)).status).toBe(200);

    // Slack wants its 200 at once: the SDK handles a click after the webhook answered.
    await waitUntil(() => actions.length === 2, 'both clicks reported');
    expect(actions).toEqual([
      { channelType: 'slack', platformId: 'slack:C1', questionId: 'appr-1', selectedOption: 'Approve', userId: 'USTRANGER' },
      { channelType: 'slack', platformId: 'slack:C1', questionId: 'appr-1', selectedOption: 'Reject', userId: ADMIN },
    ]);
  });

  it('reports a 429 as a rate limit carrying Slack’s Retry-After, and the next attempt goes through', async () => {
    fake.rateLimitNext('chat.postMessage', 1, 3);
    const message = { kind: 'chat', content: JSON.stringify({ text: 'busy?' }), files: [] };

    const refused = await channel.deliver('slack:C1', null, message).catch((error: unknown) => error);

    expect(refused).toBeInstanceOf(DeliveryError);
    expect(refused).toMatchObject({ errorClass: 'RateLimited', retryable: true, retryAfterMs: 3000 });
    await expect(channel.deliver('slack:C1', null, message)).resolves.toMatch(/^\d+\.\d+$/);
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
