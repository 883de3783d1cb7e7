import type { CommandDefinition } from './define';
import { destinationCommands } from './destinations';

/** Every command the bus accepts. */
export const commandDefinitions: readonly CommandDefinition[] = [...destinationCommands];
