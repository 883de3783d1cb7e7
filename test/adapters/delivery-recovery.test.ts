import { join } from 'node:path';
import { WebhookChannel } from '../../src/adapters/channels/webhook';
import { sessionDir } from '../../src/adapters/session-db';
import { CreateAgentGroup } from '../../src/commands/agent-groups';
import { RetryDelivery } from '../../src/commands/delivery';
import { RegisterMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import { loadConfig } from '../../src/config';
import type { RecordedEvent } from '../../src/events/define';
import { openDataDir, type Core } from '../../src/core';
import { Host } from '../../src/host';
import { createLogger } from '../../src/logger';
import { writeOutbound } from '../support/container';
import { FakePlatform, postInbound } from '../support/fake-platform';
import { useTempDir } from '../support/temp';
import { waitForEvents, waitUntil } from '../support/wait';

/**
 * The delivery loop against the real webhook channel and a bridge on loopback: what a
 * platform's limits and outages become in the log.
 */
describe('deliveries through the webhook channel: rate limits, parts, and an operator’s retry', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  let platform: FakePlatform;
  const hosts: Host[] = [];

  beforeEach(async () => {
    platform = await FakePlatform.start();
  });
  afterEach(async () => {
    for (const host of hosts.splice(0)) await host.stop();
    await platform.close();
  });

  async function startHost(deliverUrl: string, env: Record<string, string> = {}): Promise<Host> {
    const config = loadConfig({ dataDir: dataDir() }, { SWITCHYARD_RUNTIME: 'external', SWITCHYARD_POLL_INTERVAL_MS: '20', SWITCHYARD_DELIVERY_BACKOFF_MS: '10', ...env });
    const host = await Host.start(config, { channels: [new WebhookChannel({ deliverUrl })], logger: createLogger('silent') });
    hosts.push(host);
    return host;
  }

  /** An agent wired to one webhook chat, and its session opened by a first message; returns the session's folder. */
  async function openSession(host: Host): Promise<string> {
    const operator = { actor: 'operator:alice' };
    for (const envelope of [
      CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }, operator),
      RegisterMessagingGroup.envelope('mg', { messagingGroupId: 'mg-chat', channelType: 'webhook', platformId: 'chat-1', name: 'Chat' }, operator),
      WireChannel.envelope('wire', { messagingGroupId: 'mg-chat', agentGroupId: 'ag-andy' }, operator),
    ]) {
      expect(host.core.bus.dispatch(envelope).status).toBe('accepted');
    }
    const channel = host.channels[0] as WebhookChannel;
    expect((await postInbound(channel.url(), { platformId: 'chat-1', messageId: 'm-1', content: { text: 'hello' } })).status).toBe(202);
    const [routed] = await waitForEvents(host.core.store, (e) => e.type === 'InboundRouted');
    const checkpoint = host.core.store.db.prepare("SELECT position FROM checkpoints WHERE consumer = 'session-folder'").pluck();
    await waitUntil(() => ((checkpoint.get() as number | undefined) ?? 0) >= routed!.position, 'the session folder');
    return sessionDir(dataDir(), 'ag-andy', (routed!.data as { sessionId: string }).sessionId);
  }

  const about = (outboundId: string) => (event: RecordedEvent) => (event.data as { outboundId?: string }).outboundId === outboundId;
  const settled = (outboundId: string) => (event: RecordedEvent) =>
    about(outboundId)(event) && (event.type === 'DeliverySucceeded' || (event.type === 'DeliveryFailed' && (event.data as { final: boolean }).final));
  /** The delivery events of one row, in log order, as [type, attempt]. */
  const story = (core: Core, outboundId: string) =>
    [...core.store.readAll()]
      .filter((event) => about(outboundId)(event) && event.type.startsWith('Delivery'))
      .map((event) => [event.type, (event.data as { attempt?: number }).attempt]);

  it('a 429 with Retry-After: 1 is waited out within the attempt: recorded, then delivered, one attempt counted', async () => {
    const host = await startHost(platform.url);
    const folder = await openSession(host);
    platform.rateLimitNext(1, 1);

    writeOutbound(folder, [{ id: 'out-limited', channelType: 'webhook', platformId: 'chat-1', content: { text: 'after the wait' } }]);
    await waitForEvents(host.core.store, settled('out-limited'));

    expect(story(host.core, 'out-limited')).toEqual([
      ['DeliveryAttempted', 1],
      ['DeliveryRateLimited', 1],
      ['DeliverySucceeded', 1],
    ]);
    const limited = [...host.core.store.readAll()].find((event) => event.type === 'DeliveryRateLimited')!;
    expect(limited.data).toMatchObject({ retryAfterMs: 1000, errorClass: 'RateLimited' });
    expect(host.core.views.audit.outboundRow(host.core.views.sessions.forAgentGroup('ag-andy')[0]!.id, 'out-limited')).toMatchObject({ outcome: 'delivered', attempts: 1 });
    expect(platform.received).toHaveLength(1);
  });

  it('a stop during a long rate-limit wait does not wait it out: the attempt ends failed and retryable, for the next start', async () => {
    const host = await startHost(platform.url);
    const folder = await openSession(host);
    platform.rateLimitNext(1, 3600);

    writeOutbound(folder, [{ id: 'out-waiting', channelType: 'webhook', platformId: 'chat-1', content: { text: 'later' } }]);
    await waitForEvents(host.core.store, (event) => about('out-waiting')(event) && event.type === 'DeliveryRateLimited');
    await hosts.pop()!.stop();

    const core = openDataDir(dataDir());
    try {
      expect(story(core, 'out-waiting')).toEqual([
        ['DeliveryAttempted', 1],
        ['DeliveryRateLimited', 1],
        ['DeliveryFailed', 1],
      ]);
      expect([...core.store.readAll()].filter(about('out-waiting')).at(-1)!.data).toMatchObject({ errorClass: 'RateLimited', final: false });
    } finally {
      core.close();
    }
  });

  it('a message the bridge split is recorded with each part’s id, the first as its platform id', async () => {
    const host = await startHost(platform.url);
    const folder = await openSession(host);
    platform.splitNext(['pm-a', 'pm-b']);

    writeOutbound(folder, [{ id: 'out-long', channelType: 'webhook', platformId: 'chat-1', content: { text: 'a long text' } }]);
    const [delivered] = await waitForEvents(host.core.store, settled('out-long'));

    expect(delivered!.data).toMatchObject({ platformMessageId: 'pm-a', platformMessageIds: ['pm-a', 'pm-b'] });
    const row = host.core.views.audit.find('out-long')[0]!;
    expect([row.platform_message_id, JSON.parse(row.platform_message_ids!)]).toEqual(['pm-a', ['pm-a', 'pm-b']]);
    // explain finds the message by its first part's id.
    expect(host.core.views.audit.find('pm-a').map((r) => r.message_id)).toEqual(['out-long']);
  });

  it('a bridge that is down fails the row after the configured attempts; a retry recorded while no host runs is sent by the next host, same key', async () => {
    await platform.close();
    const host = await startHost(platform.url, { SWITCHYARD_DELIVERY_ATTEMPTS: '2' });
    const folder = await openSession(host);
    writeOutbound(folder, [{ id: 'out-down', channelType: 'webhook', platformId: 'chat-1', content: { text: 'anyone there?' } }]);
    const [failed] = await waitForEvents(host.core.store, settled('out-down'));
    expect(failed!.data).toMatchObject({ attempt: 2, errorClass: 'NetworkError', error: expect.stringContaining('ECONNREFUSED'), final: true });
    const sessionId = (failed!.data as { sessionId: string }).sessionId;
    await hosts.pop()!.stop();

    // No host runs: the retry is only a fact in the log, with the operator as its actor.
    const core = openDataDir(dataDir());
    try {
      const outcome = core.bus.dispatch(RetryDelivery.envelope('retry-1', { sessionId, outboundId: 'out-down' }, { actor: 'operator:alice' }));
      expect(outcome.status).toBe('accepted');
      expect(core.views.audit.outboundRow(sessionId, 'out-down')).toMatchObject({ outcome: 'routed', attempts: 2, retry_base: 2 });
    } finally {
      core.close();
    }

    await platform.up();
    const later = await startHost(platform.url, { SWITCHYARD_DELIVERY_ATTEMPTS: '2' });
    const [delivered] = await waitForEvents(later.core.store, (event) => settled('out-down')(event) && event.type === 'DeliverySucceeded');
    expect(delivered!.data).toMatchObject({ attempt: 3, platformMessageId: 'pm-1' });
    expect([...later.core.store.readAll()].find((event) => event.type === 'DeliveryRetryRequested')!.metadata.actor).toBe('operator:alice');
    expect(platform.received.map((body) => body.idempotencyKey)).toEqual([`${sessionId}:out-down`]);
    expect(later.core.views.audit.outboundRow(sessionId, 'out-down')).toMatchObject({ outcome: 'delivered', attempts: 3, last_error: expect.stringContaining('NetworkError') });
  });
});
