import { z } from 'zod';
import type { CommandContext, CommandDefinition, Decision } from '../../src/commands/define';
import { isRejection } from '../../src/commands/define';
import { openCore } from '../../src/core';
import type { PendingEvent } from '../../src/events/define';

const context = (commandId: string): CommandContext => ({
  commandId,
  actor: 'operator:test',
  issuedAt: '2026-11-24T12:00:00.000Z',
  correlationId: commandId,
  causationId: commandId,
});

/**
 * given(events).when(command, payload).then(events) for deciders. The given events go
 * through the real projections into an in-memory SQLite database, and the decider runs
 * against the views on it, exactly as the bus would run it.
 */
export function given(...history: PendingEvent[]) {
  return {
    when<S extends z.ZodType>(definition: CommandDefinition<string, S>, payload: z.input<S>) {
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
        decision = definition.decide(core.views, definition.schema.parse(payload), context('when'));
      } finally {
        core.close();
      }
      return {
        then(...expected: PendingEvent[]) {
          if (isRejection(decision)) throw new Error(`expected events, got rejection ${decision.code}: ${decision.message}`);
          expect(decision.map(strip)).toEqual(expected.map(strip));
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

const strip = ({ stream, type, data }: PendingEvent) => ({ stream, type, data });
