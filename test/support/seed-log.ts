import { CreateAgentGroup } from '../../src/commands/agent-groups';
import { AddDestination, RemoveDestination } from '../../src/commands/destinations';
import { RegisterMessagingGroup } from '../../src/commands/messaging-groups';
import { openDataDir } from '../../src/core';

/**
 * Seven events through the bus, as a host writes them: two agent groups and a chat
 * (positions 1-3), then four destination commands (4-7). `secondName` names ag-2.
 */
export function seedSevenEvents(dataDir: string, secondName = 'Two'): void {
  const core = openDataDir(dataDir);
  try {
    core.bus.dispatch(CreateAgentGroup.envelope('c-ag-1', { agentGroupId: 'ag-1', name: 'One', folder: 'one' }));
    core.bus.dispatch(CreateAgentGroup.envelope('c-ag-2', { agentGroupId: 'ag-2', name: secondName, folder: 'two' }));
    core.bus.dispatch(RegisterMessagingGroup.envelope('c-mg-1', { messagingGroupId: 'mg-1', channelType: 'telegram', platformId: '-1' }));
    core.bus.dispatch(AddDestination.envelope('c-1', { agentGroupId: 'ag-1', localName: 'family', targetType: 'channel', targetId: 'mg-1' }, { actor: 'operator:alice' }));
    core.bus.dispatch(AddDestination.envelope('c-2', { agentGroupId: 'ag-1', localName: 'research', targetType: 'agent', targetId: 'ag-2' }));
    core.bus.dispatch(RemoveDestination.envelope('c-3', { agentGroupId: 'ag-1', localName: 'research' }));
    core.bus.dispatch(AddDestination.envelope('c-4', { agentGroupId: 'ag-2', localName: 'parent', targetType: 'agent', targetId: 'ag-1' }));
  } finally {
    core.close();
  }
}
