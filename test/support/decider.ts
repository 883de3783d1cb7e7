import { z } from 'zod';
import type { CommandContext, CommandDefinition, Decision } from '../../src/commands/define';
import { isRejection, newId } from '../../src/commands/define';
import { parsePayload } from '../../src/commands/bus';
import { openCore } from '../../src/core';
import type { PendingEvent } from '../../src/events/define';

const context = (commandId: string): CommandContext => ({
  commandId,
  actor: 'operator:test',
  issuedAt: '2026-11-24T12:00:00.000Z',
  correlationId: commandId,
  causationId: commandId,
});

/** The id a decider derives under test: `when` runs with a fixed command id and time. */
export const idFor = (prefix: string, salt = '') => newId(prefix, context('when'), salt);

/**
 * given(events).when(command, payload).then(events) for deciders. The given events go
 * through the real projections into an in-memory SQLite database, and the decider runs
 * against the views on it, exactly as the bus would run it.
 */
export function given(...history: PendingEvent[]) {
  return {
    /** `as` overrides the command's context: another actor, another time. */
    when<S extends z.ZodType>(definition: CommandDefinition<string, S>, payload: z.input<S>, as: Partial<CommandContext> = {}) {
      const core = openCore(':memory:', { synchronous: 'NORMAL' });
      let decision: Decision;
      try {
        history.forEach((event, index) => {
          core.store.transaction(() => {
            for (const recorded of core.store.append(event.stream, 'any', [event], { ...context(`given-${index}`), recordedAt: '2026-11-24T11:00:00.000Z' })) {
              core.projections.apply(recorded);
            }
          });
        });
        decision = definition.decide(core.views, parsePayload(definition, payload), { ...context('when'), ...as });
      } finally {
        core.close();
      }
      return {
        /** Expected events, or jest asymmetric matchers standing for one. */
        then(...expected: (PendingEvent | ReturnType<typeof expect.objectContaining>)[]) {
          if (isRejection(decision)) throw new Error(`expected events, got rejection ${decision.code}: ${decision.message}`);
          expect(decision.map(strip)).toEqual(expected.map((e) => ('stream' in e && typeof e.stream === 'string' ? strip(e as PendingEvent) : e)));
        },
        thenRejects(code: string) {
          if (!isRejection(decision)) throw new Error(`expected rejection ${code}, got events ${decision.map((e) => e.type).join(', ')}`);
          expect(decision.code).toBe(code);
          return decision;
        },
      };
    },
  };
}

const strip = ({ stream, type, schemaVersion, data }: PendingEvent) => ({ stream, type, schemaVersion, data });
