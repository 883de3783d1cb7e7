import type { Command } from 'commander';
import { RetryDelivery } from '../commands/delivery';
import type { AuditRow } from '../projections/audit';
import { isoTime } from './audit';
import { CliError, openExisting, wholeNumber } from './context';
import { dispatchFromCli } from './dispatch';
import { bad, clip, dim, ok, printJsonArray, printTable } from './format';

/** One message sent to a chat, as `deliveries list` shows it. */
export interface DeliveryRow {
  messageId: string;
  sessionId: string;
  channelType: string;
  platformId: string;
  /** pending while attempts are under way, then delivered or failed. */
  status: 'pending' | 'delivered' | 'failed';
  /** Every attempt the log holds, earlier series included. */
  attempts: number;
  lastError: string | null;
  platformMessageId: string | null;
  /** Each part's id when the platform took the message in parts. */
  platformMessageIds: string[] | null;
  decidedAt: string;
  updatedAt: string;
}

/** An audit row of a message to a chat (its target is `channel:<type>:<platform id>`) as a delivery. */
function deliveryOf(row: AuditRow): DeliveryRow {
  const [, channelType = '', ...platformId] = (row.target ?? '').split(':');
  return {
    messageId: row.message_id,
    sessionId: row.session_id ?? '',
    channelType,
    platformId: platformId.join(':'),
    status: row.outcome === 'routed' ? 'pending' : row.outcome === 'delivered' ? 'delivered' : 'failed',
    attempts: row.attempts,
    lastError: row.last_error,
    platformMessageId: row.platform_message_id,
    platformMessageIds: row.platform_message_ids === null ? null : (JSON.parse(row.platform_message_ids) as string[]),
    decidedAt: row.decided_at,
    updatedAt: row.updated_at,
  };
}

const HEADERS = ['MESSAGE', 'SESSION', 'CHANNEL', 'PLATFORM ID', 'STATUS', 'ATTEMPTS', 'LAST ERROR', 'PLATFORM MESSAGE'];
const colorStatus = (status: DeliveryRow['status']) => (status === 'failed' ? bad(status) : status === 'delivered' ? ok(status) : status);
const tableRow = (d: DeliveryRow) => [
  d.messageId,
  d.sessionId,
  d.channelType,
  d.platformId,
  colorStatus(d.status),
  d.attempts,
  d.lastError === null ? '' : clip(d.lastError, 60),
  d.platformMessageIds ? `${d.platformMessageIds.join(', ')}` : (d.platformMessageId ?? ''),
];

interface ListOptions {
  failed?: boolean;
  since?: string;
  limit?: number;
  json?: boolean;
}

/** The deliveries the filters select, oldest first, read from the audit as they are printed. */
function* deliveries(rows: Iterable<AuditRow>): Generator<DeliveryRow> {
  for (const row of rows) yield deliveryOf(row);
}

/**
 * The outbound message an operator named: by its messages_out id (or audit id, or platform
 * id), narrowed by session when several sessions used the id. Refused when it names no
 * message, or an inbound one.
 */
function resolveOutbound(rows: AuditRow[], id: string, session: string | undefined): AuditRow {
  if (rows.length === 0) throw new CliError(`no message ${id} in the log: nothing to retry (see switchyard deliveries list)`);
  const outbound = rows.filter((row) => row.direction === 'outbound' && (session === undefined || row.session_id === session));
  if (outbound.length === 0) {
    throw new CliError(
      session === undefined
        ? `${id} is an inbound message, not one sent to a chat: only deliveries are retried`
        : `no outbound message ${id} in session ${session}`,
    );
  }
  if (outbound.length > 1) {
    throw new CliError(`${id} names outbound messages of ${outbound.length} sessions (${outbound.map((row) => row.session_id).join(', ')}): say which with --session`);
  }
  return outbound[0]!;
}

interface RetryOptions {
  failed?: boolean;
  since?: string;
  session?: string;
  actor?: string;
}

/** Records the operator's retry of one message: the running host (or the next to start) sends it again. */
function retryOne(command: Command, row: AuditRow, actor: string | undefined): void {
  const sessionId = row.session_id!;
  dispatchFromCli(
    command,
    (commandId, metadata) =>
      RetryDelivery.envelope(commandId, { sessionId, outboundId: row.message_id }, actor === undefined ? metadata : { ...metadata, actor: `operator:${actor}` }),
    { outboundId: '<message-id>', sessionId: '--session' },
    () => `retry of ${row.message_id} (session ${sessionId}) recorded: a new series of attempts, same idempotency key`,
  );
}

export function registerDeliveries(program: Command): void {
  const group = program.command('deliveries').description('messages sent to chats: their attempts, outcome and platform ids; retry the failed ones');
  group
    .command('list')
    .description('messages to chats, oldest first: status, attempts, last error, platform message id')
    .option('--failed', 'only those that failed for good')
    .option('--since <time>', 'decided at or after this ISO-8601 time', isoTime)
    .option('--limit <n>', 'at most n rows', wholeNumber(1))
    .option('--json', 'one JSON document: an array of deliveries')
    .action((options: ListOptions, command: Command) => {
      const core = openExisting(command);
      try {
        const rows = deliveries(
          core.views.audit.query({
            direction: 'outbound',
            toChannel: true,
            ...(options.failed && { outcome: 'failed' as const }),
            ...(options.since !== undefined && { since: options.since }),
            ...(options.limit !== undefined && { limit: options.limit }),
          }),
        );
        if (options.json) return printJsonArray(rows);
        printTable(HEADERS, rows, tableRow, dim(options.failed ? 'no failed deliveries' : 'no deliveries'));
      } finally {
        core.close();
      }
    });
  group
    .command('retry')
    .description('try a failed delivery again: a new series of attempts under the same idempotency key, recorded with you as the actor')
    .argument('[message-id]', 'the outbound message (its messages_out id, as `deliveries list` shows it)')
    .option('--failed', 'every delivery that failed for good (with --since: those decided since then)')
    .option('--since <time>', 'with --failed: only messages decided at or after this ISO-8601 time', isoTime)
    .option('--session <id>', 'the session of the message, when several sessions used its id')
    .option('--actor <name>', 'who asks, recorded as operator:<name> (default: $SWITCHYARD_OPERATOR or your user name)')
    .action((messageId: string | undefined, options: RetryOptions, command: Command) => {
      if ((messageId === undefined) === !options.failed) throw new CliError('say which delivery to retry: a <message-id>, or --failed for every failed one', 2);
      if (options.since !== undefined && !options.failed) throw new CliError('--since goes with --failed: a <message-id> names one message already', 2);
      const core = openExisting(command);
      let rows: AuditRow[];
      try {
        rows = messageId !== undefined
          ? [resolveOutbound(core.views.audit.find(messageId), messageId, options.session)]
          : [...core.views.audit.query({ direction: 'outbound', toChannel: true, outcome: 'failed', ...(options.since !== undefined && { since: options.since }) })];
      } finally {
        core.close();
      }
      if (rows.length === 0) {
        console.log(dim('no failed deliveries to retry'));
        return;
      }
      for (const row of rows) retryOne(command, row, options.actor);
    });
}
