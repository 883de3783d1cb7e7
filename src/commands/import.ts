import { z } from 'zod';
import { SessionOpened } from '../events/inbound';
import { Id } from '../events/primitives';
import { defineCommand, reject } from './define';

/**
 * Adopts a session another host created (a NanoClaw import): the same id, agent group,
 * chat and thread. Its mode follows from what it is bound to: no chat means agent-shared,
 * a thread means per-thread.
 */
export const ImportSession = defineCommand(
  'ImportSession',
  z.object({
    sessionId: Id,
    agentGroupId: Id,
    messagingGroupId: Id.nullable(),
    threadId: z.string().min(1).nullable(),
    agentProvider: z.string().min(1).nullable().default(null),
  }),
  (views, command) => {
    if (views.sessions.get(command.sessionId)) return reject('session-exists', `session ${command.sessionId} already exists`);
    if (!views.agentGroups.get(command.agentGroupId)) return reject('unknown-agent-group', `no agent group ${command.agentGroupId}`);
    if (command.messagingGroupId !== null && !views.messagingGroups.get(command.messagingGroupId)) {
      return reject('unknown-messaging-group', `no messaging group ${command.messagingGroupId}`);
    }
    const sessionMode = command.messagingGroupId === null ? 'agent-shared' : command.threadId !== null ? 'per-thread' : 'shared';
    return [SessionOpened.create({ ...command, sessionMode })];
  },
);

export const importCommands = [ImportSession];
