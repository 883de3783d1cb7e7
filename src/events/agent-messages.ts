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
  version: 2,
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
    /**
     * How many agent-to-agent messages led here since a person (or a task) spoke: 1 for
     * an agent's answer to a chat message, 2 for the answer to that… Derived from the log,
     * never from what an agent wrote.
     */
    hops: z.number().int().min(1),
    /** The message ids of that chain, its origin first and this message last: the evidence when it is cut. */
    chain: z.array(z.string()),
  }),
  stream: (data) => sessionStream(data.targetSessionId),
  // v1 predates the hop count: such a message starts a chain of its own.
  upcasters: { 1: (data) => ({ ...(data as { messageId: string }), hops: 1, chain: [(data as { messageId: string }).messageId] }) },
});

export const agentMessageEvents = [AgentMessageDelivered];
