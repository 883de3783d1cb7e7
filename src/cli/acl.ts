import type { Command } from 'commander';
import { moment, positionOf } from './context';
import { found, printRead } from './dispatch';

export function registerAcl(program: Command): void {
  program
    .command('acl')
    .description('an agent group’s destination map (its ACL) today or as it was at a moment, with who granted each row')
    .argument('<agent-group>', 'agent group id')
    .option('--at <position|time>', 'as of this log position or ISO-8601 time', moment)
    .option('--json', 'print as JSON')
    .action((agentGroupId: string, options: { at?: ReturnType<typeof moment>; json?: boolean }, command: Command) =>
      printRead(
        command,
        options.json,
        (core) => {
          found(core.views.agentGroups.getIncludingDeleted(agentGroupId), `agent group ${agentGroupId}`);
          const position = options.at === undefined ? core.store.lastPosition() : positionOf(core, options.at);
          return { agentGroupId, position, destinations: core.views.destinations.list(agentGroupId, position) };
        },
        ({ position, destinations }) => ({
          headers: [`NAME (as of #${position})`, 'TYPE', 'TARGET', 'GRANTED AT', 'GRANTED BY', 'GRANTED'],
          rows: destinations.map((d) => [d.local_name, d.target_type, d.target_id, `#${d.granted_at}`, d.granted_by, d.granted_time]),
        }),
      ),
    );
}
