import { agentGroupCommands } from './agent-groups';
import type { CommandDefinition } from './define';
import { deliveryCommands } from './delivery';
import { destinationCommands } from './destinations';
import { inboundCommands } from './inbound';
import { messagingGroupCommands } from './messaging-groups';
import { outboundCommands } from './outbound';

/** Every command the bus accepts. */
export const commandDefinitions: readonly CommandDefinition[] = [
  ...agentGroupCommands,
  ...messagingGroupCommands,
  ...destinationCommands,
  ...inboundCommands,
  ...outboundCommands,
  ...deliveryCommands,
];
