import { AgentGroupCreated } from '../../src/events/agent-groups';
import { ChannelWired, MessagingGroupRegistered } from '../../src/events/messaging-groups';
import { ContainerConfig } from '../../src/events/primitives';

/** Events that set the scene for decider tests and seeded logs. */
export const agentGroupCreated = (agentGroupId: string, extra: { isAdmin?: boolean; folder?: string; name?: string } = {}) =>
  AgentGroupCreated.create({
    agentGroupId,
    name: extra.name ?? agentGroupId,
    folder: extra.folder ?? agentGroupId,
    isAdmin: extra.isAdmin ?? false,
    agentProvider: null,
    containerConfig: ContainerConfig.parse({}),
  });

export const chatRegistered = (messagingGroupId: string, extra: { channelType?: string; platformId?: string; name?: string | null } = {}) =>
  MessagingGroupRegistered.create({
    messagingGroupId,
    channelType: extra.channelType ?? 'telegram',
    platformId: extra.platformId ?? `tg-${messagingGroupId}`,
    name: extra.name === undefined ? messagingGroupId : extra.name,
    isGroup: true,
    adminUserId: null,
    registeredBy: 'operator',
  });

export const channelWired = (
  messagingGroupId: string,
  agentGroupId: string,
  extra: { priority?: number; sessionMode?: 'shared' | 'per-thread' | 'agent-shared'; pattern?: string; requiresTrigger?: boolean } = {},
) =>
  ChannelWired.create({
    messagingGroupId,
    agentGroupId,
    triggerRules: { requiresTrigger: extra.requiresTrigger ?? false, ...(extra.pattern !== undefined && { pattern: extra.pattern }) },
    responseScope: 'all',
    sessionMode: extra.sessionMode ?? 'shared',
    priority: extra.priority ?? 0,
  });
