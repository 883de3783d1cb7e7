import { z } from 'zod';
import { QuestionAnswered, QuestionAnswerRefused, type QuestionAnswerRefusedReason } from '../events/questions';
import { Id } from '../events/primitives';
import type { Views } from '../projections';
import type { QuestionRow } from '../projections/questions';
import { answerApprovalCard, clickOf } from './approvals';
import { defineCommand, newId, type CommandContext } from './define';

/** What a click may select: the card's options as shown, by text, label or value; anything when it showed none. */
function offers(question: QuestionRow, selected: string): boolean {
  const options = JSON.parse(question.options) as unknown[];
  if (options.length === 0) return true;
  return options.some((option) => {
    if (typeof option === 'string') return option === selected;
    const { label, value } = (option ?? {}) as { label?: unknown; value?: unknown };
    return label === selected || value === selected;
  });
}

/** An agent's question answered by a click in the chat the card went to, once (spec §4); the answer goes back to the asking session. */
function answerQuestion(question: QuestionRow, selectedOption: string, context: CommandContext) {
  const click = clickOf(context.actor);
  const userId = click?.userId ?? context.actor;
  const refused = (reason: z.infer<typeof QuestionAnswerRefusedReason>, explanation: string) => [
    QuestionAnswerRefused.create({ sessionId: question.session_id, questionId: question.question_id, reason, explanation, selectedOption, userId }),
  ];
  if (question.status !== 'pending') return refused('already-answered', `question ${question.question_id} was already answered "${question.selected_option}" by ${question.answered_by}`);
  if (!click || click.channelType !== question.channel_type || click.platformId !== question.platform_id) {
    return refused('other-chat', `question ${question.question_id} was asked in ${question.channel_type} chat ${question.platform_id}; ${context.actor} did not click there`);
  }
  if (!offers(question, selectedOption)) return refused('unknown-option', `question ${question.question_id} did not offer ${JSON.stringify(selectedOption)}`);
  return [QuestionAnswered.create({ sessionId: question.session_id, questionId: question.question_id, messageId: newId('qresp', context), selectedOption, userId })];
}

/**
 * A click on a card, whichever card it was: an approval request's (host ids, decided by
 * an admin) first, else an agent's ask_question. A click naming neither is recorded as a
 * refused approval decision, as before agents could ask.
 */
export const AnswerCard = defineCommand('AnswerCard', z.object({ questionId: Id, selectedOption: z.string().min(1) }), (views: Views, command, context) => {
  const question = views.approvals.get(command.questionId) ? undefined : views.questions.get(command.questionId);
  if (question) return answerQuestion(question, command.selectedOption, context);
  return answerApprovalCard(views, { approvalId: command.questionId, selectedOption: command.selectedOption }, context);
});

export const questionCommands = [AnswerCard];
