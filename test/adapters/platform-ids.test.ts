import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { WebhookChannel } from '../../src/adapters/channels/webhook';
import { sessionDir } from '../../src/adapters/session-db';
import { CreateAgentGroup } from '../../src/commands/agent-groups';
import { RegisterMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import type { RecordedEvent } from '../../src/events/define';
import type { Host } from '../../src/host';
import { writeOutbound } from '../support/container';
import { postInbound, type FakePlatform } from '../support/fake-platform';
import { useTempDir } from '../support/temp';
import { waitForEvents } from '../support/wait';
import { useWebhookHost } from '../support/webhook-host';

/**
 * Agents name the message they react to, edit or answer by the id they see: messages_in.id
 * (the host's `msg-…` id) or their own messages_out.id. A bridge knows only the platform's
 * ids, so that is what must reach it.
 */
describe('reactions, edits and replies reach the platform with its own message ids (webhook channel, fake platform)', () => {
  const tempDir = useTempDir();
  const running = useWebhookHost(tempDir, { SWITCHYARD_POLL_INTERVAL_MS: '20' });
  let platform: FakePlatform;
  let channel: WebhookChannel;
  let host: Host;

  beforeEach(() => {
    host = running.host();
    channel = running.channel();
    platform = running.platform();
    const operator = { actor: 'operator:alice' };
    for (const envelope of [
      CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }, operator),
      RegisterMessagingGroup.envelope('mg', { messagingGroupId: 'mg-chat', channelType: 'webhook', platformId: 'chat-1', name: 'Chat' }, operator),
      RegisterMessagingGroup.envelope('mg-2', { messagingGroupId: 'mg-elsewhere', channelType: 'webhook', platformId: 'chat-2', name: 'Elsewhere' }, operator),
      WireChannel.envelope('wire', { messagingGroupId: 'mg-chat', agentGroupId: 'ag-andy', sessionMode: 'agent-shared' }, operator),
      WireChannel.envelope('wire-2', { messagingGroupId: 'mg-elsewhere', agentGroupId: 'ag-andy', sessionMode: 'agent-shared' }, operator),
    ]) {
      expect(host.core.bus.dispatch(envelope).status).toBe('accepted');
    }
  });

  const dataDir = () => join(tempDir(), 'data');
  const session = () => host.core.views.sessions.forAgentGroup('ag-andy')[0]!;
  const folder = () => sessionDir(dataDir(), 'ag-andy', session().id);
  const delivered = (outboundId: string) => (event: RecordedEvent) =>
    event.type === 'DeliverySucceeded' && (event.data as { outboundId: string }).outboundId === outboundId;

  /** Posts a platform message and returns the id the agent sees for it in messages_in. */
  async function receive(platformId: string, messageId: string): Promise<string> {
    expect((await postInbound(channel.url(), { platformId, messageId, content: { text: 'hello' } })).status).toBe(202);
    // The 202 says the message is in the log; the folder writer puts it in inbound.db right after.
    await host.settled();
    const db = new Database(join(folder(), 'inbound.db'), { readonly: true });
    try {
      const rows = db.prepare("SELECT id, content FROM messages_in WHERE kind = 'chat' ORDER BY seq").all() as { id: string }[];
      return rows[rows.length - 1]!.id;
    } finally {
      db.close();
    }
  }

  it('a reaction, an edit and a reply aimed at an inbound message carry the platform’s message id, not the host’s', async () => {
    const seen = await receive('chat-1', 'tg-777');
    expect(seen).not.toBe('tg-777');

    writeOutbound(folder(), [
      { id: 'out-react', channelType: 'webhook', platformId: 'chat-1', content: { operation: 'reaction', messageId: seen, emoji: 'thumbs_up' } },
      { id: 'out-reply', channelType: 'webhook', platformId: 'chat-1', inReplyTo: seen, content: { text: 'on it' } },
    ]);
    await waitForEvents(host.core.store, delivered('out-reply'));

    const [reaction, reply] = platform.received;
    expect(reaction).toMatchObject({ platformId: 'chat-1', content: { operation: 'reaction', messageId: 'tg-777', emoji: 'thumbs_up' } });
    expect(reaction).not.toHaveProperty('inReplyTo');
    expect(reply).toMatchObject({ platformId: 'chat-1', content: { text: 'on it' }, inReplyTo: 'tg-777' });
  });

  it('an edit or reaction aimed at the agent’s own earlier message carries the id the platform gave it at delivery', async () => {
    await receive('chat-1', 'tg-1');
    writeOutbound(folder(), [{ id: 'out-first', channelType: 'webhook', platformId: 'chat-1', content: { text: 'thinking…' } }]);
    const [first] = await waitForEvents(host.core.store, delivered('out-first'));
    const given = (first!.data as { platformMessageId: string }).platformMessageId;
    expect(given).toBe('pm-1');

    writeOutbound(folder(), [
      { id: 'out-edit', channelType: 'webhook', platformId: 'chat-1', content: { operation: 'edit', messageId: 'out-first', text: 'done' } },
      { id: 'out-react', channelType: 'webhook', platformId: 'chat-1', content: { operation: 'reaction', messageId: 'out-first', emoji: 'check' } },
    ]);
    await waitForEvents(host.core.store, delivered('out-react'));
    expect(platform.received.slice(1).map((d) => d.content)).toEqual([
      { operation: 'edit', messageId: 'pm-1', text: 'done' },
      { operation: 'reaction', messageId: 'pm-1', emoji: 'check' },
    ]);
  });

  it('an edit written together with the message it edits still carries the platform’s id', async () => {
    await receive('chat-1', 'tg-1');
    writeOutbound(folder(), [
      { id: 'out-first', channelType: 'webhook', platformId: 'chat-1', content: { text: 'thinking…' } },
      { id: 'out-edit', channelType: 'webhook', platformId: 'chat-1', content: { operation: 'edit', messageId: 'out-first', text: 'done' } },
    ]);
    await waitForEvents(host.core.store, delivered('out-edit'));
    expect(platform.received.map((d) => d.content)).toEqual([{ text: 'thinking…' }, { operation: 'edit', messageId: 'pm-1', text: 'done' }]);
  });

  it('an id from another chat, or one the session does not know, is passed on as written', async () => {
    const elsewhere = await receive('chat-2', 'tg-2');
    writeOutbound(folder(), [
      { id: 'out-cross', channelType: 'webhook', platformId: 'chat-1', inReplyTo: elsewhere, content: { operation: 'reaction', messageId: elsewhere, emoji: 'eyes' } },
      { id: 'out-raw', channelType: 'webhook', platformId: 'chat-1', content: { operation: 'reaction', messageId: 'tg-555', emoji: 'eyes' } },
    ]);
    await waitForEvents(host.core.store, delivered('out-raw'));
    const [cross, raw] = platform.received;
    expect(cross!.content).toEqual({ operation: 'reaction', messageId: elsewhere, emoji: 'eyes' });
    expect(cross).not.toHaveProperty('inReplyTo');
    expect(raw!.content).toEqual({ operation: 'reaction', messageId: 'tg-555', emoji: 'eyes' });
  });
});
