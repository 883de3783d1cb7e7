import { InvalidArgumentError, Option, type Command } from 'commander';
import type { AuditOutcome, AuditRow } from '../projections/audit';
import { openExisting, wholeNumber } from './context';
import { found } from './dispatch';
import { bad, dim, formatTable, ok, printTable } from './format';

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
    .option('--json', 'the same as --format jsonl')
    .action((options: AuditOptions, command: Command) => {
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
        const format = options.json ? 'jsonl' : options.format;
        if (format === 'jsonl') {
          for (const row of rows) process.stdout.write(JSON.stringify(row) + '\n');
          return;
        }
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
