import { agentGroupCommands } from './agent-groups';
import type { CommandDefinition } from './define';
import { destinationCommands } from './destinations';
import { inboundCommands } from './inbound';
import { messagingGroupCommands } from './messaging-groups';

/** Every command the bus accepts. */
export const commandDefinitions: readonly CommandDefinition[] = [
  ...agentGroupCommands,
  ...messagingGroupCommands,
  ...destinationCommands,
  ...inboundCommands,
];
