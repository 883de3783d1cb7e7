import { z } from 'zod';
import { defineEvent } from './define';
import { ChannelType, Id, ResponseScope, SessionMode, TriggerRules } from './primitives';

export const messagingGroupStream = (messagingGroupId: string) => `messaging-group-${messagingGroupId}`;

export const MessagingGroupRegistered = defineEvent({
  type: 'MessagingGroupRegistered',
  version: 1,
  schema: z.object({
    messagingGroupId: Id,
    channelType: ChannelType,
    platformId: z.string(),
    name: z.string().nullable(),
    isGroup: z.boolean(),
    adminUserId: z.string().nullable(),
    /** 'operator' when registered explicitly, 'first-inbound' when a message brought it. */
    registeredBy: z.enum(['operator', 'first-inbound']),
  }),
  stream: (data) => messagingGroupStream(data.messagingGroupId),
});

export const MessagingGroupUpdated = defineEvent({
  type: 'MessagingGroupUpdated',
  version: 1,
  schema: z.object({
    messagingGroupId: Id,
    name: z.string().nullable().optional(),
    isGroup: z.boolean().optional(),
    adminUserId: z.string().nullable().optional(),
  }),
  stream: (data) => messagingGroupStream(data.messagingGroupId),
});

export const ChannelWired = defineEvent({
  type: 'ChannelWired',
  version: 1,
  schema: z.object({
    messagingGroupId: Id,
    agentGroupId: Id,
    triggerRules: TriggerRules,
    responseScope: ResponseScope,
    sessionMode: SessionMode,
    priority: z.number().int(),
  }),
  stream: (data) => messagingGroupStream(data.messagingGroupId),
});

export const ChannelUnwired = defineEvent({
  type: 'ChannelUnwired',
  version: 1,
  schema: z.object({ messagingGroupId: Id, agentGroupId: Id }),
  stream: (data) => messagingGroupStream(data.messagingGroupId),
});

export const messagingGroupEvents = [MessagingGroupRegistered, MessagingGroupUpdated, ChannelWired, ChannelUnwired];
