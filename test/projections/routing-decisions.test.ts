import { CreateAgentGroup, UpdateAgentGroup } from '../../src/commands/agent-groups';
import { receiveInbound } from '../../src/commands/inbound';
import { RegisterMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import { routeOutbound } from '../../src/commands/outbound';
import { openCore } from '../../src/core';

describe('routing decisions (what what-if reads instead of the events)', () => {
  it('given routed and dropped messages, when they are decided, then each decision keeps its recorded judgement and its question; a limit’s drop and a row judged in full keep none', () => {
    const core = openCore(':memory:');
    try {
      core.bus.dispatchBatch([
        CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }),
        UpdateAgentGroup.envelope('rate', { agentGroupId: 'ag-andy', outboundPerMinute: 2 }),
        RegisterMessagingGroup.envelope('mg', { messagingGroupId: 'mg-family', channelType: 'telegram', platformId: 'p-family' }),
        WireChannel.envelope('wire', { messagingGroupId: 'mg-family', agentGroupId: 'ag-andy' }),
        receiveInbound({ channelType: 'telegram', platformId: 'p-family', messageId: 'in-1', content: { text: 'hello' } }),
        receiveInbound({ channelType: 'telegram', platformId: 'p-nowhere', messageId: 'in-2', content: { text: 'anyone?' } }),
      ]);
      const sessionId = core.views.sessions.list()[0]!.id;
      const row = (id: string, seq: number, more: Record<string, unknown> = {}) =>
        routeOutbound({ sessionId, row: { id, seq, in_reply_to: null, timestamp: '2026-11-25 10:00:00', deliver_after: null, recurrence: null, kind: 'chat', platform_id: 'p-family', channel_type: 'telegram', thread_id: null, content: '{"text":"hi","to":"family"}', ...more } });
      core.bus.dispatchBatch([row('out-1', 1), row('out-2', 3, { kind: 'system', content: '{"action":"launch_rockets"}' }), row('out-3', 5)]);

      const rows = core.store.db.prepare('SELECT routed, agent_group_id AS agentGroupId, question, limited FROM routing_decisions ORDER BY position').all();
      expect(rows).toEqual([
        { routed: 1, agentGroupId: 'ag-andy', question: '["inbound","telegram","p-family","hello"]', limited: 0 },
        { routed: 0, agentGroupId: null, question: '["inbound","telegram","p-nowhere","anyone?"]', limited: 0 },
        { routed: 1, agentGroupId: 'ag-andy', question: `["outbound","${sessionId}","ag-andy","telegram","p-family",true,"family"]`, limited: 0 },
        { routed: 0, agentGroupId: 'ag-andy', question: null, limited: 0 },
        { routed: 0, agentGroupId: 'ag-andy', question: null, limited: 1 },
      ]);
    } finally {
      core.close();
    }
  });
});
