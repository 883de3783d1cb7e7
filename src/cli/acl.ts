import type { Command } from 'commander';
import type { DestinationRow } from '../projections/destinations';
import { moment, positionOf, type Moment } from './context';
import { found, printRead } from './dispatch';
import { dim, formatTable } from './format';

interface AclOptions {
  at?: Moment;
  history?: boolean;
  json?: boolean;
}

/** Which event the table stands at, in words: a person must see the moment their --at resolved to. */
function describeMoment(position: number, recordedAt: string | undefined, firstAt: string | undefined): string {
  if (position === 0) return firstAt ? `before the log's first event (#1 at ${firstAt})` : 'an empty log';
  return `#${position}${recordedAt ? ` (recorded ${recordedAt})` : ''}`;
}

const granted = (d: DestinationRow) => [d.local_name, d.target_type, d.target_id, `#${d.granted_at}`, d.granted_by, d.granted_time];

export function registerAcl(program: Command): void {
  program
    .command('acl')
    .description('an agent group’s destination map (its ACL) today or as it was at a moment, with who granted (and, with --history, revoked) each row')
    .argument('<agent-group>', 'agent group id')
    .option('--at <position|time>', 'as of this log position or ISO-8601 time (a date is its midnight UTC)', moment)
    .option('--history', 'also the rows revoked by then, with who revoked them')
    .option('--json', 'print as JSON')
    .action((agentGroupId: string, options: AclOptions, command: Command) =>
      printRead(
        command,
        options.json,
        (core) => {
          found(core.views.agentGroups.getIncludingDeleted(agentGroupId), `agent group ${agentGroupId}`);
          const position = options.at === undefined ? core.store.lastPosition() : positionOf(core, options.at);
          const destinations = options.history ? core.views.destinations.history(agentGroupId, position) : core.views.destinations.list(agentGroupId, position);
          const asOf = describeMoment(position, core.store.readAt(position)?.metadata.recordedAt, core.store.readAt(1)?.metadata.recordedAt);
          return { agentGroupId, position, asOf, destinations };
        },
        ({ agentGroupId: id, asOf, destinations }) => {
          const title = `ACL of ${id} as of ${asOf}`;
          if (destinations.length === 0) return `${title}\n${dim('no destinations')}`;
          const table = options.history
            ? formatTable(['NAME', 'TYPE', 'TARGET', 'GRANTED AT', 'GRANTED BY', 'GRANTED', 'REVOKED AT', 'REVOKED BY', 'REVOKED'], destinations.map((d) => [...granted(d), d.revoked_at === null ? '' : `#${d.revoked_at}`, d.revoked_by, d.revoked_time]))
            : formatTable(['NAME', 'TYPE', 'TARGET', 'GRANTED AT', 'GRANTED BY', 'GRANTED'], destinations.map(granted));
          return `${title}\n${table}`;
        },
      ),
    );
}
