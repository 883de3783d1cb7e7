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

// Control characters include NUL; 255 bytes is the usual limit of one file name.
const SEPARATOR_OR_CONTROL = /[/\\\p{Cc}]/u;
const MAX_SEGMENT_BYTES = 255;

/**
 * Why a name cannot be one plain path segment (a session id, an agent group id: both
 * name folders), or undefined when it can. Pure, so deciders can refuse such an id
 * before anything tries to make a folder of it.
 */
export function pathSegmentProblem(segment: string): string | undefined {
  if (segment === '') return 'it is empty';
  if (SEPARATOR_OR_CONTROL.test(segment)) return 'it holds a path separator, NUL or a control character';
  // Covers "." and "..", and keeps host files out of sight of `ls` in a folder the agent sees.
  if (segment.startsWith('.')) return 'it starts with "."';
  if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) return `it is longer than ${MAX_SEGMENT_BYTES} bytes`;
  return undefined;
}
