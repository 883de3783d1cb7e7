import { CreateAgentGroup } from '../../src/commands/agent-groups';
import { AddDestination, RemoveDestination } from '../../src/commands/destinations';
import { receiveInbound } from '../../src/commands/inbound';
import { RegisterMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import type { Core } from '../../src/core';

/**
 * A small but complete history: three agent groups, two chats, wirings in every session
 * mode, destinations granted and revoked, messages routed and dropped. Command ids are
 * fixed, so seeding twice appends nothing.
 */
export function seedScenario(core: Core): void {
  const operator = { actor: 'operator:alice' };
  const run = (envelope: Parameters<Core['bus']['dispatch']>[0]) => {
    const outcome = core.bus.dispatch(envelope);
    if (outcome.status !== 'accepted') throw new Error(`scenario step ${JSON.stringify(envelope)} was ${outcome.status}`);
  };
  run(CreateAgentGroup.envelope('s-ag-admin', { agentGroupId: 'ag-admin', name: 'Admin', folder: 'admin', isAdmin: true }, operator));
  run(CreateAgentGroup.envelope('s-ag-andy', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }, operator));
  run(CreateAgentGroup.envelope('s-ag-research', { agentGroupId: 'ag-research', name: 'Research', folder: 'research' }, operator));
  run(RegisterMessagingGroup.envelope('s-mg-family', { messagingGroupId: 'mg-family', channelType: 'telegram', platformId: '-1001', name: 'Family', isGroup: true }, operator));
  run(RegisterMessagingGroup.envelope('s-mg-ops', { messagingGroupId: 'mg-ops', channelType: 'slack', platformId: 'C42', name: 'Ops' }, operator));
  run(WireChannel.envelope('s-wire-family-andy', { messagingGroupId: 'mg-family', agentGroupId: 'ag-andy', triggerRules: { pattern: '^@andy\\b', requiresTrigger: true }, priority: 10 }, operator));
  run(WireChannel.envelope('s-wire-ops-admin', { messagingGroupId: 'mg-ops', agentGroupId: 'ag-admin', sessionMode: 'per-thread' }, operator));
  run(WireChannel.envelope('s-wire-ops-research', { messagingGroupId: 'mg-ops', agentGroupId: 'ag-research', sessionMode: 'agent-shared', priority: -1 }, operator));
  run(AddDestination.envelope('s-dest-andy-research', { agentGroupId: 'ag-andy', localName: 'Research Bot', targetType: 'agent', targetId: 'ag-research' }, operator));
  run(AddDestination.envelope('s-dest-research-andy', { agentGroupId: 'ag-research', localName: 'andy', targetType: 'agent', targetId: 'ag-andy' }, operator));
  const at = (minute: number) => `2026-11-24T09:${String(minute).padStart(2, '0')}:00.000Z`;
  run(receiveInbound({ channelType: 'telegram', platformId: '-1001', messageId: '1', content: { text: '@Andy what is for dinner?', sender: 'mum' }, timestamp: at(1) }));
  run(receiveInbound({ channelType: 'telegram', platformId: '-1001', messageId: '2', content: { text: 'no trigger here' }, timestamp: at(2) }));
  run(receiveInbound({ channelType: 'slack', platformId: 'C42', threadId: 't-1', messageId: '3', content: { text: 'deploy?' }, timestamp: at(3) }));
  run(receiveInbound({ channelType: 'slack', platformId: 'C42', threadId: 't-2', messageId: '4', content: { text: 'rollback?' }, timestamp: at(4) }));
  run(receiveInbound({ channelType: 'discord', platformId: 'D7', messageId: '5', content: { text: 'hello?' }, timestamp: at(5), chatName: 'Stranger' }));
  run(RemoveDestination.envelope('s-revoke-andy-research', { agentGroupId: 'ag-andy', localName: 'research-bot' }, operator));
}
