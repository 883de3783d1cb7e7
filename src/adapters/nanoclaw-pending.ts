import Database from 'better-sqlite3';
import type { CommandEnvelope } from '../commands/define';
import { ImportApproval, ImportQuestion } from '../commands/import';
import type { Core } from '../core';
import { openOutboundDb, sessionDir } from './session-db';

/** What became of one table of cards NanoClaw was waiting on. */
export interface PendingCardsReport {
  table: 'pending_approvals' | 'pending_questions';
  imported: number;
  alreadyImported: number;
  refused: Array<{ key: string; reason: string }>;
}

type Row = Record<string, string | number | null>;
const actor = { actor: 'operator:import' };

/** The rows of a table still waiting, or none when this version of NanoClaw has no such table. */
function waitingRows(db: Database.Database, table: string, columns: readonly string[]): Row[] {
  const present = new Set(db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all(table) as string[]);
  if (present.size === 0) return [];
  const optional = ['options_json'].filter((column) => present.has(column));
  // From v2.0.64 a request stays in the table once decided; only a pending one is waited on.
  const where = present.has('status') ? `WHERE status = 'pending'` : '';
  return db.prepare(`SELECT ${[...columns, ...optional].join(', ')} FROM ${table} ${where} ORDER BY rowid`).all() as Row[];
}

/**
 * The options a question's card showed: NanoClaw keeps them from v2.0.64 on; before, the
 * card itself (the ask_question row in the adopted session folder) is the only record.
 * None found: any option answers it.
 */
function optionsOf(core: Core, dataDir: string, row: Row): unknown[] {
  try {
    if (typeof row.options_json === 'string') return JSON.parse(row.options_json) as unknown[];
    const session = core.views.sessions.get(String(row.session_id));
    if (!session) return [];
    const db = openOutboundDb(sessionDir(dataDir, session.agent_group_id, session.id));
    try {
      const content = db.prepare('SELECT content FROM messages_out WHERE id = ?').pluck().get(row.message_out_id) as string | undefined;
      const options = content === undefined ? undefined : (JSON.parse(content) as { options?: unknown }).options;
      return Array.isArray(options) ? options : [];
    } finally {
      db.close();
    }
  } catch {
    return [];
  }
}

const text = (value: string | number | null): string | null => (value === null ? null : String(value));

function dispatchAll(core: Core, table: PendingCardsReport['table'], steps: Array<{ key: string; envelope: () => CommandEnvelope }>): PendingCardsReport {
  const report: PendingCardsReport = { table, imported: 0, alreadyImported: 0, refused: [] };
  for (const { key, envelope } of steps) {
    try {
      const outcome = core.bus.dispatch(envelope());
      if (outcome.status === 'rejected') report.refused.push({ key, reason: `${outcome.code}: ${outcome.message}` });
      else if (outcome.duplicate) report.alreadyImported++;
      else report.imported++;
    } catch (error) {
      report.refused.push({ key, reason: error instanceof Error ? error.message : String(error) });
    }
  }
  return report;
}

/**
 * Imports the approvals and questions NanoClaw was waiting on, after the sessions they
 * belong to (and their folders, where a question's card is): an approval under its own
 * id (a click on the card already in the admin chat decides it) with the hash of exactly
 * its payload, a question with the options its card showed. Rows that cannot be mapped
 * are refused with the reason.
 */
export function importPendingCards(core: Core, dataDir: string, centralDatabase: string): PendingCardsReport[] {
  const db = new Database(centralDatabase, { readonly: true, fileMustExist: true });
  try {
    const approvals = waitingRows(db, 'pending_approvals', ['approval_id', 'session_id', 'request_id', 'action', 'payload']).map((row) => ({
      key: String(row.approval_id),
      envelope: () =>
        ImportApproval.envelope(
          `import:nanoclaw:pending_approvals:${row.approval_id}`,
          { approvalId: String(row.approval_id), sessionId: String(row.session_id), requestId: text(row.request_id), action: String(row.action), payload: JSON.parse(String(row.payload)) },
          actor,
        ),
    }));
    const questions = waitingRows(db, 'pending_questions', ['question_id', 'session_id', 'message_out_id', 'platform_id', 'channel_type', 'thread_id']).map((row) => ({
      key: String(row.question_id),
      envelope: () =>
        ImportQuestion.envelope(
          `import:nanoclaw:pending_questions:${row.question_id}`,
          {
            questionId: String(row.question_id),
            sessionId: String(row.session_id),
            outboundId: String(row.message_out_id),
            channelType: String(row.channel_type),
            platformId: String(row.platform_id),
            threadId: text(row.thread_id),
            options: optionsOf(core, dataDir, row),
          },
          actor,
        ),
    }));
    return [dispatchAll(core, 'pending_approvals', approvals), dispatchAll(core, 'pending_questions', questions)];
  } finally {
    db.close();
  }
}
