import { z } from 'zod';
import { defineEvent } from './define';
import { sessionStream } from './inbound';
import { Id } from './primitives';

/** A message the reference host had already settled: its final outcome, as its `delivered` table says. */
const SettledOutbound = z.object({ outboundId: z.string(), status: z.string(), platformMessageId: z.string().nullable() });

/**
 * An imported session's folder was copied from NanoClaw's (never moved, never changed at
 * the source), and this is what the host took over with it: inbound rows still to reach
 * the agent, rows the old agent held when it stopped, outbound rows already settled
 * there (never sent again) and those still to be delivered (once). `outboundCheckpoint`
 * is the messages_out rowid of the copy through which every row was settled: the
 * outbound poller starts after it.
 */
export const SessionFolderAdopted = defineEvent({
  type: 'SessionFolderAdopted',
  version: 1,
  schema: z.object({
    sessionId: Id,
    agentGroupId: Id,
    source: z.string(),
    pendingInbound: z.array(z.string()),
    inFlight: z.array(z.string()),
    alreadyDelivered: z.array(SettledOutbound),
    undelivered: z.array(z.string()),
    /** Paths under the folder (inbox/…, outbox/…) copied, and those left behind with why. */
    files: z.array(z.string()),
    skipped: z.array(z.object({ path: z.string(), reason: z.string() })),
    outboundCheckpoint: z.number().int().nonnegative(),
  }),
  stream: (data) => sessionStream(data.sessionId),
});

/** A session that takes no more messages: a message for its chat opens a new one. */
export const SessionClosed = defineEvent({
  type: 'SessionClosed',
  version: 1,
  schema: z.object({ sessionId: Id, reason: z.string() }),
  stream: (data) => sessionStream(data.sessionId),
});

/**
 * An agent's `ask_question` card NanoClaw had sent and nobody had answered: pending here
 * as if Switchyard had routed it, so a click on the card already in the chat answers it.
 */
export const QuestionImported = defineEvent({
  type: 'QuestionImported',
  version: 1,
  schema: z.object({
    sessionId: Id,
    questionId: Id,
    outboundId: z.string(),
    channelType: z.string(),
    platformId: z.string(),
    threadId: z.string().nullable(),
    /** The card's options as it showed them; empty when the import could not find the card (then any option answers). */
    options: z.array(z.unknown()),
  }),
  stream: (data) => sessionStream(data.sessionId),
});

export const importEvents = [SessionFolderAdopted, SessionClosed, QuestionImported];
