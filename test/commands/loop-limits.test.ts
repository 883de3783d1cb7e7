import { DeliverAgentMessage } from '../../src/commands/delivery';
import { RouteOutbound } from '../../src/commands/outbound';
import { AgentGroupUpdated } from '../../src/events/agent-groups';
import { AgentMessageDelivered } from '../../src/events/agent-messages';
import { DestinationAdded } from '../../src/events/destinations';
import { SessionOpened } from '../../src/events/inbound';
import { OutboundDropped, OutboundRouted, type OutboundRow } from '../../src/events/outbound';
import { given, idFor } from '../support/decider';
import { agentGroupCreated } from '../support/fixtures';

const scene = [
  agentGroupCreated('ag-andy'),
  agentGroupCreated('ag-research'),
  SessionOpened.create({ sessionId: 'sess-a', agentGroupId: 'ag-andy', messagingGroupId: null, threadId: null, sessionMode: 'agent-shared', agentProvider: null }),
  SessionOpened.create({ sessionId: 'sess-r', agentGroupId: 'ag-research', messagingGroupId: null, threadId: null, sessionMode: 'agent-shared', agentProvider: null }),
  DestinationAdded.create({ agentGroupId: 'ag-andy', localName: 'research', targetType: 'agent', targetId: 'ag-research' }),
];

/** An agent message delivered into andy's session at the given hop, from research. */
const delivered = (hops: number, messageId = `msg-h${hops}`) =>
  AgentMessageDelivered.create({
    messageId, targetSessionId: 'sess-a', targetAgentGroupId: 'ag-andy', sourceSessionId: 'sess-r', sourceAgentGroupId: 'ag-research',
    outboundId: `out-r${hops}`, kind: 'chat', content: '{"text":"echo"}', timestamp: '2026-11-24T11:00:00.000Z', inReplyTo: null,
    hops, chain: [...Array.from({ length: hops - 1 }, (_, i) => `msg-h${i + 1}`), messageId],
  });

const toResearch = (extra: Partial<OutboundRow> = {}): OutboundRow => ({
  id: 'out-1', seq: 1, in_reply_to: 'msg-h8', timestamp: '2026-11-24T11:00:00.000Z', deliver_after: null, recurrence: null,
  kind: 'chat', platform_id: 'ag-research', channel_type: 'agent', thread_id: null, content: JSON.stringify({ text: 'echo: echo' }), ...extra,
});

const chainTo8 = ['msg-h1', 'msg-h2', 'msg-h3', 'msg-h4', 'msg-h5', 'msg-h6', 'msg-h7', 'msg-h8'];
const notice = (reason: string) =>
  expect.objectContaining({ type: 'AgentNotified', data: expect.objectContaining({ sessionId: 'sess-a', text: expect.stringContaining(reason), details: { outboundId: 'out-1', reason } }) });

