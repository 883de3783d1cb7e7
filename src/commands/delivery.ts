import { z } from 'zod';
import { DeliveryAttempted, DeliveryFailed, DeliverySucceeded } from '../events/delivery';
import { Id } from '../events/primitives';
import { defineCommand, reject } from './define';

/** Attempts per routed row before it is failed for good and the sender is told. */
export const MAX_DELIVERY_ATTEMPTS = 3;

const RowRef = { sessionId: Id, outboundId: z.string().min(1) };

/**
 * Opens the next delivery attempt of a routed row. Attempts are counted from the log (the
 * audit projection), so a restart resumes the count instead of resetting it.
 */
export const RecordDeliveryAttempt = defineCommand('RecordDeliveryAttempt', z.object(RowRef), (views, command) => {
  const row = views.audit.outboundRow(command.sessionId, command.outboundId);
  if (!row || row.outcome !== 'routed') {
    return reject('not-deliverable', `outbound ${command.outboundId} of ${command.sessionId} is ${row ? row.outcome : 'unknown'}, not awaiting delivery`);
  }
  if (row.attempts >= MAX_DELIVERY_ATTEMPTS) return reject('attempts-exhausted', `outbound ${command.outboundId} has had ${row.attempts} attempts`);
  return [DeliveryAttempted.create({ ...command, attempt: row.attempts + 1 })];
});

export const RecordDeliveryResult = defineCommand(
  'RecordDeliveryResult',
  z.object({
    ...RowRef,
    attempt: z.number().int().min(1),
    result: z.discriminatedUnion('ok', [
      z.object({ ok: z.literal(true), platformMessageId: z.string().nullable() }),
      z.object({ ok: z.literal(false), errorClass: z.string().min(1), error: z.string() }),
    ]),
  }),
  (views, command) => {
    const row = views.audit.outboundRow(command.sessionId, command.outboundId);
    if (!row || row.outcome !== 'routed' || row.attempts !== command.attempt) {
      return reject('stale-attempt', `attempt ${command.attempt} of outbound ${command.outboundId} is not the open one`);
    }
    const ref = { sessionId: command.sessionId, outboundId: command.outboundId, attempt: command.attempt };
    if (command.result.ok) return [DeliverySucceeded.create({ ...ref, platformMessageId: command.result.platformMessageId })];
    return [DeliveryFailed.create({ ...ref, errorClass: command.result.errorClass, error: command.result.error, final: command.attempt >= MAX_DELIVERY_ATTEMPTS })];
  },
);

export const deliveryCommands = [RecordDeliveryAttempt, RecordDeliveryResult];
