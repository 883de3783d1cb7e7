import { createHash } from 'node:crypto';
import { z } from 'zod';
import { InboundDropped, InboundRepeatIgnored, InboundRouted, inboundCommandId, SessionOpened } from '../events/inbound';
import type { PendingEvent } from '../events/define';
import { MessagingGroupRegistered } from '../events/messaging-groups';
import { ChannelType, MessageContent, Timestamp } from '../events/primitives';
import type { Wiring } from '../projections/wirings';
import { CommandIdConflictError, type CommandBus, type Outcome } from './bus';
import type { GroupCommitter } from './group-commit';
import { defineCommand, newId, reject, type CommandMetadata } from './define';
import { judgeTrigger } from './trigger';
import { wakeEvents } from './containers';
import { QUARANTINED } from './quarantine';

/** A platform's id for a chat, thread or message; channel adapters check it at their edge too. */
export const PlatformRef = z.string().min(1).max(500);
/** What an adapter knows of a chat's name. */
export const ChatName = z.string().min(1).max(200);

export const ReceiveInboundPayload = z.object({
  channelType: ChannelType,
  platformId: PlatformRef,
  threadId: PlatformRef.nullable().default(null),
  /** The platform's id for the message: with the chat, it makes the command id. */
  messageId: PlatformRef,
  kind: z.enum(['chat', 'chat-sdk']).default('chat'),
  content: MessageContent,
  /**
   * The platform's time for the message. Without one, the time the host first received
   * it (the command's): taken from the metadata, so a retry is the same command.
   */
  timestamp: Timestamp.optional(),
  /** What the adapter knows of the chat, used if this message is its first. */
  chatName: ChatName.optional(),
  isGroup: z.boolean().optional(),
});
export type ReceiveInboundPayload = z.input<typeof ReceiveInboundPayload>;

/** The text a trigger pattern is matched against. */
export const messageText = (content: Record<string, unknown>): string | null => (typeof content.text === 'string' ? content.text : null);

/** Whether a wiring takes the text; a pattern RE2 refuses (recorded before it was checked) takes nothing, and says why. */
const triggerTakes = (wiring: Wiring, text: string | null): { matched: boolean; refused?: string } => {
  const { requiresTrigger, pattern } = wiring.triggerRules;
  if (!requiresTrigger) return { matched: true };
  if (pattern === undefined || text === null) return { matched: false };
  return judgeTrigger(pattern, text);
};

/**
 * Routes one inbound platform message: to the first wiring (by priority) whose trigger
 * rules match, into the session its session mode names, or drops it with the reason and
 * the evidence. Every inbound message ends in exactly one InboundRouted or InboundDropped.
 */
export const ReceiveInbound = defineCommand('ReceiveInbound', ReceiveInboundPayload, (views, command, context) => {
  const events: PendingEvent[] = [];
  let chat = views.messagingGroups.byPlatform(command.channelType, command.platformId);
  const messagingGroupId = chat?.id ?? newId('mg', context);
  if (!chat) {
    events.push(
      MessagingGroupRegistered.create({
        messagingGroupId,
        channelType: command.channelType,
        platformId: command.platformId,
        name: command.chatName ?? null,
        isGroup: command.isGroup ?? false,
        adminUserId: null,
        registeredBy: 'first-inbound',
      }),
    );
  }
  const messageId = newId('msg', context);
  const text = messageText(command.content);
  const message = {
    messageId,
    messagingGroupId,
    channelType: command.channelType,
    platformId: command.platformId,
    threadId: command.threadId,
    platformMessageId: command.messageId,
  };
  const wirings = chat ? views.wirings.forMessagingGroup(messagingGroupId) : [];
  // In priority order up to the first that takes it: the ones after are never judged.
  const judged: { matched: boolean; refused?: string }[] = [];
  let chosen: Wiring | undefined;
  for (const wiring of wirings) {
    const judgement = triggerTakes(wiring, text);
    judged.push(judgement);
    if (judgement.matched) {
      chosen = wiring;
      break;
    }
  }
  if (!chosen) {
    const evidence = {
      wirings: wirings.map((w, i) => ({
        agentGroupId: w.agentGroupId,
        priority: w.priority,
        triggerPattern: w.triggerRules.pattern ?? null,
        requiresTrigger: w.triggerRules.requiresTrigger,
        ...(judged[i]!.refused !== undefined && { triggerRefused: judged[i]!.refused }),
      })),
      text,
    };
    return [...events, InboundDropped.create({ ...message, reason: wirings.length === 0 ? 'no-agent-wired' : 'no-trigger-matched', evidence })];
  }

  const existing = views.sessions.find(chosen.sessionMode, chosen.agentGroupId, messagingGroupId, command.threadId);
  const sessionId = existing?.id ?? newId('sess', context);
  if (!existing) {
    events.push(
      SessionOpened.create({
        sessionId,
        agentGroupId: chosen.agentGroupId,
        messagingGroupId: chosen.sessionMode === 'agent-shared' ? null : messagingGroupId,
        threadId: chosen.sessionMode === 'per-thread' ? command.threadId : null,
        sessionMode: chosen.sessionMode,
        agentProvider: views.agentGroups.get(chosen.agentGroupId)?.agentProvider ?? null,
      }),
    );
  }
  const skipped = wirings.slice(0, judged.length - 1).map((w, i) => ({
    agentGroupId: w.agentGroupId,
    priority: w.priority,
    reason: judged[i]!.refused === undefined ? 'trigger-not-matched' : `trigger-refused: ${judged[i]!.refused}`,
  }));
  events.push(
    // Spelled out rather than spread from `message`: on this path, taken by every routed
    // message, V8 builds a spread-then-extended literal about three times slower.
    InboundRouted.create({
      messageId,
      messagingGroupId,
      channelType: command.channelType,
      platformId: command.platformId,
      threadId: command.threadId,
      platformMessageId: command.messageId,
      sessionId,
      agentGroupId: chosen.agentGroupId,
      kind: command.kind,
      content: command.content,
      timestamp: command.timestamp ?? context.issuedAt,
      fromName: views.destinations.nameFor(chosen.agentGroupId, 'channel', messagingGroupId)?.local_name ?? null,
      routing: {
        rule: chosen.triggerRules.requiresTrigger ? 'wiring-trigger' : 'wiring-priority',
        agentGroupId: chosen.agentGroupId,
        priority: chosen.priority,
        sessionMode: chosen.sessionMode,
        triggerPattern: chosen.triggerRules.pattern ?? null,
        skipped,
      },
    }),
  );
  // The wake in the same command: one transaction per message, not a second for WakeSession.
  const wake = views.host.wake;
  const agentGroup = wake && existing?.status !== QUARANTINED ? views.agentGroups.get(chosen.agentGroupId) : undefined;
  if (wake && agentGroup) {
    const session = { id: sessionId, agentGroupId: chosen.agentGroupId, container: existing && views.containers.get(sessionId) };
    events.push(...wakeEvents(views, session, agentGroup, { ...wake, wokenBy: 'inbound' }, context));
  }
  return events;
});

