import { agentGroupCommands } from './agent-groups';
import { approvalCommands } from './approvals';
import { containerCommands } from './containers';
import type { CommandDefinition } from './define';
import { deliveryCommands } from './delivery';
import { destinationCommands } from './destinations';
import { imageCommands } from './images';
import { importCommands } from './import';
import { inboundCommands } from './inbound';
import { messagingGroupCommands } from './messaging-groups';
import { outboundCommands } from './outbound';
import { quarantineCommands } from './quarantine';
import { questionCommands } from './questions';
import { retryCommands } from './retries';
import { taskCommands } from './tasks';

/** Every command the bus accepts. */
export const commandDefinitions: readonly CommandDefinition[] = [
  ...agentGroupCommands,
  ...messagingGroupCommands,
  ...destinationCommands,
  ...inboundCommands,
  ...outboundCommands,
  ...deliveryCommands,
  ...containerCommands,
  ...taskCommands,
  ...retryCommands,
  ...importCommands,
  ...approvalCommands,
  ...quarantineCommands,
  ...questionCommands,
  ...imageCommands,
];
