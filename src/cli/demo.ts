import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { filter, firstValueFrom, take, timeout, toArray } from 'rxjs';
import { TerminalChannel } from '../adapters/channels/terminal';
import { CreateAgentGroup } from '../commands/agent-groups';
import { RegisterMessagingGroup, WireChannel } from '../commands/messaging-groups';
import type { Core } from '../core';
import { DeliverySucceeded } from '../events/delivery';
import { OutboundDropped } from '../events/outbound';
import { Host } from '../host';
import { createLogger } from '../logger';
import { auditTable } from './audit';
import { configFor } from './context';
import { bold, dim, ok } from './format';

const AGENT = 'ag-demo-andy';
/** The set-up, with fixed command ids: a second run appends nothing. */
const SETUP = [
  CreateAgentGroup.envelope('demo:agent', { agentGroupId: AGENT, name: 'Andy', folder: 'demo-andy' }, { actor: 'operator:demo' }),
  RegisterMessagingGroup.envelope('demo:terminal', { messagingGroupId: 'mg-demo-terminal', channelType: 'cli', platformId: 'terminal', name: 'Terminal' }, { actor: 'operator:demo' }),
  WireChannel.envelope('demo:wire', { messagingGroupId: 'mg-demo-terminal', agentGroupId: AGENT }, { actor: 'operator:demo' }),
];
/** One message the agent answers, one it addresses to a name its map lacks (dropped by the host). */
const SCRIPT = ['hello Andy, are you there?', '@to:nowhere psst, anybody out there?'];
const ANSWER_TIMEOUT_MS = 60_000;

/** Resolves once `count` outbound rows after `after` have reached an end: delivered or dropped. */
function outboundSettled(core: Core, after: number, count: number): Promise<unknown> {
  const settled = (type: string) => type === DeliverySucceeded.type || type === OutboundDropped.type;
  return firstValueFrom(
    core.store.subscribe({ after, pollIntervalMs: 50 }).pipe(
      filter((event) => settled(event.type)),
      take(count),
      toArray(),
      timeout({ first: ANSWER_TIMEOUT_MS, with: () => Promise.reject(new Error(`no answer within ${ANSWER_TIMEOUT_MS / 1000} s: see the host's log above`)) }),
    ),
  );
}

/**
 * The main job on the embedded default: the host on ./data with the built-in echo agent
 * (a child process unless Docker answers) and a chat on this terminal. It sends two
 * messages, shows the answer and the audit trail, then lets you type when on a terminal.
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the host with a built-in agent wired to a chat on this terminal: see a message go in, get answered, and audited')
    .option('--message <text...>', 'the messages to send first (default: a greeting, and one to a name the agent lacks)')
    .option('--no-interactive', 'exit after the first messages even on a terminal')
    .action(async (options: { message?: string[]; interactive: boolean }, command: Command) => {
      const config = configFor(command);
      const logger = createLogger(process.env.SWITCHYARD_LOG_LEVEL ?? 'warn');
      const terminal = new TerminalChannel({ platformId: 'terminal', show: (_chat, text) => console.log(`${bold('andy>')} ${text}`) });
      const host = await Host.start(config, { channels: [terminal], logger });
      try {
        for (const result of host.core.bus.dispatchBatch(SETUP)) if (result.status === 'failed') throw result.error;
        console.log(`Switchyard demo: data in ${config.dataDir}, agents run as ${host.runtime.kind === 'docker' ? 'containers' : 'child processes'}, the echo agent answers.\n`);
        console.log(dim('A message starting @to:<name> makes the echo agent write to <name> instead of answering you: the second one below names a destination its map lacks, so the host drops it and says why.\n'));
        const messages = options.message ?? SCRIPT;
        const before = host.core.store.lastPosition();
        const answered = outboundSettled(host.core, before, messages.length);
        for (const text of messages) {
          console.log(`${bold('you>')}  ${text}`);
          await terminal.say(text);
        }
        await answered;
        console.log(`\n${ok('Audit trail')} of this run (npx switchyard --data-dir ${config.dataDir} audit):`);
        console.log(auditTable([...host.core.views.audit.query({})].filter((row) => row.decided_position > before)));
        console.log(dim(`\nNext: npx switchyard --data-dir ${config.dataDir} explain <message>   ·   status   ·   acl ${AGENT}   ·   what-if --remove ${AGENT}:terminal`));
        if (options.interactive && process.stdin.isTTY) await chat(terminal);
      } finally {
        await host.stop();
      }
    });
}

/** Type messages to the agent until Ctrl-D. */
async function chat(terminal: TerminalChannel): Promise<void> {
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  console.log(dim('\nType a message for Andy, or @to:<name> <text> to make it write to <name> (Ctrl-D to stop).'));
  try {
    for await (const line of prompt) if (line.trim()) await terminal.say(line.trim());
  } finally {
    prompt.close();
  }
}
