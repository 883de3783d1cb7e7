import { z } from 'zod';
import { ChannelUnwired, ChannelWired, MessagingGroupRegistered, MessagingGroupUpdated } from '../events/messaging-groups';
import { DestinationAdded } from '../events/destinations';
import { ChannelType, Id, ResponseScope, SessionMode, TriggerRules } from '../events/primitives';
import type { Views } from '../projections';
import type { MessagingGroupRow } from '../projections/messaging-groups';
import { defineCommand, newId, reject } from './define';
import { normalizeLocalName } from './destinations';
import { compileTrigger } from './trigger';

export const RegisterMessagingGroup = defineCommand(
  'RegisterMessagingGroup',
  z.object({
    messagingGroupId: Id.optional(),
    channelType: ChannelType,
    platformId: z.string().min(1).max(500),
    name: z.string().trim().min(1).max(200).nullable().default(null),
    isGroup: z.boolean().default(false),
    adminUserId: z.string().min(1).max(200).nullable().default(null),
  }),
  (views, command, context) => {
    const existing = views.messagingGroups.byPlatform(command.channelType, command.platformId);
    if (existing) {
      return reject('chat-exists', `${command.channelType} chat ${command.platformId} is already registered as ${existing.id}`, {
        messagingGroupId: existing.id,
      });
    }
    const messagingGroupId = command.messagingGroupId ?? newId('mg', context);
    if (views.messagingGroups.get(messagingGroupId)) return reject('messaging-group-exists', `messaging group ${messagingGroupId} already exists`);
    return [MessagingGroupRegistered.create({ ...command, messagingGroupId, registeredBy: 'operator' })];
  },
);

export const UpdateMessagingGroup = defineCommand(
  'UpdateMessagingGroup',
  z
    .object({
      messagingGroupId: Id,
      name: z.string().trim().min(1).max(200).nullable().optional(),
      isGroup: z.boolean().optional(),
      adminUserId: z.string().min(1).max(200).nullable().optional(),
    })
    .refine((c) => Object.keys(c).length > 1, 'expected at least one field to change: name, isGroup or adminUserId'),
  (views, command) => {
    if (!views.messagingGroups.get(command.messagingGroupId)) return reject('unknown-messaging-group', `no messaging group ${command.messagingGroupId}`);
    return [MessagingGroupUpdated.create(command)];
  },
);

/**
 * A trigger pattern is compiled here as routing will compile it, so routing never "fails
 * open" and never stalls: what RE2 cannot run in linear time is refused with its reason.
 */
const Pattern = z
  .string()
  .max(500)
  .superRefine((pattern, context) => {
    const { refused } = compileTrigger(pattern);
    if (refused !== undefined) context.addIssue({ code: 'custom', message: `expected a valid regular expression: ${refused}` });
  });

/**
 * The name a newly wired chat gets in the agent's destination map, as the reference's
 * back-fill named it: the normalized chat name, else `<channel type>-<first 8 of its id>`,
 * with -2, -3 … when the agent already uses that name for something else.
 */
export function channelDestinationName(views: Views, agentGroupId: string, chat: MessagingGroupRow): string {
  const base = normalizeLocalName(chat.name ?? `${chat.channel_type}-${chat.id.slice(0, 8)}`);
  let name = base;
  for (let n = 2; views.destinations.find(agentGroupId, name); n++) name = `${base}-${n}`;
  return name;
}

export const WireChannel = defineCommand(
  'WireChannel',
  z.object({
    messagingGroupId: Id,
    agentGroupId: Id,
    triggerRules: TriggerRules.extend({ pattern: Pattern.optional() }).default({ requiresTrigger: false }),
    responseScope: ResponseScope.default('all'),
    sessionMode: SessionMode.default('shared'),
    priority: z.number().int().min(-1000).max(1000).default(0),
  }),
  (views, command) => {
    const chat = views.messagingGroups.get(command.messagingGroupId);
    if (!chat) return reject('unknown-messaging-group', `no messaging group ${command.messagingGroupId}`);
    if (!views.agentGroups.get(command.agentGroupId)) return reject('unknown-agent-group', `no agent group ${command.agentGroupId}`);
    if (views.wirings.get(command.messagingGroupId, command.agentGroupId)) {
      return reject('already-wired', `agent group ${command.agentGroupId} is already wired to ${command.messagingGroupId}`);
    }
    if (command.triggerRules.requiresTrigger && !command.triggerRules.pattern) {
      return reject('trigger-without-pattern', 'triggerRules.requiresTrigger is set but triggerRules.pattern is missing');
    }
    const wired = ChannelWired.create(command);
    // A wired agent can always answer where it is wired: the destination comes with the wiring.
    if (views.destinations.nameFor(command.agentGroupId, 'channel', chat.id)) return [wired];
    const localName = channelDestinationName(views, command.agentGroupId, chat);
    return [wired, DestinationAdded.create({ agentGroupId: command.agentGroupId, localName, targetType: 'channel', targetId: chat.id })];
  },
);

/** Unwiring stops routing the chat to the agent; the destination stays until removed on its own. */
export const UnwireChannel = defineCommand('UnwireChannel', z.object({ messagingGroupId: Id, agentGroupId: Id }), (views, command) => {
  if (!views.wirings.get(command.messagingGroupId, command.agentGroupId)) {
    return reject('not-wired', `agent group ${command.agentGroupId} is not wired to ${command.messagingGroupId}`);
  }
  return [ChannelUnwired.create(command)];
});

export const messagingGroupCommands = [RegisterMessagingGroup, UpdateMessagingGroup, WireChannel, UnwireChannel];
