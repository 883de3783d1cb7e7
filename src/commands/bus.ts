import { hash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { EventMetadata, PendingEvent, RecordedEvent } from '../events/define';
import type { EventStore } from '../events/store';
import type { Views } from '../projections';
import type { ProjectionRunner } from '../projections/runner';
import { CommandEnvelope, isRejection, type CommandContext, type CommandDefinition } from './define';

export interface EventRef {
  position: number;
  eventId: string;
  stream: string;
  type: string;
}

export type Outcome =
  | { status: 'accepted'; commandId: string; type: string; events: EventRef[]; duplicate: boolean }
  | {
      status: 'rejected';
      commandId: string;
      type: string;
      code: string;
      message: string;
      details?: Readonly<Record<string, unknown>>;
      duplicate: boolean;
    };

export type BatchResult = Outcome | { status: 'failed'; commandId: string | undefined; type: string | undefined; error: Error };

export interface FieldIssue {
  /** Dotted path of the offending field, e.g. `payload.localName`. */
  path: string;
  message: string;
}

export class CommandValidationError extends Error {
  constructor(
    readonly commandType: string | undefined,
    readonly issues: FieldIssue[],
  ) {
    super(`invalid ${commandType ?? 'command'}: ${issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ')}`);
    this.name = 'CommandValidationError';
  }
}

export class UnknownCommandError extends Error {
  constructor(readonly commandType: string) {
    super(`unknown command type ${commandType}`);
    this.name = 'UnknownCommandError';
  }
}

export class CommandIdConflictError extends Error {
  constructor(
    readonly commandId: string,
    readonly firstType: string,
    readonly secondType: string,
  ) {
    super(
      `command id ${commandId} was already used by a ${firstType} with a different payload; ` +
        `this ${secondType} was not applied (a command id names one command)`,
    );
    this.name = 'CommandIdConflictError';
  }
}

export interface CommandBusOptions {
  clock?: () => Date;
  logger?: Logger;
}

interface ParsedCommand {
  envelope: CommandEnvelope;
  definition: CommandDefinition;
  payload: unknown;
  payloadHash: string;
}

/** Thrown out of an optimistic batch to roll it back: one of its commands failed. */
class OptimisticBatchAborted extends Error {
  constructor(readonly failure: unknown) {
    super('a command of the batch failed');
  }
}

function failed(input: unknown, error: unknown): BatchResult {
  const envelope = input as Partial<CommandEnvelope> | undefined;
  return {
    status: 'failed',
    commandId: typeof envelope?.commandId === 'string' ? envelope.commandId : undefined,
    type: typeof envelope?.type === 'string' ? envelope.type : undefined,
    error: error instanceof Error ? error : new Error(String(error)),
  };
}

interface CommandRow {
  command_id: string;
  type: string;
  payload_hash: string;
  outcome: string;
}

function toIssues(error: z.ZodError, prefix: string): FieldIssue[] {
  return error.issues.map((issue) => ({
    path: [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || '(command)',
    message: issue.message,
  }));
}

/**
 * What a retried command id is compared by. One-shot hash(): the same digest as
 * createHash().update() of the same bytes, without a Hash object per command.
 */
function hashPayload(type: string, payload: unknown): string {
  return hash('sha256', `${type}\u0000${JSON.stringify(payload)}`, 'hex');
}

/** Validates a command's payload, throwing an error that names each bad field. */
export function parsePayload<S extends z.ZodType>(definition: CommandDefinition<string, S>, payload: unknown): z.output<S> {
  const parsed = definition.schema.safeParse(payload);
  if (!parsed.success) throw new CommandValidationError(definition.type, toIssues(parsed.error, 'payload'));
  return parsed.data;
}

/**
 * The typed command bus: validates, deduplicates by command id, decides against the
 * read-only views, appends and projects in one transaction, and lets subscribers hear
 * of the events only once they are committed.
 */
export class CommandBus {
  private readonly definitions = new Map<string, CommandDefinition>();
  private readonly clock: () => Date;
  private readonly logger: Logger | undefined;
  private readonly findCommand: Database.Statement;
  private readonly findCommands: Database.Statement;
  /** The last clock reading and its ISO string: the commands of one millisecond share one. */
  private lastTime = { ms: Number.NaN, iso: '' };
  private readonly recordCommand: Database.Statement;

  constructor(
    private readonly store: EventStore,
    private readonly projections: ProjectionRunner,
    private readonly views: Views,
    options: CommandBusOptions = {},
  ) {
    this.clock = options.clock ?? (() => new Date());
    this.logger = options.logger;
    this.findCommand = store.db.prepare('SELECT command_id, type, payload_hash, outcome FROM commands WHERE command_id = ?');
    this.findCommands = store.db.prepare(
      'SELECT command_id, type, payload_hash, outcome FROM commands WHERE command_id IN (SELECT value FROM json_each(?))',
    );
    this.recordCommand = store.db.prepare(
      'INSERT INTO commands (command_id, type, payload_hash, outcome, handled_at) VALUES (?, ?, ?, ?, ?)',
    );
  }

  register(...definitions: CommandDefinition[]): this {
    for (const definition of definitions) {
      if (this.definitions.has(definition.type)) throw new Error(`command ${definition.type} registered twice`);
      this.definitions.set(definition.type, definition);
    }
    return this;
  }

  /** Handles one command in its own transaction. Throws on invalid input or a conflict. */
  dispatch(input: unknown): Outcome {
    return this.store.transaction(() => {
      const command = this.parse(input);
      return this.execute(command, this.findCommand.get(command.envelope.commandId) as CommandRow | undefined);
    });
  }

  /**
   * Group commit: handles the commands in one transaction, so the fsync is paid once.
   * Optimistic: the batch first runs without savepoints (each costs a journal write per
   * page touched). Only when a command throws is that pass rolled back and the batch redone
   * with each command in its own savepoint, so the failing one leaves no trace and the
   * others commit. Deciders are pure, so the redo decides the same.
   */
  dispatchBatch(inputs: readonly unknown[]): BatchResult[] {
    const parsed = inputs.map((input): ParsedCommand | BatchResult => {
      try {
        return this.parse(input);
      } catch (error) {
        return failed(input, error);
      }
    });
    try {
      return this.store.transaction(() => {
        const priorOf = this.priorCommands(parsed);
        return parsed.map((command) => {
          if ('status' in command) return command;
          try {
            return this.execute(command, priorOf(command.envelope.commandId));
          } catch (error) {
            throw new OptimisticBatchAborted(error);
          }
        });
      });
    } catch (error) {
      if (!(error instanceof OptimisticBatchAborted)) throw error;
    }
    return this.store.transaction(() => {
      const priorOf = this.priorCommands(parsed);
      return parsed.map((command): BatchResult => {
        if ('status' in command) return command;
        try {
          return this.store.transaction(() => this.execute(command, priorOf(command.envelope.commandId)));
        } catch (error) {
          return failed(command.envelope, error);
        }
      });
    });
  }

  /**
   * The commands-table rows of a batch's ids, read in one query inside its transaction
   * rather than one query per command. An id seen a second time in the batch is looked up
   * again: the row its first command wrote (or did not, if that one rolled back) is newer
   * than the read.
   */
  private priorCommands(commands: readonly (ParsedCommand | BatchResult)[]): (commandId: string) => CommandRow | undefined {
    const ids = commands.flatMap((command) => ('status' in command ? [] : [command.envelope.commandId]));
    const rows = new Map((this.findCommands.all(JSON.stringify(ids)) as CommandRow[]).map((row) => [row.command_id, row]));
    const seen = new Set<string>();
    return (commandId) => {
      if (seen.has(commandId)) return this.findCommand.get(commandId) as CommandRow | undefined;
      seen.add(commandId);
      return rows.get(commandId);
    };
  }

  /** The clock as an ISO string, formatted once per millisecond however many commands share it. */
  private now(): string {
    const ms = this.clock().getTime();
    if (ms !== this.lastTime.ms) this.lastTime = { ms, iso: new Date(ms).toISOString() };
    return this.lastTime.iso;
  }

  /** Validation only: no reads, no writes, so a bad command costs its batch nothing. */
  private parse(input: unknown): ParsedCommand {
    const envelopeResult = CommandEnvelope.safeParse(input);
    if (!envelopeResult.success) {
      const type = (input as { type?: unknown } | undefined)?.type;
      throw new CommandValidationError(typeof type === 'string' ? type : undefined, toIssues(envelopeResult.error, ''));
    }
    const envelope = envelopeResult.data;
    const definition = this.definitions.get(envelope.type);
    if (!definition) throw new UnknownCommandError(envelope.type);
    const payload = parsePayload(definition, envelope.payload);
    const payloadHash = hashPayload(envelope.type, payload);
    return { envelope, definition, payload, payloadHash };
  }

  /** Decides, appends and records one command; prior is its commands-table row, if it was handled before. */
  private execute({ envelope, definition, payload, payloadHash }: ParsedCommand, prior: CommandRow | undefined): Outcome {
    if (prior) {
      if (prior.payload_hash !== payloadHash) throw new CommandIdConflictError(envelope.commandId, prior.type, envelope.type);
      return { ...(JSON.parse(prior.outcome) as Outcome), duplicate: true };
    }

    const context: CommandContext = {
      commandId: envelope.commandId,
      actor: envelope.actor ?? 'host',
      issuedAt: envelope.issuedAt ?? this.now(),
      correlationId: envelope.correlationId ?? envelope.commandId,
      causationId: envelope.causationId ?? envelope.commandId,
    };
    const decision = definition.decide(this.views, payload, context);
    let outcome: Outcome;
    if (isRejection(decision)) {
      outcome = { status: 'rejected', commandId: context.commandId, type: envelope.type, code: decision.code, message: decision.message, duplicate: false };
      if (decision.details) outcome.details = decision.details;
      this.logger?.info({ command: envelope.type, commandId: context.commandId, code: decision.code }, decision.message);
    } else {
      const recorded = this.appendDecision(decision, context);
      outcome = {
        status: 'accepted',
        commandId: context.commandId,
        type: envelope.type,
        events: recorded.map(({ position, eventId, stream, type }) => ({ position, eventId, stream, type })),
        duplicate: false,
      };
      this.logger?.debug(
        { command: envelope.type, commandId: context.commandId, correlationId: context.correlationId, position: recorded.at(-1)?.position },
        'command accepted',
      );
    }
    const { duplicate: _ignored, ...stored } = outcome;
    this.recordCommand.run(context.commandId, envelope.type, payloadHash, JSON.stringify(stored), context.issuedAt);
    return outcome;
  }

  /**
   * Appends a decision's events stream by stream and projects each one. The expected
   * version is not checked here: the decision was made inside this same write
   * transaction (BEGIN IMMEDIATE), so no other writer can have moved the streams.
   */
  private appendDecision(events: readonly PendingEvent[], context: CommandContext): RecordedEvent[] {
    const metadata: EventMetadata = {
      commandId: context.commandId,
      correlationId: context.correlationId,
      causationId: context.causationId,
      actor: context.actor,
      recordedAt: this.now(),
    };
    const byStream = new Map<string, PendingEvent[]>();
    for (const event of events) {
      const list = byStream.get(event.stream);
      if (list) list.push(event);
      else byStream.set(event.stream, [event]);
    }
    const recorded: RecordedEvent[] = [];
    for (const [stream, streamEvents] of byStream) {
      for (const event of this.store.appendDecided(stream, streamEvents, metadata)) {
        this.projections.apply(event);
        recorded.push(event);
      }
    }
    return recorded;
  }
}
