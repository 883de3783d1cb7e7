import { Option, type Command } from 'commander';
import { UnwireChannel, WireChannel } from '../commands/messaging-groups';
import { ResponseScope, SessionMode } from '../events/primitives';
import { dispatchFromCli, printRead } from './dispatch';

const FLAGS = {
  messagingGroupId: '--chat',
  agentGroupId: '--agent-group',
  triggerRules: '--pattern',
  sessionMode: '--session-mode',
  priority: '--priority',
  responseScope: '--response-scope',
};

interface AddOptions {
  chat: string;
  agentGroup: string;
  pattern?: string;
  requiresTrigger?: boolean;
  sessionMode: string;
  priority: string;
  responseScope: string;
}

export function registerWirings(program: Command): void {
  const wirings = program.command('wirings').description('which agent groups answer in which chats');
  wirings
    .command('list')
    .description('every wiring, in routing order per chat')
    .option('--agent-group <id>', 'only this agent group')
    .option('--chat <id>', 'only this chat')
    .option('--json', 'print as JSON')
    .action((options: { agentGroup?: string; chat?: string; json?: boolean }, command: Command) =>
      printRead(
        command,
        options.json,
        (core) =>
          core.views.wirings.list().filter((w) => (!options.agentGroup || w.agentGroupId === options.agentGroup) && (!options.chat || w.messagingGroupId === options.chat)),
        (list) => ({
          headers: ['CHAT', 'AGENT GROUP', 'PRIORITY', 'SESSION MODE', 'TRIGGER', 'REQUIRED', 'SCOPE'],
          rows: list.map((w) => [w.messagingGroupId, w.agentGroupId, w.priority, w.sessionMode, w.triggerRules.pattern ?? '', w.triggerRules.requiresTrigger ? 'yes' : '', w.responseScope]),
        }),
      ),
    );
  wirings
    .command('add')
    .description('wire a chat to an agent group (also grants the agent a destination for the chat)')
    .requiredOption('--chat <id>', 'messaging group id')
    .requiredOption('--agent-group <id>', 'agent group id')
    .option('--pattern <regex>', 'trigger pattern: a case-insensitive regular expression in RE2 syntax (no backreferences or lookaround)')
    .option('--requires-trigger', 'only messages matching --pattern reach the agent')
    .addOption(new Option('--session-mode <mode>', 'one session per chat, per thread, or per agent group').choices(SessionMode.options).default('shared'))
    .addOption(new Option('--response-scope <scope>', 'response scope').choices(ResponseScope.options).default('all'))
    .option('--priority <n>', 'higher is considered first', '0')
    .action((options: AddOptions, command: Command) =>
      dispatchFromCli(
        command,
        (commandId, metadata) =>
          WireChannel.envelope(
            commandId,
            {
              messagingGroupId: options.chat,
              agentGroupId: options.agentGroup,
              triggerRules: { requiresTrigger: options.requiresTrigger ?? false, ...(options.pattern !== undefined && { pattern: options.pattern }) },
              sessionMode: options.sessionMode as SessionMode,
              responseScope: options.responseScope as 'all',
              priority: Number(options.priority),
            },
            metadata,
          ),
        FLAGS,
        (outcome, core) => {
          const granted = outcome.events.find((e) => e.type === 'DestinationAdded');
          const name = granted && (core.store.readAt(granted.position)!.data as { localName: string }).localName;
          return `wired ${options.chat} → ${options.agentGroup}${name ? `; granted destination "${name}"` : ''}`;
        },
      ),
    );
  wirings
    .command('remove')
    .description('unwire a chat from an agent group (its destination stays until removed)')
    .requiredOption('--chat <id>', 'messaging group id')
    .requiredOption('--agent-group <id>', 'agent group id')
    .action((options: { chat: string; agentGroup: string }, command: Command) =>
      dispatchFromCli(
        command,
        (commandId, metadata) => UnwireChannel.envelope(commandId, { messagingGroupId: options.chat, agentGroupId: options.agentGroup }, metadata),
        FLAGS,
        () => `unwired ${options.chat} → ${options.agentGroup}`,
      ),
    );
}
