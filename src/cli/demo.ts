import type { Command } from 'commander';
import type { Outcome } from '../commands/bus';
import { AddDestination, RemoveDestination } from '../commands/destinations';
import { openDataDir } from '../core';
import { configFor } from './context';
import { dim, formatTable, ok } from './format';

/**
 * A scripted tour of the core on the data directory: grants, a revocation and a refused
 * duplicate name go through the command bus. Command ids are fixed, so running it again
 * appends nothing and shows every outcome as a duplicate.
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run a short scripted scenario through the command bus into the data directory')
    .option('--json', 'print the outcomes as JSON')
    .action((options: { json?: boolean }, command: Command) => {
      const config = configFor(command);
      const core = openDataDir(config.dataDir, { synchronous: config.synchronous });
      const operator = { actor: 'operator:demo' };
      try {
        const outcomes: Outcome[] = [
          core.bus.dispatch(AddDestination.envelope('demo:grant-family', { agentGroupId: 'ag-demo', localName: 'Family', targetType: 'channel', targetId: 'mg-demo-family' }, operator)),
          core.bus.dispatch(AddDestination.envelope('demo:grant-research', { agentGroupId: 'ag-demo', localName: 'Research Bot', targetType: 'agent', targetId: 'ag-demo-research' }, operator)),
          core.bus.dispatch(AddDestination.envelope('demo:grant-family-again', { agentGroupId: 'ag-demo', localName: 'family', targetType: 'channel', targetId: 'mg-other' }, operator)),
          core.bus.dispatch(RemoveDestination.envelope('demo:revoke-research', { agentGroupId: 'ag-demo', localName: 'research-bot' }, operator)),
        ];
        if (options.json) {
          console.log(JSON.stringify({ dataDir: config.dataDir, outcomes }, null, 2));
          return;
        }
        console.log(`Switchyard demo in ${config.dataDir}\n`);
        console.log(
          formatTable(
            ['COMMAND', 'ID', 'OUTCOME', 'DETAIL'],
            outcomes.map((o) => [
              o.type,
              o.commandId,
              o.duplicate ? dim(`${o.status} (duplicate)`) : o.status === 'accepted' ? ok(o.status) : o.status,
              o.status === 'accepted' ? o.events.map((e) => `${e.type}@${e.position}`).join(' ') : `${o.code}: ${o.message}`,
            ]),
          ),
        );
        const acl = core.views.destinations.list('ag-demo');
        console.log('\nDestination map of ag-demo today:');
        console.log(formatTable(['NAME', 'TYPE', 'TARGET', 'GRANTED AT'], acl.map((d) => [d.local_name, d.target_type, d.target_id, d.granted_at])));
        console.log(dim(`\nNext: switchyard --data-dir ${config.dataDir} events   ·   switchyard --data-dir ${config.dataDir} replay --verify`));
      } finally {
        core.close();
      }
    });
}
