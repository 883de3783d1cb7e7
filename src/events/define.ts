import { z } from 'zod';

/** Who and what caused an event; stored with every event. */
export const EventMetadata = z.object({
  commandId: z.string(),
  correlationId: z.string(),
  causationId: z.string(),
  /** 'host', an agent group id, or 'operator:<name>'. */
  actor: z.string(),
  /** ISO-8601 UTC. */
  recordedAt: z.string(),
});
export type EventMetadata = z.infer<typeof EventMetadata>;

/** An event a decider wants appended: not yet positioned. */
export interface PendingEvent<Type extends string = string, Data = unknown> {
  readonly stream: string;
  readonly type: Type;
  readonly schemaVersion: number;
  readonly data: Data;
}

/** An event as it stands in the log, upcast to its current schema version. */
export interface RecordedEvent<Type extends string = string, Data = unknown> {
  readonly position: number;
  readonly eventId: string;
  readonly stream: string;
  readonly streamVersion: number;
  readonly type: Type;
  readonly schemaVersion: number;
  readonly data: Data;
  readonly metadata: EventMetadata;
}

/** Turns the data of version N into the data of version N + 1. */
export type Upcaster = (data: unknown) => unknown;

export interface EventDefinition<Type extends string = string, Schema extends z.ZodType = z.ZodType> {
  readonly type: Type;
  /** The current schema version; events are always written at this version. */
  readonly version: number;
  readonly schema: Schema;
  /** upcasters[n] turns version n into version n + 1. */
  readonly upcasters: Readonly<Record<number, Upcaster>>;
  /** The stream an event of this type belongs to, derived from its data. */
  streamOf(data: z.output<Schema>): string;
  /**
   * Builds a pending event from data as its schema outputs it (defaults spelled out): the
   * bus appends a decider's events as built (see EventStoreOptions.verifyDecided).
   */
  create(data: z.output<Schema>): PendingEvent<Type, z.output<Schema>>;
  /** Narrows a recorded event to this type. */
  is(event: RecordedEvent): event is RecordedEvent<Type, z.output<Schema>>;
}

export function defineEvent<Type extends string, Schema extends z.ZodType>(spec: {
  type: Type;
  version: number;
  schema: Schema;
  stream: (data: z.output<Schema>) => string;
  upcasters?: Record<number, Upcaster>;
}): EventDefinition<Type, Schema> {
  const upcasters = spec.upcasters ?? {};
  for (let v = 1; v < spec.version; v++) {
    if (!upcasters[v]) throw new Error(`event ${spec.type} v${spec.version} has no upcaster from v${v}`);
  }
  return {
    type: spec.type,
    version: spec.version,
    schema: spec.schema,
    upcasters,
    streamOf: spec.stream,
    create(data) {
      return { stream: spec.stream(data), type: spec.type, schemaVersion: spec.version, data };
    },
    is(event): event is RecordedEvent<Type, z.output<Schema>> {
      return event.type === spec.type;
    },
  };
}

/** Every event type the log may hold, for validation on append and upcasting on read. */
export class EventRegistry {
  private readonly definitions = new Map<string, EventDefinition>();

  constructor(definitions: Iterable<EventDefinition>) {
    for (const definition of definitions) {
      if (this.definitions.has(definition.type)) throw new Error(`event type ${definition.type} defined twice`);
      this.definitions.set(definition.type, definition);
    }
  }

  get(type: string): EventDefinition {
    const definition = this.definitions.get(type);
    if (!definition) throw new Error(`unknown event type ${type}`);
    return definition;
  }

  /** Brings stored data of any older schema version up to the current one. */
  upcast(type: string, schemaVersion: number, data: unknown): { schemaVersion: number; data: unknown } {
    const definition = this.definitions.get(type);
    if (!definition || schemaVersion >= definition.version) return { schemaVersion, data };
    let current = data;
    for (let v = schemaVersion; v < definition.version; v++) current = definition.upcasters[v]!(current);
    return { schemaVersion: definition.version, data: current };
  }
}
