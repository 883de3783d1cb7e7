import { z } from 'zod';
import { DestinationAdded, DestinationRemoved, TargetType } from '../events/destinations';
import { Id } from '../events/primitives';
import { defineCommand, reject } from './define';

/**
 * The spec's normalization of local names: lowercase, runs of anything outside [a-z0-9]
 * become '-', no leading or trailing '-', and an empty result becomes 'unnamed'.
 */
export function normalizeLocalName(name: string): string {
  const normalized = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return normalized === '' ? 'unnamed' : normalized;
}

const LocalName = z.string().min(1).max(100).transform(normalizeLocalName);

export const AddDestination = defineCommand(
  'AddDestination',
  z.object({ agentGroupId: Id, localName: LocalName, targetType: TargetType, targetId: Id }),
  (views, command) => {
    if (!views.agentGroups.exists(command.agentGroupId)) return reject('unknown-agent-group', `no agent group ${command.agentGroupId}`);
    if (command.targetType === 'agent' && command.targetId === command.agentGroupId) {
      return reject('self-destination', `agent group ${command.agentGroupId} cannot hold a destination to itself`);
    }
    const targetExists =
      command.targetType === 'channel' ? views.messagingGroups.get(command.targetId) : views.agentGroups.exists(command.targetId);
    if (!targetExists) {
      return reject('unknown-target', `no ${command.targetType === 'channel' ? 'messaging group' : 'agent group'} ${command.targetId}`);
    }
    const existing = views.destinations.find(command.agentGroupId, command.localName);
    if (existing) {
      return reject('name-taken', `agent group ${command.agentGroupId} already has a destination named ${command.localName}`, {
        existing: { targetType: existing.target_type, targetId: existing.target_id, grantedAt: existing.granted_at },
      });
    }
    return [DestinationAdded.create(command)];
  },
);

export const RemoveDestination = defineCommand(
  'RemoveDestination',
  z.object({ agentGroupId: Id, localName: LocalName }),
  (views, command) => {
    if (!views.destinations.find(command.agentGroupId, command.localName)) {
      return reject('no-such-destination', `agent group ${command.agentGroupId} has no destination named ${command.localName}`);
    }
    return [DestinationRemoved.create(command)];
  },
);

export const destinationCommands = [AddDestination, RemoveDestination];
