import { z } from 'zod';

/** Shared value schemas of the domain, used by events and commands alike. */

export const Id = z.string().min(1).max(200);
export const Timestamp = z.iso.datetime({ offset: true });

export const SessionMode = z.enum(['shared', 'per-thread', 'agent-shared']);
export type SessionMode = z.infer<typeof SessionMode>;

export const ResponseScope = z.enum(['all', 'triggered']);

export const ChannelType = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/, 'expected a channel type: lowercase letters, digits and dashes, e.g. telegram');

export const TriggerRules = z.object({
  /** A regular expression the message text must match when requiresTrigger is set. */
  pattern: z.string().max(500).optional(),
  requiresTrigger: z.boolean().default(false),
});
export type TriggerRules = z.infer<typeof TriggerRules>;

export const McpServer = z.object({
  command: z.string(),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
});

export const ContainerConfig = z.object({
  packages: z.object({ apt: z.array(z.string()).default([]), npm: z.array(z.string()).default([]) }).default({ apt: [], npm: [] }),
  mcpServers: z.record(z.string(), McpServer).default({}),
  imageTag: z.string().optional(),
  /** The docker network its containers join; absent: none. */
  network: z.string().optional(),
  additionalMounts: z
    .array(z.object({ hostPath: z.string(), containerPath: z.string(), readonly: z.boolean().default(true) }))
    .default([]),
});
export type ContainerConfig = z.infer<typeof ContainerConfig>;

/** Inbound content: a JSON object (text, sender, attachments …) as the adapter reported it. */
export const MessageContent = z.record(z.string(), z.unknown());
export type MessageContent = z.infer<typeof MessageContent>;
