import type { Command } from 'commander';
import { CreateAgentGroup } from '../commands/agent-groups';
import type { Outcome } from '../commands/bus';
import type { CommandEnvelope } from '../commands/define';
import { AddDestination, RemoveDestination } from '../commands/destinations';
import { receiveInbound } from '../commands/inbound';
import { RegisterMessagingGroup, WireChannel } from '../commands/messaging-groups';
import { openDataDir } from '../core';
import { configFor } from './context';
import { dim, formatTable, ok } from './format';

const operator = { actor: 'operator:demo' };

/** The scripted scenario: every command id is fixed, so a second run appends nothing. */
const SCRIPT: CommandEnvelope[] = [
  CreateAgentGroup.envelope('demo:ag-andy', { agentGroupId: 'ag-demo-andy', name: 'Andy', folder: 'demo-andy' }, operator),
  CreateAgentGroup.envelope('demo:ag-research', { agentGroupId: 'ag-demo-research', name: 'Research', folder: 'demo-research' }, operator),
  RegisterMessagingGroup.envelope('demo:chat-family', { messagingGroupId: 'mg-demo-family', channelType: 'cli', platformId: 'family', name: 'Family', isGroup: true }, operator),
  WireChannel.envelope('demo:wire-family', { messagingGroupId: 'mg-demo-family', agentGroupId: 'ag-demo-andy', triggerRules: { pattern: '^@andy\\b', requiresTrigger: true } }, operator),
  AddDestination.envelope('demo:grant-research', { agentGroupId: 'ag-demo-andy', localName: 'Research Bot', targetType: 'agent', targetId: 'ag-demo-research' }, operator),
  AddDestination.envelope('demo:grant-family-again', { agentGroupId: 'ag-demo-andy', localName: 'family', targetType: 'agent', targetId: 'ag-demo-research' }, operator),
  receiveInbound({ channelType: 'cli', platformId: 'family', messageId: 'demo-1', content: { text: '@Andy what is for dinner?' }, timestamp: '2026-11-24T18:00:00.000Z' }),
  receiveInbound({ channelType: 'cli', platformId: 'family', messageId: 'demo-2', content: { text: 'nobody called the bot' }, timestamp: '2026-11-24T18:01:00.000Z' }),
  RemoveDestination.envelope('demo:revoke-research', { agentGroupId: 'ag-demo-andy', localName: 'research-bot' }, operator),
];

const detail = (outcome: Outcome) =>
  outcome.status === 'accepted' ? outcome.events.map((e) => `${e.type}@${e.position}`).join(' ') : `${outcome.code}: ${outcome.message}`;

/**
 * A scripted tour of the core on the data directory: agent groups, a wired chat, a
 * granted and revoked destination, a refused duplicate name, a routed and a dropped
 * inbound message, all through the command bus.
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run a short scripted scenario through the command bus into the data directory')
    .option('--json', 'print the outcomes as JSON')
    .action((options: { json?: boolean }, command: Command) => {
      const config = configFor(command);
      const core = openDataDir(config.dataDir, { synchronous: config.synchronous });
      try {
        const outcomes = core.bus.dispatchBatch(SCRIPT).map((result) => {
          if (result.status === 'failed') throw result.error;
          return result;
        });
        if (options.json) {
          console.log(JSON.stringify({ dataDir: config.dataDir, outcomes }, null, 2));
          return;
        }
        console.log(`Switchyard demo in ${config.dataDir}\n`);
        console.log(
          formatTable(
            ['COMMAND', 'ID', 'OUTCOME', 'DETAIL'],
            outcomes.map((o) => [o.type, o.commandId, o.duplicate ? dim(`${o.status} (duplicate)`) : o.status === 'accepted' ? ok(o.status) : o.status, detail(o)]),
          ),
        );
        const acl = core.views.destinations.list('ag-demo-andy');
        console.log('\nDestination map (ACL) of Andy today:');
        console.log(formatTable(['NAME', 'TYPE', 'TARGET', 'GRANTED AT'], acl.map((d) => [d.local_name, d.target_type, d.target_id, d.granted_at])));
        console.log(dim(`\nNext: switchyard --data-dir ${config.dataDir} events   ·   switchyard --data-dir ${config.dataDir} replay --verify`));
      } finally {
        core.close();
      }
    });
}
