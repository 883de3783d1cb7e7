import type Database from 'better-sqlite3';
import { QuestionImported } from '../events/import';
import { OutboundRouted } from '../events/outbound';
import { QuestionAnswered } from '../events/questions';
import { defineProjection, rowLookup } from './runner';

export interface QuestionRow {
  question_id: string;
  session_id: string;
  outbound_id: string;
  channel_type: string;
  platform_id: string;
  thread_id: string | null;
  /** JSON: the options as the card showed them (strings, or objects with label/value). */
  options: string;
  status: 'pending' | 'answered';
  asked_at: string;
  selected_option: string | null;
  answered_by: string | null;
  answered_at: string | null;
}

/** The question an `ask_question` card asks, when the routed content is one (spec §4). */
function askedQuestion(content: string): { questionId: string; options: unknown[] } | undefined {
  try {
    const parsed = JSON.parse(content) as { type?: unknown; questionId?: unknown; options?: unknown };
    if (parsed?.type !== 'ask_question' || typeof parsed.questionId !== 'string' || parsed.questionId.length === 0 || parsed.questionId.length > 200) return undefined;
    return { questionId: parsed.questionId, options: Array.isArray(parsed.options) ? parsed.options : [] };
  } catch {
    return undefined;
  }
}

/** The pending questions of agents: recorded as their cards are routed, closed by a click's answer. */
export const questionsProjection = defineProjection({
  name: 'questions',
  tables: ['questions'],
  bind(db, on) {
    // The first card keeps its id: a later card cannot take over a question another session asked.
    const insert = db.prepare(
      `INSERT INTO questions (question_id, session_id, outbound_id, channel_type, platform_id, thread_id, options, status, asked_at)
       VALUES (@questionId, @sessionId, @outboundId, @channelType, @platformId, @threadId, @options, 'pending', @at) ON CONFLICT (question_id) DO NOTHING`,
    );
    on(OutboundRouted, (data, event) => {
      if (data.target.type !== 'channel') return;
      const question = askedQuestion(data.content);
      if (!question) return;
      const { channelType, platformId, threadId } = data.target;
      insert.run({ questionId: question.questionId, sessionId: data.sessionId, outboundId: data.outboundId, channelType, platformId, threadId, options: JSON.stringify(question.options), at: event.metadata.recordedAt });
    });
    on(QuestionImported, (data, event) => insert.run({ ...data, options: JSON.stringify(data.options), at: event.metadata.recordedAt }));
    const answer = db.prepare(`UPDATE questions SET status = 'answered', selected_option = ?, answered_by = ?, answered_at = ? WHERE question_id = ?`);
    on(QuestionAnswered, (data, event) => answer.run(data.selectedOption, event.metadata.actor, event.metadata.recordedAt, data.questionId));
  },
});

export class QuestionsView {
  readonly get: (questionId: string) => QuestionRow | undefined;

  constructor(db: Database.Database) {
    this.get = rowLookup<QuestionRow>(db, 'SELECT * FROM questions WHERE question_id = ?');
  }
}
