import { InvalidArgumentError, Option, type Command } from 'commander';
import type { AuditOutcome, AuditRow } from '../projections/audit';
import type { Core } from '../core';
import { SystemActionAccepted } from '../events/admin';
import type { RecordedEvent } from '../events/define';
import { DeliveryFailed, DeliverySucceeded } from '../events/delivery';
import { InboundDropped, InboundRouted } from '../events/inbound';
import { OutboundDropped, OutboundRouted } from '../events/outbound';
import { MessageExpired, MessageFailed } from '../events/retries';
import { CliError, openExisting, wholeNumber } from './context';
import { found } from './dispatch';
import { followLog } from './follow';
import { bad, clip, dim, formatTable, ok, printJsonArray, printJsonLines, printTable } from './format';
import { contentOf, textOf } from '../message-text';

/** RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled. */
const csvField = (value: unknown): string => {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
};

const AUDIT_COLUMNS: (keyof AuditRow)[] = [
  'audit_id', 'message_id', 'direction', 'outcome', 'reason', 'rule', 'agent_group_id', 'session_id', 'messaging_group_id',
  'target', 'platform_message_id', 'attempts', 'decided_position', 'last_position', 'decided_at', 'updated_at',
];

interface AuditOptions {
  format: 'table' | 'csv' | 'jsonl';
  agentGroup?: string;
  outcome?: AuditOutcome;
  direction?: 'inbound' | 'outbound';
  since?: string;
  until?: string;
  limit?: number;
  json?: boolean;
  jsonl?: boolean;
  follow?: boolean;
}

/** Parses a time flag (any ISO-8601 form Date understands) into the log's canonical UTC form. */
export function isoTime(value: string): string {
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw new InvalidArgumentError(`expected an ISO-8601 time such as 2026-11-24T09:00:00Z, got "${value}"`);
  return new Date(time).toISOString();
}

const OUTCOMES: AuditOutcome[] = ['routed', 'delivered', 'dropped', 'failed'];

export const colorOutcome = (outcome: AuditOutcome) =>
  outcome === 'delivered' || outcome === 'routed' ? ok(outcome) : outcome === 'dropped' || outcome === 'failed' ? bad(outcome) : outcome;

const auditRow = (row: AuditRow) => [
  row.decided_at,
  row.direction,
  row.message_id,
  colorOutcome(row.outcome),
  row.reason ?? dim(row.rule ?? ''),
  row.agent_group_id,
  row.session_id,
  row.target,
  row.direction === 'outbound' ? row.attempts : '',
];

const AUDIT_HEADERS = ['DECIDED AT', 'DIR', 'MESSAGE', 'OUTCOME', 'REASON / RULE', 'AGENT GROUP', 'SESSION', 'TARGET', 'ATTEMPTS'];
const NO_MATCH = dim('no messages match');

/** The audit rows as a table for people. */
export function auditTable(rows: readonly AuditRow[]): string {
  return rows.length ? formatTable(AUDIT_HEADERS, rows.map(auditRow)) : NO_MATCH;
}

/** Decisions: the audit row an event opens is the one named by its command id. */
const DECISIONS = new Set<string>([InboundRouted.type, InboundDropped.type, OutboundRouted.type, OutboundDropped.type, SystemActionAccepted.type]);

/** The audit row an event decided or settled, if it is one an operator follows live. */
function settledRow(core: Core, event: RecordedEvent): AuditRow | undefined {
  const { audit } = core.views;
  if (DECISIONS.has(event.type)) return audit.decidedBy(event.metadata.commandId);
  if (DeliverySucceeded.is(event) || (DeliveryFailed.is(event) && event.data.final)) return audit.outboundRow(event.data.sessionId, event.data.outboundId);
  if (MessageFailed.is(event) || MessageExpired.is(event)) return audit.inboundRow(event.data.sessionId, event.data.messageId);
  return undefined;
}

/** One audit row as a line, with what the message said: what a person watching a live host reads. */
function followLine(core: Core, row: AuditRow, jsonl: boolean): string {
  const text = textOf(contentOf(core.store.readAt(row.decided_position)));
  if (jsonl) return JSON.stringify({ ...row, text });
  const cells = auditRow(row).slice(0, -1).map((cell) => (cell === null || cell === undefined ? '-' : String(cell)));
  return [...cells, text === null ? '' : JSON.stringify(clip(text, 120))].join('  ');
}

/** The rows the filters select, then each decision and final outcome as it commits, until Ctrl-C. */
async function followAudit(core: Core, options: AuditOptions, rows: Iterable<AuditRow>, jsonl: boolean): Promise<void> {
  const start = core.store.lastPosition();
  const wanted = (row: AuditRow) =>
    (options.agentGroup === undefined || row.agent_group_id === options.agentGroup) &&
    (options.outcome === undefined || row.outcome === options.outcome) &&
    (options.direction === undefined || row.direction === options.direction);
  for (const row of rows) if (row.decided_position <= start) process.stdout.write(followLine(core, row, jsonl) + '\n');
  await followLog(core, start, (event) => {
    const row = settledRow(core, event);
    if (row && wanted(row)) process.stdout.write(followLine(core, row, jsonl) + '\n');
  });
}

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description('every routed, delivered, dropped or failed message, oldest first')
    .option('--agent-group <id>', 'only messages of this agent group')
    .addOption(new Option('--outcome <outcome>', 'only this outcome').choices(OUTCOMES))
    .addOption(new Option('--direction <direction>', 'only inbound or outbound').choices(['inbound', 'outbound']))
    .option('--since <time>', 'decided at or after this ISO-8601 time', isoTime)
    .option('--until <time>', 'decided at or before this ISO-8601 time', isoTime)
    .option('--limit <n>', 'at most n rows', wholeNumber(1))
    .addOption(new Option('--format <format>', 'table for people, csv or jsonl for export').choices(['table', 'csv', 'jsonl']).default('table'))
    .option('--json', 'one JSON document: an array of rows')
    .option('--jsonl', 'one JSON object a line (the same as --format jsonl)')
    .option('--follow', 'then keep printing each decision and final outcome as it commits, with its reason and text (Ctrl-C to stop)')
    .action(async (options: AuditOptions, command: Command) => {
      const core = openExisting(command);
      try {
        if (options.agentGroup !== undefined) found(core.views.agentGroups.getIncludingDeleted(options.agentGroup), `agent group ${options.agentGroup}`);
        const rows = core.views.audit.query({
          ...(options.agentGroup !== undefined && { agentGroupId: options.agentGroup }),
          ...(options.outcome !== undefined && { outcome: options.outcome }),
          ...(options.direction !== undefined && { direction: options.direction }),
          ...(options.since !== undefined && { since: options.since }),
          ...(options.until !== undefined && { until: options.until }),
          ...(options.limit !== undefined && { limit: options.limit }),
        });
        const format = options.jsonl ? 'jsonl' : options.format;
        if (options.follow) {
          if (format === 'csv' || options.json) throw new CliError('--follow is a stream: it prints lines, or JSON Lines with --jsonl', 2);
          await followAudit(core, options, rows, format === 'jsonl');
          return;
        }
        if (options.json) return printJsonArray(rows);
        if (format === 'jsonl') return printJsonLines(rows);
        if (format === 'csv') {
          process.stdout.write(AUDIT_COLUMNS.join(',') + '\r\n');
          for (const row of rows) process.stdout.write(AUDIT_COLUMNS.map((column) => csvField(row[column])).join(',') + '\r\n');
          return;
        }
        printTable(AUDIT_HEADERS, rows, auditRow, NO_MATCH);
      } finally {
        core.close();
      }
    });
}
