import { z } from 'zod';
import { defineEvent } from './define';
import { messagingGroupStream } from './messaging-groups';
import { ChannelType, Id, MessageContent, SessionMode, Timestamp } from './primitives';

export const sessionStream = (sessionId: string) => `session-${sessionId}`;

export const SessionOpened = defineEvent({
  type: 'SessionOpened',
  version: 1,
  schema: z.object({
    sessionId: Id,
    agentGroupId: Id,
    /** Null for an agent-shared session, which serves every chat wired that way. */
    messagingGroupId: Id.nullable(),
    /** Set only for a per-thread session. */
    threadId: z.string().nullable(),
    sessionMode: SessionMode,
    agentProvider: z.string().nullable(),
  }),
  stream: (data) => sessionStream(data.sessionId),
});

/** Where a platform message came from, as every inbound event names it. */
const PlatformOrigin = {
  channelType: ChannelType,
  platformId: z.string(),
  threadId: z.string().nullable(),
  platformMessageId: z.string(),
};

/** The wiring that took a message, and why it was chosen. */
export const RoutingRule = z.object({
  rule: z.enum(['wiring-priority', 'wiring-trigger']),
  agentGroupId: Id,
  priority: z.number().int(),
  sessionMode: SessionMode,
  triggerPattern: z.string().nullable(),
  /** Wirings of higher priority that were passed over, with why. */
  skipped: z.array(z.object({ agentGroupId: Id, priority: z.number().int(), reason: z.string() })),
});

export const InboundRouted = defineEvent({
  type: 'InboundRouted',
  version: 1,
  schema: z.object({
    /** The host's id for the message: the messages_in id and the inbox folder name. */
    messageId: Id,
    sessionId: Id,
    agentGroupId: Id,
    messagingGroupId: Id,
    ...PlatformOrigin,
    kind: z.enum(['chat', 'chat-sdk']),
    content: MessageContent,
    timestamp: Timestamp,
    /** The name the receiving agent's own destination map gives this chat, if any. */
    fromName: z.string().nullable(),
    routing: RoutingRule,
  }),
  stream: (data) => sessionStream(data.sessionId),
});

export const InboundDropReason = z.enum(['no-agent-wired', 'no-trigger-matched']);

export const InboundDropped = defineEvent({
  type: 'InboundDropped',
  version: 1,
  schema: z.object({
    messageId: Id,
    messagingGroupId: Id,
    ...PlatformOrigin,
    reason: InboundDropReason,
    /** What the decision saw: each wiring considered and why it did not take the message. */
    evidence: z.object({
      wirings: z.array(
        z.object({
          agentGroupId: Id,
          priority: z.number().int(),
          triggerPattern: z.string().nullable(),
          requiresTrigger: z.boolean(),
          /**
           * Why RE2 could not judge the pattern (one recorded before patterns were checked
           * for it), which then took nothing. Optional, so earlier drops read as they were.
           */
          triggerRefused: z.string().optional(),
        }),
      ),
      text: z.string().nullable(),
    }),
  }),
  stream: (data) => messagingGroupStream(data.messagingGroupId),
});

/**
 * The command id of a platform message, and so its audit id: the platform may deliver it
 * again, and the host records it once.
 */
export const inboundCommandId = (channelType: string, platformId: string, platformMessageId: string) => `inbound:${channelType}:${platformId}:${platformMessageId}`;

/**
 * A platform message id seen again with other content (an edit, or a bridge that rebuilt
 * the message for its retry). The first version stays the one routed; this one is kept
 * as it came, for the audit, and goes nowhere.
 */
export const InboundRepeatIgnored = defineEvent({
  type: 'InboundRepeatIgnored',
  version: 1,
  schema: z.object({
    /** The host's id of the message first recorded under this platform id. */
    messageId: Id.nullable(),
    messagingGroupId: Id,
    ...PlatformOrigin,
    kind: z.enum(['chat', 'chat-sdk']),
    content: MessageContent,
    /** As the platform gave it; null when it gave none. */
    timestamp: Timestamp.nullable(),
  }),
  stream: (data) => messagingGroupStream(data.messagingGroupId),
});

export const inboundEvents = [SessionOpened, InboundRouted, InboundDropped, InboundRepeatIgnored];
