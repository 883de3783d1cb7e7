import { z } from 'zod';
import { defineEvent } from './define';
import { agentGroupStream } from './destinations';
import { ContainerConfig, Id } from './primitives';

export const AgentGroupCreated = defineEvent({
  type: 'AgentGroupCreated',
  version: 1,
  schema: z.object({
    agentGroupId: Id,
    name: z.string(),
    folder: z.string(),
    isAdmin: z.boolean(),
    agentProvider: z.string().nullable(),
    containerConfig: ContainerConfig,
  }),
  stream: (data) => agentGroupStream(data.agentGroupId),
});

/** Only the fields that changed are present. */
export const AgentGroupUpdated = defineEvent({
  type: 'AgentGroupUpdated',
  version: 1,
  schema: z.object({
    agentGroupId: Id,
    name: z.string().optional(),
    isAdmin: z.boolean().optional(),
    agentProvider: z.string().nullable().optional(),
    containerConfig: ContainerConfig.optional(),
    /** How many agent-to-agent hops a chain may take before this group's answer is dropped; null: the host's default. */
    maxHops: z.number().int().min(1).nullable().optional(),
    /** How many outbound rows a session of this group may write a minute; null: the host's default. */
    outboundPerMinute: z.number().int().min(1).nullable().optional(),
  }),
  stream: (data) => agentGroupStream(data.agentGroupId),
});

export const AgentGroupDeleted = defineEvent({
  type: 'AgentGroupDeleted',
  version: 1,
  schema: z.object({ agentGroupId: Id }),
  stream: (data) => agentGroupStream(data.agentGroupId),
});

export const agentGroupEvents = [AgentGroupCreated, AgentGroupUpdated, AgentGroupDeleted];
