import { EventRegistry } from './define';
import { destinationEvents } from './destinations';

/** Every event type Switchyard writes. */
export const eventRegistry = new EventRegistry([...destinationEvents]);
