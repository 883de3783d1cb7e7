import { z } from 'zod';
import { defineEvent } from './define';

export const TargetType = z.enum(['channel', 'agent']);
export type TargetType = z.infer<typeof TargetType>;

export const agentGroupStream = (agentGroupId: string) => `agent-group-${agentGroupId}`;

/** A named destination granted to an agent group: a route and an ACL row at once. */
export const DestinationAdded = defineEvent({
  type: 'DestinationAdded',
  version: 1,
  schema: z.object({
    agentGroupId: z.string(),
    localName: z.string(),
    targetType: TargetType,
    targetId: z.string(),
  }),
  stream: (data) => agentGroupStream(data.agentGroupId),
});

export const DestinationRemoved = defineEvent({
  type: 'DestinationRemoved',
  version: 1,
  schema: z.object({
    agentGroupId: z.string(),
    localName: z.string(),
  }),
  stream: (data) => agentGroupStream(data.agentGroupId),
});

export const destinationEvents = [DestinationAdded, DestinationRemoved];