describe('the hop limit on agent-to-agent chains', () => {
  it('drops an answer to a message at the default limit (8) as loop-limit, with the chain, and tells the agent', () => {
    given(...scene, delivered(8))
      .when(RouteOutbound, { sessionId: 'sess-a', row: toResearch() })
      .then(
        OutboundDropped.create({
          sessionId: 'sess-a', agentGroupId: 'ag-andy', outboundId: 'out-1', reason: 'loop-limit', explanation: expect.stringContaining('hop 9') as unknown as string,
          target: { type: 'agent', agentGroupId: 'ag-research' }, row: toResearch(), chain: chainTo8,
        }),
        notice('loop-limit'),
      );
  });

  it('routes an answer below the limit', () => {
    given(...scene, delivered(7, 'msg-h8'))
      .when(RouteOutbound, { sessionId: 'sess-a', row: toResearch() })
      .then(expect.objectContaining({ type: 'OutboundRouted' }));
  });

  it("uses the agent group's own limit (groups update --max-hops)", () => {
    given(...scene, AgentGroupUpdated.create({ agentGroupId: 'ag-andy', maxHops: 2 }), delivered(2, 'msg-h8'))
      .when(RouteOutbound, { sessionId: 'sess-a', row: toResearch() })
      .then(expect.objectContaining({ data: expect.objectContaining({ reason: 'loop-limit' }) }), notice('loop-limit'));
  });

  it('a row that leaves out in_reply_to continues the newest agent message the session received', () => {
    given(...scene, delivered(8))
      .when(RouteOutbound, { sessionId: 'sess-a', row: toResearch({ in_reply_to: null }) })
      .then(expect.objectContaining({ data: expect.objectContaining({ reason: 'loop-limit', chain: chainTo8 }) }), notice('loop-limit'));
  });

  it('tells the agent once a minute, not per dropped row', () => {
    const earlier = OutboundDropped.create({ sessionId: 'sess-a', agentGroupId: 'ag-andy', outboundId: 'out-0', reason: 'loop-limit', explanation: 'x', target: null, row: toResearch({ id: 'out-0' }) });
    given(...scene, delivered(8), earlier)
      .when(RouteOutbound, { sessionId: 'sess-a', row: toResearch() }, { issuedAt: '2026-11-24T11:00:30.000Z' })
      .then(expect.objectContaining({ data: expect.objectContaining({ reason: 'loop-limit' }) }));
  });

  it('records the hop count and chain on the delivered message, from the message the row answers', () => {
    const routed = OutboundRouted.create({
      sessionId: 'sess-a', agentGroupId: 'ag-andy', outboundId: 'out-1', seq: 1, kind: 'chat', content: '{}', files: [], inReplyTo: 'msg-h3',
      target: { type: 'agent', agentGroupId: 'ag-research' }, acl: { rule: 'destination', localName: 'research', grantedAt: 5, grantedBy: 'operator:test' },
    });
    given(...scene, delivered(1), delivered(2), delivered(3), routed)
      .when(DeliverAgentMessage, { sessionId: 'sess-a', outboundId: 'out-1', targetAgentGroupId: 'ag-research', kind: 'chat', content: '{}', inReplyTo: 'msg-h3' })
      .then(
        expect.objectContaining({ type: 'DeliveryAttempted' }),
        expect.objectContaining({ type: 'AgentMessageDelivered', schemaVersion: 2, data: expect.objectContaining({ hops: 4, chain: ['msg-h1', 'msg-h2', 'msg-h3', idFor('msg')] }) }),
        expect.objectContaining({ type: 'DeliverySucceeded' }),
      );
  });
});

describe('the outbound rate limit per session', () => {
  const routedRow = (n: number) =>
    OutboundRouted.create({
      sessionId: 'sess-a', agentGroupId: 'ag-andy', outboundId: `out-old-${n}`, seq: n, kind: 'chat', content: '{}', files: [], inReplyTo: null,
      target: { type: 'agent', agentGroupId: 'ag-research' }, acl: { rule: 'destination', localName: 'research', grantedAt: 5, grantedBy: 'operator:test' },
    });
  const sixty = Array.from({ length: 60 }, (_, n) => routedRow(n));
  const fresh = toResearch({ in_reply_to: null });
  const within = { issuedAt: '2026-11-24T11:00:30.000Z' };

  it('drops a row over 60 a minute as rate-limited, recorded, and tells the agent', () => {
    given(...scene, ...sixty)
      .when(RouteOutbound, { sessionId: 'sess-a', row: fresh }, within)
      .then(
        OutboundDropped.create({
          sessionId: 'sess-a', agentGroupId: 'ag-andy', outboundId: 'out-1', reason: 'rate-limited', explanation: expect.stringContaining('60') as unknown as string, target: null, row: fresh,
        }),
        notice('rate-limited'),
      );
  });

  it('tells the agent once per window', () => {
    const earlier = OutboundDropped.create({ sessionId: 'sess-a', agentGroupId: 'ag-andy', outboundId: 'out-x', reason: 'rate-limited', explanation: 'x', target: null, row: toResearch({ id: 'out-x' }) });
    given(...scene, ...sixty, earlier)
      .when(RouteOutbound, { sessionId: 'sess-a', row: fresh }, within)
      .then(expect.objectContaining({ data: expect.objectContaining({ reason: 'rate-limited' }) }));
  });

  it('routes again once the window has passed', () => {
    given(...scene, ...sixty).when(RouteOutbound, { sessionId: 'sess-a', row: fresh }, { issuedAt: '2026-11-24T11:01:00.001Z' }).then(expect.objectContaining({ type: 'OutboundRouted' }));
  });

  it("uses the agent group's own rate", () => {
    given(...scene, AgentGroupUpdated.create({ agentGroupId: 'ag-andy', outboundPerMinute: 3 }), ...sixty.slice(0, 3))
      .when(RouteOutbound, { sessionId: 'sess-a', row: fresh }, within)
      .then(expect.objectContaining({ data: expect.objectContaining({ reason: 'rate-limited' }) }), notice('rate-limited'));
  });
});