/** The command for one platform message; its id absorbs the platform's redeliveries. */
export function receiveInbound(payload: ReceiveInboundPayload, metadata: CommandMetadata = {}) {
  return ReceiveInbound.envelope(inboundCommandId(payload.channelType, payload.platformId, payload.messageId), payload, metadata);
}

/** A platform message id seen again with other content: recorded beside the first, routed nowhere. */
export const RecordInboundRepeat = defineCommand('RecordInboundRepeat', ReceiveInboundPayload, (views, command) => {
  const chat = views.messagingGroups.byPlatform(command.channelType, command.platformId);
  // The first message registered its chat; without one there was no first.
  if (!chat) return reject('unknown-chat', `no ${command.channelType} chat ${command.platformId}: nothing to be a repeat of`);
  const auditId = inboundCommandId(command.channelType, command.platformId, command.messageId);
  const original = views.audit.find(auditId).find((row) => row.audit_id === auditId);
  return [
    InboundRepeatIgnored.create({
      messageId: original?.message_id ?? null,
      messagingGroupId: chat.id,
      channelType: command.channelType,
      platformId: command.platformId,
      threadId: command.threadId,
      platformMessageId: command.messageId,
      kind: command.kind,
      content: command.content,
      timestamp: command.timestamp ?? null,
    }),
  ];
});

/** What became of a platform message: recorded now, or a repeat of one recorded before (same or other content). */
export type InboundRepeat = 'none' | 'same' | 'changed';

/**
 * Records a platform message once per (channel, chat, message id). The same payload again
 * gets the first outcome; other content under that id is recorded as ignored, once per
 * version (its command id carries the payload's hash), and is never an error: a platform
 * that retries until it hears 2xx must not be answered 500 for ever.
 */
export function dispatchInbound(bus: CommandBus, payload: ReceiveInboundPayload, metadata: CommandMetadata = {}): { outcome: Outcome; repeat: InboundRepeat } {
  try {
    const outcome = bus.dispatch(receiveInbound(payload, metadata));
    return { outcome, repeat: outcome.duplicate ? 'same' : 'none' };
  } catch (error) {
    if (!(error instanceof CommandIdConflictError)) throw error;
    return { outcome: bus.dispatch(inboundRepeat(payload, metadata)), repeat: 'changed' };
  }
}

/** dispatchInbound through a group committer: concurrent messages share one transaction, each answered for its own. */
export async function dispatchInboundGrouped(
  committer: GroupCommitter,
  payload: ReceiveInboundPayload,
  metadata: CommandMetadata = {},
): Promise<{ outcome: Outcome; repeat: InboundRepeat }> {
  try {
    const outcome = await committer.dispatchOne(receiveInbound(payload, metadata));
    return { outcome, repeat: outcome.duplicate ? 'same' : 'none' };
  } catch (error) {
    if (!(error instanceof CommandIdConflictError)) throw error;
    return { outcome: await committer.dispatchOne(inboundRepeat(payload, metadata)), repeat: 'changed' };
  }
}

/** The command recording other content under a message id already recorded: one per version of the payload. */
function inboundRepeat(payload: ReceiveInboundPayload, metadata: CommandMetadata) {
  const version = createHash('sha256').update(JSON.stringify(payload)).digest('hex').slice(0, 16);
  const commandId = `inbound-repeat:${payload.channelType}:${payload.platformId}:${payload.messageId}:${version}`;
  return RecordInboundRepeat.envelope(commandId, payload, metadata);
}

export const inboundCommands = [ReceiveInbound, RecordInboundRepeat];
