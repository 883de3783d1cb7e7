import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { PendingEvent } from '../events/define';
import type { Views } from '../projections';

/** Who issued a command, when, and in answer to what: copied onto its events. */
export interface CommandContext {
  readonly commandId: string;
  /** 'host', an agent group id, or 'operator:<name>'. */
  readonly actor: string;
  /** ISO-8601 UTC: deciders read time from here, never from a clock. */
  readonly issuedAt: string;
  readonly correlationId: string;
  readonly causationId: string;
}

/** A decision not to act that leaves no event (the caller is told; nobody will ask later). */
export interface Rejection {
  readonly rejected: true;
  readonly code: string;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export function reject(code: string, message: string, details?: Record<string, unknown>): Rejection {
  return details === undefined ? { rejected: true, code, message } : { rejected: true, code, message, details };
}

export function isRejection(decision: Decision): decision is Rejection {
  return !Array.isArray(decision);
}

export type Decision = readonly PendingEvent[] | Rejection;

/** A command as it arrives at the bus, before validation. */
export const CommandEnvelope = z.object({
  type: z.string().min(1),
  commandId: z.string().min(1),
  payload: z.unknown(),
  actor: z.string().min(1).optional(),
  issuedAt: z.iso.datetime().optional(),
  correlationId: z.string().min(1).optional(),
  causationId: z.string().min(1).optional(),
});
export type CommandEnvelope = z.infer<typeof CommandEnvelope>;

export type CommandMetadata = Omit<CommandEnvelope, 'type' | 'commandId' | 'payload'>;

export interface CommandDefinition<Type extends string = string, Schema extends z.ZodType = z.ZodType> {
  readonly type: Type;
  readonly schema: Schema;
  /** Pure: the same views, command and context always give the same decision. */
  decide(views: Views, command: z.output<Schema>, context: CommandContext): Decision;
  /** A typed envelope for dispatch. */
  envelope(commandId: string, payload: z.input<Schema>, metadata?: CommandMetadata): CommandEnvelope;
}

export function defineCommand<Type extends string, Schema extends z.ZodType>(
  type: Type,
  schema: Schema,
  decide: (views: Views, command: z.output<Schema>, context: CommandContext) => Decision,
): CommandDefinition<Type, Schema> {
  return {
    type,
    schema,
    decide,
    envelope: (commandId, payload, metadata = {}) => ({ type, commandId, payload, ...metadata }),
  };
}

/**
 * A new entity id for a decider: prefixed, sortable by the command's time, and derived
 * from the command id, so re-running the decision later gives the same id.
 */
export function newId(prefix: string, context: CommandContext, salt = ''): string {
  const time = Date.parse(context.issuedAt).toString(36).padStart(9, '0');
  const suffix = createHash('sha256').update(`${context.commandId}\u0000${salt}`).digest('hex').slice(0, 12);
  return `${prefix}-${time}${suffix}`;
}
