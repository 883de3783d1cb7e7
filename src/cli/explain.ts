import type { Command } from 'commander';
import { InboundDropped } from '../events/inbound';
import { explainMessage, summary, type Explanation } from '../explain';
import { colorOutcome } from './audit';
import { CliError, openExisting } from './context';
import { bad, clip, dim, formatTable, ok } from './format';

const quote = (text: string) => JSON.stringify(clip(text, 200));

function print(explanation: Explanation): void {
  const { audit, steps } = explanation;
  console.log(`${audit.direction} message ${audit.message_id}  ${colorOutcome(audit.outcome)}${audit.reason ? ` (${audit.reason})` : ''}`);
  console.log(dim(`  command ${audit.audit_id} · agent group ${audit.agent_group_id ?? '-'} · session ${audit.session_id ?? '-'} · target ${audit.target ?? '-'}${audit.platform_message_id ? ` · platform id ${audit.platform_message_id}` : ''}`));
  if (explanation.text !== null) console.log(`  text: ${quote(explanation.text)}`);
  const cause = explanation.inReplyTo;
  if (cause) {
    const from = cause.sender ? ` from ${cause.sender}` : '';
    console.log(`  in reply to ${cause.messageId}${cause.platformMessageId ? ` (platform id ${cause.platformMessageId})` : ''} ${cause.outcome}${from}${cause.text !== null ? `: ${quote(cause.text)}` : ''}`);
  }
  for (const step of steps) {
    console.log(`  #${step.event.position}  ${step.event.metadata.recordedAt}  ${step.event.type}  ${summary(step.event)}`);
    if (InboundDropped.is(step.event)) {
      for (const wiring of step.event.data.evidence.wirings) {
        const pattern = wiring.triggerPattern === null ? 'no pattern' : `pattern ${wiring.triggerPattern}`;
        console.log(`      tried ${wiring.agentGroupId} (priority ${wiring.priority}): ${pattern}${wiring.requiresTrigger ? '' : ', trigger not required'}${wiring.triggerRefused ? `: RE2 refused it: ${wiring.triggerRefused}` : ''}`);
      }
    }
    if (step.aclAtDecision) {
      console.log(dim(`      ACL of ${(step.event.data as { agentGroupId: string }).agentGroupId} as of #${step.event.position - 1}:`));
      const rows = step.aclAtDecision.map((d) => [d.local_name, d.target_type, d.target_id, `#${d.granted_at} by ${d.granted_by}`]);
      console.log(rows.length ? formatTable(['NAME', 'TYPE', 'TARGET', 'GRANTED'], rows).replace(/^/gm, '        ') : dim('        (empty)'));
    }
    if (step.rejudged) {
      const { asOfDecision, reproduced, today, differsToday } = step.rejudged;
      if (asOfDecision !== undefined) {
        console.log(`      re-run against the ACL as of #${step.event.position - 1}: ${asOfDecision} ${reproduced ? ok('(the recorded answer)') : bad('(DIFFERS from the record)')}`);
      }
      console.log(`      re-run against today's state: ${today} ${differsToday ? bad('(would differ now)') : dim('(same today)')}`);
    }
    if (step.revokedBy) {
      const { destination } = step.revokedBy;
      console.log(`      revoked: destination "${destination.local_name}" by ${destination.revoked_by} at #${destination.revoked_at} (${destination.revoked_time})`);
    }
  }
}

export function registerExplain(program: Command): void {
  program
    .command('explain')
    .description("a message's whole story: received, routed or dropped and by which rule, delivery attempts, outcome, with the ACL at each decision")
    .argument('<message-id>', 'the host message id, the messages_out id, the command id or the platform message id')
    .option('--json', 'print the explanation as JSON')
    .action((id: string, options: { json?: boolean }, command: Command) => {
      const core = openExisting(command);
      try {
        const explanations = explainMessage(core, id);
        if (explanations.length === 0) throw new CliError(`no message ${id} in the audit trail`);
        if (options.json) console.log(JSON.stringify(explanations, null, 2));
        else explanations.forEach(print);
      } finally {
        core.close();
      }
    });
}
