import type { Command } from 'commander';
import { AddDestination, RemoveDestination } from '../commands/destinations';
import { CliError } from './context';
import { dispatchFromCli, found, printRead } from './dispatch';

const FLAGS = { agentGroupId: '<agent-group>', localName: '<name>', targetType: '--channel/--agent', targetId: '--channel/--agent' };

export function registerDestinations(program: Command): void {
  const destinations = program.command('destinations').description('an agent group’s named destinations: its routing map and its ACL');
  destinations
    .command('list')
    .description('the destination map of an agent group today')
    .argument('<agent-group>', 'agent group id')
    .option('--json', 'print as JSON')
    .action((agentGroupId: string, options: { json?: boolean }, command: Command) =>
      printRead(command, options.json, (core) => {
        found(core.views.agentGroups.get(agentGroupId), `agent group ${agentGroupId}`);
        return core.views.destinations.list(agentGroupId);
      }, (list) => ({
        headers: ['NAME', 'TYPE', 'TARGET', 'GRANTED AT', 'GRANTED BY', 'GRANTED'],
        rows: list.map((d) => [d.local_name, d.target_type, d.target_id, `#${d.granted_at}`, d.granted_by, d.granted_time]),
      })),
    );
  destinations
    .command('add')
    .description('grant an agent group a named route to a chat or another agent group')
    .argument('<agent-group>', 'agent group id')
    .argument('<name>', 'the local name (normalized: lowercase, dashes)')
    .option('--channel <chat>', 'the target chat (messaging group id)')
    .option('--agent <agent-group>', 'the target agent group id')
    .action((agentGroupId: string, localName: string, options: { channel?: string; agent?: string }, command: Command) => {
      if ((options.channel === undefined) === (options.agent === undefined)) throw new CliError('give exactly one target: --channel <chat> or --agent <agent-group>', 2);
      const target = options.channel !== undefined ? { targetType: 'channel' as const, targetId: options.channel } : { targetType: 'agent' as const, targetId: options.agent! };
      dispatchFromCli(
        command,
        (commandId, metadata) => AddDestination.envelope(commandId, { agentGroupId, localName, ...target }, metadata),
        FLAGS,
        (outcome, core) => `granted ${agentGroupId} destination "${(core.store.readAt(outcome.events[0]!.position)!.data as { localName: string }).localName}"`,
      );
    });
  destinations
    .command('remove')
    .description('revoke a destination (the ACL keeps its history)')
    .argument('<agent-group>', 'agent group id')
    .argument('<name>', 'the local name')
    .action((agentGroupId: string, localName: string, _options: unknown, command: Command) =>
      dispatchFromCli(command, (commandId, metadata) => RemoveDestination.envelope(commandId, { agentGroupId, localName }, metadata), FLAGS, () => `revoked ${agentGroupId} destination "${localName}"`),
    );
}
