import { z } from 'zod';
import { defineEvent } from './define';
import { sessionStream } from './inbound';
import { Id } from './primitives';

/**
 * A click answered an agent's `ask_question` card (spec §4): the answer goes back to the
 * asking session as a `system` row, under the host's id messageId.
 */
export const QuestionAnswered = defineEvent({
  type: 'QuestionAnswered',
  version: 1,
  schema: z.object({ sessionId: Id, questionId: Id, messageId: Id, selectedOption: z.string(), userId: z.string() }),
  stream: (data) => sessionStream(data.sessionId),
});

export const QuestionAnswerRefusedReason = z.enum(['already-answered', 'other-chat', 'unknown-option']);

/** A click on an agent's question that answered nothing: whoever clicked will ask why. */
export const QuestionAnswerRefused = defineEvent({
  type: 'QuestionAnswerRefused',
  version: 1,
  schema: z.object({ sessionId: Id, questionId: Id, reason: QuestionAnswerRefusedReason, explanation: z.string(), selectedOption: z.string(), userId: z.string() }),
  stream: (data) => sessionStream(data.sessionId),
});

export const questionEvents = [QuestionAnswered, QuestionAnswerRefused];
