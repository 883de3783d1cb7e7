import { Option, type Command } from 'commander';
import { ApproveRequest, RejectRequest } from '../commands/approvals';
import { payloadHash } from '../commands/system-actions';
import { ApprovalDecisionRefused } from '../events/admin';
import type { ApprovalRow } from '../projections/approvals';
import { CliError, openExisting } from './context';
import { dispatchFromCli, found, printRead } from './dispatch';
import { dim } from './format';

const HEADERS = ['ID', 'ACTION', 'AGENT GROUP', 'SESSION', 'STATUS', 'REQUESTED', 'EXPIRES', 'DECIDED BY'];
const row = (a: ApprovalRow) => [a.approval_id, a.action, a.agent_group_id, a.session_id, a.status, a.requested_at, a.expires_at, a.decided_by ?? ''];
const FLAGS = { approvalId: '<id>', payloadHash: '<id>', reason: '--reason' };

/** The approval as a person reads it: what was asked, exactly what would be applied, and its hash. */
const describe = (a: ApprovalRow) =>
  [
    a.shown_text,
    dim(`status ${a.status} · requested ${a.requested_at} · expires ${a.expires_at} · payload sha256 ${a.payload_hash}`),
    dim(`card ${a.card_status} after ${a.card_attempts} attempt(s)${a.card_error ? ` (${a.card_error})` : ''} · ${a.refused_attempts} refused decision(s)`),
    ...(a.decided_by === null ? [] : [`${a.status} by ${a.decided_by} at ${a.decided_at}${a.reason ? `: ${a.reason}` : ''}`]),
  ].join('\n');

/**
 * Decides as the operator: the payload read from the log is shown, and its hash goes with
 * the decision, so what is applied is exactly what was just printed.
 */
function decide(command: Command, approvalId: string, reason: string | undefined, decision: typeof ApproveRequest | typeof RejectRequest): void {
  const core = openExisting(command);
  let approval: ApprovalRow;
  try {
    approval = found(core.views.approvals.get(approvalId), `approval request ${approvalId}`);
  } finally {
    core.close();
  }
  console.log(describe(approval));
  const hash = payloadHash(JSON.parse(approval.payload));
  dispatchFromCli(
    command,
    (commandId, metadata) => decision.envelope(commandId, { approvalId, payloadHash: hash, reason: reason ?? null }, metadata),
    FLAGS,
    (outcome, core) => {
      const refused = outcome.events.find((e) => e.type === ApprovalDecisionRefused.type);
      if (!refused) return `${decision === ApproveRequest ? 'approved' : 'rejected'} ${approvalId}`;
      const { reason, explanation } = ApprovalDecisionRefused.schema.parse(core.store.readAt(refused.position)!.data);
      throw new CliError(`refused and recorded (${reason}): ${explanation}; see switchyard events --stream approval-${approvalId}`, 1);
    },
  );
}

export function registerApprovals(program: Command): void {
  const approvals = program.command('approvals').description('admin approval requests: install_packages, add_mcp_server, request_rebuild');
  approvals
    .command('list')
    .description('approval requests, oldest first')
    .addOption(new Option('--status <status>', 'only these').choices(['pending', 'approved', 'rejected', 'expired']))
    .option('--json', 'print as JSON')
    .action((options: { status?: ApprovalRow['status']; json?: boolean }, command: Command) =>
      printRead(command, options.json, (core) => core.views.approvals.list(options.status), (list) => ({ headers: HEADERS, rows: list.map(row) })),
    );
  approvals
    .command('show')
    .description('one request: what the agent asked, exactly what approving it applies, and the payload hash')
    .argument('<id>', 'approval id')
    .option('--json', 'print as JSON')
    .action((id: string, options: { json?: boolean }, command: Command) =>
      printRead(command, options.json, (core) => found(core.views.approvals.get(id), `approval request ${id}`), describe),
    );
  for (const [verb, definition] of [['approve', ApproveRequest], ['reject', RejectRequest]] as const) {
    approvals
      .command(verb)
      .description(`${verb} a pending request as the operator (the requester is told; an approval is applied at once)`)
      .argument('<id>', 'approval id')
      .option('--reason <text>', 'why, for the record and the requester')
      .action((id: string, options: { reason?: string }, command: Command) => decide(command, id, options.reason, definition));
  }
}
