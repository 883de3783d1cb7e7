import { adminEvents } from './admin';
import { agentGroupEvents } from './agent-groups';
import { agentMessageEvents } from './agent-messages';
import { containerEvents } from './containers';
import { EventRegistry } from './define';
import { destinationEvents } from './destinations';
import { deliveryEvents } from './delivery';
import { importEvents } from './import';
import { imageEvents } from './images';
import { inboundEvents } from './inbound';
import { messagingGroupEvents } from './messaging-groups';
import { outboundEvents } from './outbound';
import { quarantineEvents } from './quarantine';
import { questionEvents } from './questions';
import { retryEvents } from './retries';
import { taskEvents } from './tasks';

/** Every event type Switchyard writes. */
export const eventRegistry = new EventRegistry([...agentGroupEvents, ...messagingGroupEvents, ...destinationEvents, ...inboundEvents, ...outboundEvents, ...deliveryEvents, ...agentMessageEvents, ...containerEvents, ...taskEvents, ...retryEvents, ...adminEvents, ...quarantineEvents, ...questionEvents, ...importEvents, ...imageEvents]);
