import { z } from 'zod';
import { defineEvent } from './define';
import { sessionStream } from './inbound';
import { Id } from './primitives';

/**
 * A message from one agent group delivered into another's session. The target sees it
 * as a `chat` row with channel_type `agent` and platform_id = the source agent group, so
 * its own destination map names the sender. The source session is kept so a reply
 * returns to the conversation it answers.
 */
export const AgentMessageDelivered = defineEvent({
  type: 'AgentMessageDelivered',
  version: 1,
  schema: z.object({
    messageId: Id,
    targetSessionId: Id,
    targetAgentGroupId: Id,
    sourceSessionId: Id,
    sourceAgentGroupId: Id,
    outboundId: z.string(),
    kind: z.string(),
    content: z.string(),
    timestamp: z.string(),
    /** The target-side message this one answers, when the source was replying. */
    inReplyTo: z.string().nullable(),
  }),
  stream: (data) => sessionStream(data.targetSessionId),
});

export const agentMessageEvents = [AgentMessageDelivered];
