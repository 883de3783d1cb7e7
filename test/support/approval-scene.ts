import { CreateAgentGroup } from '../../src/commands/agent-groups';
import type { CommandEnvelope } from '../../src/commands/define';
import { RegisterMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import type { Core } from '../../src/core';

/**
 * Who takes part in an approval on the webhook channel: the admin agent group wired to the
 * `ops` chat, whose admin is U-boss, and Andy, wired to the `fam` chat, who asks.
 */
export function seedApprovalScene(core: Core): void {
  const run = (envelope: CommandEnvelope) => {
    const outcome = core.bus.dispatch(envelope);
    if (outcome.status !== 'accepted') throw new Error(`${envelope.type} ${envelope.commandId} was ${outcome.status}`);
  };
  run(CreateAgentGroup.envelope('admin', { agentGroupId: 'ag-admin', name: 'Admin', folder: 'admin', isAdmin: true }));
  run(CreateAgentGroup.envelope('andy', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }));
  run(RegisterMessagingGroup.envelope('ops', { messagingGroupId: 'mg-ops', channelType: 'webhook', platformId: 'ops', adminUserId: 'U-boss' }));
  run(RegisterMessagingGroup.envelope('fam', { messagingGroupId: 'mg-fam', channelType: 'webhook', platformId: 'fam' }));
  run(WireChannel.envelope('wire-ops', { messagingGroupId: 'mg-ops', agentGroupId: 'ag-admin' }));
  run(WireChannel.envelope('wire-fam', { messagingGroupId: 'mg-fam', agentGroupId: 'ag-andy' }));
}
