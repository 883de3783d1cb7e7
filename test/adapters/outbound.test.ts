import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AddDestination } from '../../src/commands/destinations';
import { explainMessage } from '../../src/cli/explain';
import { loadConfig } from '../../src/config';
import type { RecordedEvent } from '../../src/events/define';
import { Host } from '../../src/host';
import { createLogger } from '../../src/logger';
import { sessionDir } from '../../src/adapters/session-db';
import { deliveredRows, writeOutbound } from '../support/container';
import { seedScenario } from '../support/scenario';
import { useTempDir } from '../support/temp';
import { waitForEvents } from '../support/wait';

const outcomeOf = (outboundId: string) => (event: RecordedEvent) =>
  (event.data as { outboundId?: string }).outboundId === outboundId &&
  (event.type === 'OutboundDropped' || event.type === 'DeliverySucceeded' || (event.type === 'DeliveryFailed' && (event.data as { final: boolean }).final));

const inboundRows = (dir: string) => {
  const db = new Database(join(dir, 'inbound.db'), { readonly: true });
  try {
    return db.prepare('SELECT id, seq, kind, channel_type, platform_id, content FROM messages_in ORDER BY seq').all() as {
      id: string; seq: number; kind: string; channel_type: string | null; platform_id: string | null; content: string;
    }[];
  } finally {
    db.close();
  }
};

describe('outbound routing in a running host (real session folders, no channel configured)', () => {
  const tempDir = useTempDir();
  let host: Host;

  beforeEach(async () => {
    const config = loadConfig({ dataDir: join(tempDir(), 'data') }, { SWITCHYARD_POLL_INTERVAL_MS: '20', SWITCHYARD_RETRY_BACKOFF_MS: '1', SWITCHYARD_RUNTIME: 'external' });
    host = await Host.start(config, { channels: [], logger: createLogger('silent') });
    seedScenario(host.core);
    await host.settled();
  });
  afterEach(() => host.stop());

  const andySession = () => host.core.views.sessions.forAgentGroup('ag-andy')[0]!;
  const andyDir = () => sessionDir(join(tempDir(), 'data'), 'ag-andy', andySession().id);

  it('re-checks every row on the host: dropped with its reason, failed without an adapter, recorded in delivered', async () => {
    writeOutbound(andyDir(), [
      { id: 'r-revoked', channelType: 'agent', platformId: 'ag-research', content: { text: 'research this' } },
      { id: 'r-family', channelType: 'telegram', platformId: '-1001', content: { text: 'dinner at 7' } },
      { id: 'r-unknown', channelType: 'telegram', platformId: '-999', content: { text: 'hello?' } },
      { id: 'r-system', kind: 'system', content: { action: 'launch_rockets' } },
    ]);
    const events = await Promise.all(['r-revoked', 'r-family', 'r-unknown', 'r-system'].map((id) => waitForEvents(host.core.store, outcomeOf(id))));
    expect(events.map(([e]) => [e!.type, (e!.data as { reason?: string; errorClass?: string }).reason ?? (e!.data as { errorClass?: string }).errorClass])).toEqual([
      ['OutboundDropped', 'not-permitted'],
      ['DeliveryFailed', 'NoChannelAdapter'],
      ['OutboundDropped', 'unknown-destination'],
      ['OutboundDropped', 'unknown-action'],
    ]);
    await host.settled();
    expect(deliveredRows(andyDir())).toEqual({
      'r-revoked': { status: 'dropped', platform_message_id: null },
      'r-family': { status: 'failed', platform_message_id: null },
      'r-unknown': { status: 'dropped', platform_message_id: null },
      'r-system': { status: 'dropped', platform_message_id: null },
    });
    // The sender is told of the final failure, as a system chat message in its session.
    expect(inboundRows(andyDir()).find((row) => row.id === 'sys-failed-r-family')).toMatchObject({ kind: 'chat', content: expect.stringContaining('NoChannelAdapter') });

    // explain shows the revocation behind the drop, and the ACL at that moment.
    const [explanation] = explainMessage(host.core, 'r-revoked');
    const decision = explanation!.steps.find((step) => step.event.type === 'OutboundDropped')!;
    expect(decision.revokedBy?.destination).toMatchObject({ local_name: 'research-bot', revoked_by: 'operator:alice' });
    expect(decision.revokedBy?.event?.type).toBe('DestinationRemoved');
    expect(decision.aclAtDecision!.map((d) => d.local_name)).toEqual(['family']);
    expect(host.core.views.audit.find('r-family')[0]).toMatchObject({ outcome: 'failed', attempts: 1 });

    // The decider re-run on the recorded row gives the recorded answer against the ACL of
    // its moment; once the route is granted again, today's answer differs.
    expect(decision.rejudged).toEqual({ recorded: 'dropped: not-permitted', asOfDecision: 'dropped: not-permitted', reproduced: true, today: 'dropped: not-permitted', differsToday: false });
    host.core.bus.dispatch(AddDestination.envelope('grant-again', { agentGroupId: 'ag-andy', localName: 'research', targetType: 'agent', targetId: 'ag-research' }));
    const later = explainMessage(host.core, 'r-revoked')[0]!.steps.find((step) => step.event.type === 'OutboundDropped')!;
    expect(later.rejudged).toMatchObject({ reproduced: true, today: 'routed by "research"', differsToday: true });
  });

  it('delivers agent to agent into the target’s session under the sender’s id, and a reply returns to the conversation', async () => {
    host.core.bus.dispatch(AddDestination.envelope('grant-again', { agentGroupId: 'ag-andy', localName: 'research', targetType: 'agent', targetId: 'ag-research' }));
    writeOutbound(andyDir(), [{ id: 'ask-1', channelType: 'agent', platformId: 'ag-research', content: { text: 'find sources' } }]);
    const [delivered] = await waitForEvents(host.core.store, (e) => e.type === 'AgentMessageDelivered');
    const { targetSessionId, messageId } = delivered!.data as { targetSessionId: string; messageId: string };
    await host.settled();
    const researchDir = sessionDir(join(tempDir(), 'data'), 'ag-research', targetSessionId);
    expect(inboundRows(researchDir)).toEqual([
      { id: messageId, seq: 2, kind: 'chat', channel_type: 'agent', platform_id: 'ag-andy', content: JSON.stringify({ text: 'find sources' }) },
    ]);
    expect(deliveredRows(andyDir())['ask-1']).toEqual({ status: 'delivered', platform_message_id: messageId });

    writeOutbound(researchDir, [{ id: 'answer-1', channelType: 'agent', platformId: 'ag-andy', inReplyTo: messageId, content: { text: '3 sources' } }]);
    const [reply] = await waitForEvents(host.core.store, (e) => e.type === 'AgentMessageDelivered' && (e.data as { outboundId: string }).outboundId === 'answer-1');
    expect(reply!.data).toMatchObject({ targetSessionId: andySession().id, sourceSessionId: targetSessionId, inReplyTo: messageId });
  });
});
