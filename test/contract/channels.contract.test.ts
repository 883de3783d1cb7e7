import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DeliveryError, type ChannelAdapter } from '../../src/adapters/channels/channel';
import { CHAT_SDK_PLATFORMS } from '../../src/adapters/channels/chat-sdk/platforms';
import { sessionDir } from '../../src/adapters/session-db';
import { CreateAgentGroup } from '../../src/commands/agent-groups';
import type { CommandEnvelope } from '../../src/commands/define';
import { RetryDelivery } from '../../src/commands/delivery';
import { RegisterMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import { loadConfig } from '../../src/config';
import { Host } from '../../src/host';
import { createLogger } from '../../src/logger';
import type { ChannelFixture } from '../support/channel-fixture';
import { DiscordFixture } from '../support/discord-fixture';
import { writeOutbound } from '../support/container';
import { RecordingRuntime } from '../support/recording-runtime';
import { SlackFixture } from '../support/slack-fixture';
import { TelegramFixture } from '../support/telegram-fixture';
import { useTempDir } from '../support/temp';
import { waitForEvents, waitUntil } from '../support/wait';

/**
 * One contract for every chat platform behind the Chat SDK bridge, run against each
 * platform's fake on loopback with the real SDK adapter pointed at it. A platform joins by
 * adding its fixture (test/support/channel-fixture.ts) to the list. Acceptance tests
 * drive the built runner: `npm run build` first.
 */
const fixtures: ChannelFixture[] = [new TelegramFixture(), new SlackFixture(), new DiscordFixture()];

describe.each(fixtures.map((fixture) => [fixture.channelType, fixture] as const))('channel contract: %s', (_name, platform) => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  let host: Host | undefined;

  beforeEach(() => platform.start());
  afterEach(async () => {
    await host?.stop();
    host = undefined;
    await platform.close();
  });

  /** A host on this platform's channel: Andy wired to the family chat, the admin group to the ops chat. */
  async function startHost(runtime: 'process' | RecordingRuntime) {
    const config = loadConfig(
      { dataDir: dataDir(), ...(runtime === 'process' && { runtime: 'process' }) },
      { SWITCHYARD_POLL_INTERVAL_MS: '20', SWITCHYARD_DELIVERY_BACKOFF_MS: '10', SWITCHYARD_RUNNER_POLL_MS: '50' },
    );
    mkdirSync(config.dataDir, { recursive: true });
    const channel = platform.channel(config.dataDir);
    host = await Host.start(config, { channels: [channel], logger: createLogger('silent'), ...(runtime !== 'process' && { runtime }) });
    const run = (envelope: CommandEnvelope) => {
      const outcome = host!.core.bus.dispatch(envelope);
      if (outcome.status !== 'accepted') throw new Error(`${envelope.type} ${envelope.commandId} was ${outcome.status}`);
    };
    const { channelType } = platform;
    run(CreateAgentGroup.envelope('andy', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }));
    run(CreateAgentGroup.envelope('admin', { agentGroupId: 'ag-admin', name: 'Admin', folder: 'admin', isAdmin: true }));
    run(RegisterMessagingGroup.envelope('fam', { messagingGroupId: 'mg-fam', channelType, platformId: platform.chats.family, name: 'Family' }));
    run(RegisterMessagingGroup.envelope('ops', { messagingGroupId: 'mg-ops', channelType, platformId: platform.chats.ops, adminUserId: platform.users.admin }));
    run(WireChannel.envelope('wire-fam', { messagingGroupId: 'mg-fam', agentGroupId: 'ag-andy' }));
    run(WireChannel.envelope('wire-ops', { messagingGroupId: 'mg-ops', agentGroupId: 'ag-admin' }));
    return { host, channel };
  }

  /** Andy's session once a message reached it: its folder and the id the agent sees the message by. */
  async function sessionOf(text: string) {
    const routed = await waitForEvents(host!.core.store, (e) => e.type === 'InboundRouted' && JSON.stringify(e.data).includes(text));
    const { sessionId } = routed[0]!.data as { sessionId: string };
    const dir = sessionDir(dataDir(), 'ag-andy', sessionId);
    const inbound = join(dir, 'inbound.db');
    await waitUntil(() => existsSync(inbound) && rowsIn(inbound).some((row) => row.content.includes(text)), 'the message in inbound.db');
    const row = rowsIn(inbound).find((r) => r.content.includes(text))!;
    return { sessionId, dir, row };
  }

  it('message in → agent → reply out, in the thread it came from', async () => {
    await startHost('process');
    await platform.say({ chat: platform.chats.family, text: 'hello Andy', thread: '7' });
    const [reply] = await platform.sent(1);
    expect(reply).toEqual(expect.objectContaining({ platformId: platform.chats.family, threadId: platform.threadOf(platform.chats.family, '7'), text: 'echo: hello Andy' }));
    const [routed] = await waitForEvents(host!.core.store, (e) => e.type === 'InboundRouted');
    expect(routed!.data).toEqual(expect.objectContaining({ threadId: platform.threadOf(platform.chats.family, '7') }));
    const [delivered] = await waitForEvents(host!.core.store, (e) => e.type === 'DeliverySucceeded');
    expect(delivered!.data).toEqual(expect.objectContaining({ platformMessageId: reply!.id }));
    // The host showed the chat the agent was on it.
    expect(await platform.typing(1)).toEqual([platform.chats.family]);
  });

  it('registers a chat seen for the first time with its name, as a group or a direct chat', async () => {
    await startHost(new RecordingRuntime());
    const { group, direct } = platform.unregistered;
    await platform.say({ chat: group.platformId, text: 'hi all' });
    await platform.say({ chat: direct.platformId, text: 'hi bot' });
    await waitForEvents(host!.core.store, (e) => e.type === 'MessagingGroupRegistered' && (e.data as { registeredBy: string }).registeredBy === 'first-inbound', 2);
    const chat = (platformId: string) => host!.core.views.messagingGroups.byPlatform(platform.channelType, platformId);
    expect(chat(group.platformId)).toEqual(expect.objectContaining({ name: group.name, is_group: 1, registered_by: 'first-inbound' }));
    expect(chat(direct.platformId)).toEqual(expect.objectContaining({ name: direct.name, is_group: 0, registered_by: 'first-inbound' }));
  });

  it('a file both ways: an attachment lands in the session inbox, an outbox file reaches the chat', async () => {
    const runtime = new RecordingRuntime();
    await startHost(runtime);
    await platform.say({ chat: platform.chats.family, text: 'see attached', file: { name: 'notes.txt', data: Buffer.from('inbound bytes') } });
    const { dir, row } = await sessionOf('see attached');
    const [attachment] = JSON.parse(row.content).attachments as { name: string; localPath: string }[];
    expect(attachment).toEqual(expect.objectContaining({ name: 'notes.txt', localPath: `inbox/${row.id}/notes.txt` }));
    expect(readFileSync(join(dir, attachment!.localPath), 'utf8')).toBe('inbound bytes');

    mkdirSync(join(dir, 'outbox', 'out-1'), { recursive: true });
    writeFileSync(join(dir, 'outbox', 'out-1', 'report.txt'), 'outbound bytes');
    writeOutbound(dir, [{ id: 'out-1', channelType: platform.channelType, platformId: platform.chats.family, content: { text: 'the report', files: ['report.txt'] } }]);
    const [sent] = await platform.sent(1);
    expect(sent).toEqual(expect.objectContaining({ platformId: platform.chats.family, text: 'the report', files: [{ name: 'report.txt', text: 'outbound bytes' }] }));
  });

  it('messages of one chat reach the log in the order they were written, a slow attachment first', async () => {
    await startHost(new RecordingRuntime());
    const big = Buffer.alloc(4 * 1024 * 1024, 'x');
    await platform.say({ chat: platform.chats.family, text: 'first, with a file', file: { name: 'big.bin', data: big } });
    await platform.say({ chat: platform.chats.family, text: 'second, plain' });
    await platform.say({ chat: platform.chats.family, text: 'third, plain' });
    const routed = await waitForEvents(host!.core.store, (e) => e.type === 'InboundRouted', 3);
    expect(routed.map((e) => (JSON.stringify(e.data).match(/(first|second|third), /) ?? [])[1])).toEqual(['first', 'second', 'third']);
  });

  it('edits a message the agent sent and reacts to the one it answers, by the ids the agent knows', async () => {
    await startHost(new RecordingRuntime());
    const said = await platform.say({ chat: platform.chats.family, text: 'react to me' });
    const { dir, row } = await sessionOf('react to me');
    const target = { channelType: platform.channelType, platformId: platform.chats.family };
    writeOutbound(dir, [{ id: 'out-1', ...target, content: { text: 'first draft' } }]);
    const [draft] = await platform.sent(1);
    await waitForEvents(host!.core.store, (e) => e.type === 'DeliverySucceeded');
    writeOutbound(dir, [
      { id: 'out-2', ...target, content: { operation: 'edit', messageId: 'out-1', text: 'final text' } },
      { id: 'out-3', ...target, content: { operation: 'reaction', messageId: row.id, emoji: '👍' } },
    ]);
    expect(await platform.edits(1)).toEqual([{ id: draft!.id, text: expect.stringContaining('final text') }]);
    expect(await platform.reactions(1)).toEqual([{ id: said, emoji: '👍' }]);
  });

  it("an approval card: another user's click is refused and recorded, the chat's admin's decides", async () => {
    await startHost(new RecordingRuntime());
    await platform.say({ chat: platform.chats.family, text: 'please get jq' });
    const { dir } = await sessionOf('please get jq');
    writeOutbound(dir, [{ id: 'req-1', kind: 'system', content: { action: 'install_packages', apt: ['jq'], reason: 'json' } }]);
    const [card] = await platform.sent(1);
    expect(card).toEqual(expect.objectContaining({ platformId: platform.chats.ops, buttons: ['Approve', 'Reject'], text: expect.stringContaining('jq') }));
    const [requested] = await waitForEvents(host!.core.store, (e) => e.type === 'ApprovalRequested');
    const { approvalId } = requested!.data as { approvalId: string };

    await platform.click(card!, 0, platform.users.intruder);
    const [refused] = await waitForEvents(host!.core.store, (e) => e.type === 'ApprovalDecisionRefused');
    expect(refused!.data).toEqual(expect.objectContaining({ approvalId, reason: 'not-admin' }));
    expect(host!.core.views.approvals.get(approvalId)).toEqual(expect.objectContaining({ status: 'pending' }));

    await platform.click(card!, 0, platform.users.admin);
    const [decided] = await waitForEvents(host!.core.store, (e) => e.type === 'ApprovalDecided');
    expect(decided!.metadata.actor).toBe(`channel:${platform.channelType}:${platform.chats.ops}:${platform.users.admin}`);
    expect(host!.core.views.approvals.get(approvalId)).toEqual(expect.objectContaining({ status: 'approved' }));
  });

  it("an agent's question goes out with a button per option; a click comes back to the agent as the option chosen", async () => {
    await startHost(new RecordingRuntime());
    await platform.say({ chat: platform.chats.family, text: 'what shall we drink' });
    const { dir } = await sessionOf('what shall we drink');
    writeOutbound(dir, [{ id: 'ask-1', channelType: platform.channelType, platformId: platform.chats.family, content: { type: 'ask_question', questionId: 'q-drink-1', question: 'Tea or coffee?', options: ['Tea', 'Coffee'] } }]);
    const [card] = await platform.sent(1);
    expect(card).toEqual(expect.objectContaining({ platformId: platform.chats.family, text: expect.stringContaining('Tea or coffee?'), buttons: ['Tea', 'Coffee'] }));
    await platform.click(card!, 1, platform.users.intruder);
    const [answered] = await waitForEvents(host!.core.store, (e) => e.type === 'QuestionAnswered');
    expect(answered!.data).toEqual(expect.objectContaining({ questionId: 'q-drink-1', selectedOption: 'Coffee', userId: platform.users.intruder }));
  });

  it('a 429 is waited out within the attempt and recorded; a message over the limit goes in parts, each recorded', async () => {
    await startHost(new RecordingRuntime());
    await platform.say({ chat: platform.chats.family, text: 'tell me a long story' });
    const { dir } = await sessionOf('tell me a long story');
    platform.rateLimitNextSend(1);
    const story = overTheLimit(platform.channelType, 'once upon a time ');
    writeOutbound(dir, [{ id: 'out-1', channelType: platform.channelType, platformId: platform.chats.family, content: { text: story } }]);
    const [limited] = await waitForEvents(host!.core.store, (e) => e.type === 'DeliveryRateLimited');
    expect(limited!.data).toEqual(expect.objectContaining({ outboundId: 'out-1', attempt: 1, retryAfterMs: 1000, errorClass: 'RateLimited' }));
    const [delivered] = await waitForEvents(host!.core.store, (e) => e.type === 'DeliverySucceeded');
    const sent = await platform.sent(2);
    expect(delivered!.data).toEqual(expect.objectContaining({ outboundId: 'out-1', attempt: 1, platformMessageId: sent[0]!.id, platformMessageIds: sent.map((message) => message.id) }));
    expect(sent.map((message) => message.text).join('\n\n')).toBe(story);
  });

  it("the platform down: the row fails after the configured attempts, recorded; an operator's retry sends it", async () => {
    await startHost(new RecordingRuntime());
    await platform.say({ chat: platform.chats.family, text: 'are you there' });
    const { dir, sessionId } = await sessionOf('are you there');
    platform.downForNextSends(3);
    writeOutbound(dir, [{ id: 'out-down', channelType: platform.channelType, platformId: platform.chats.family, content: { text: 'after the outage' } }]);
    const [failed] = await waitForEvents(host!.core.store, (e) => e.type === 'DeliveryFailed' && (e.data as { final: boolean }).final);
    expect(failed!.data).toEqual(expect.objectContaining({ outboundId: 'out-down', attempt: 3, final: true }));

    const outcome = host!.core.bus.dispatch(RetryDelivery.envelope('retry-1', { sessionId, outboundId: 'out-down' }, { actor: 'operator:alice' }));
    expect(outcome.status).toBe('accepted');
    const [delivered] = await waitForEvents(host!.core.store, (e) => e.type === 'DeliverySucceeded');
    const [sent] = await platform.sent(1);
    expect(sent).toEqual(expect.objectContaining({ platformId: platform.chats.family, text: 'after the outage' }));
    expect(delivered!.data).toEqual(expect.objectContaining({ outboundId: 'out-down', attempt: 4, platformMessageId: sent!.id }));
  });

  describe('the channel alone', () => {
    let channel: ChannelAdapter;
    beforeEach(async () => {
      mkdirSync(dataDir(), { recursive: true });
      channel = platform.channel(dataDir());
      await channel.setup({ conversations: [], onInbound: async () => undefined });
    });
    afterEach(() => channel.teardown());

    it("splits a message longer than the platform's limit and returns each part's id", async () => {
      const text = overTheLimit(platform.channelType, 'word ');
      const ids = await channel.deliver(platform.chats.family, null, { kind: 'chat', content: JSON.stringify({ text }), files: [] });
      const sent = await platform.sent(2);
      expect(ids).toEqual(sent.map((message) => message.id));
      expect(sent.map((message) => message.text).join('\n\n')).toBe(text);
    });

    it('a rate limit is a retryable RateLimited failure carrying the wait the platform asked for', async () => {
      platform.rateLimitNextSend(3);
      const failure = await channel.deliver(platform.chats.family, null, { kind: 'chat', content: JSON.stringify({ text: 'hi' }), files: [] }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(DeliveryError);
      expect(failure).toEqual(expect.objectContaining({ errorClass: 'RateLimited', retryable: true, retryAfterMs: 3000 }));
      // The next attempt goes through, and a retry with the same idempotency key is not sent twice.
      const message = { kind: 'chat', content: JSON.stringify({ text: 'hi' }), files: [], idempotencyKey: 'sess-1:out-1' };
      const first = await channel.deliver(platform.chats.family, null, message);
      expect(await channel.deliver(platform.chats.family, null, message)).toEqual(first);
      expect(await platform.sent(1)).toHaveLength(1);
    });
  });
});

/** Six paragraphs of a quarter of the platform's limit each: two parts, cut between paragraphs. */
function overTheLimit(channelType: string, phrase: string): string {
  const { maxMessageLength } = CHAT_SDK_PLATFORMS[channelType]!;
  return Array(6).fill(phrase.repeat(Math.floor(maxMessageLength / 4 / phrase.length)).trim()).join('\n\n');
}

interface InRow { id: string; content: string }
function rowsIn(path: string): InRow[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT id, content FROM messages_in ORDER BY seq').all() as InRow[];
  } finally {
    db.close();
  }
}
