import type { Command } from 'commander';
import { RegisterMessagingGroup, UpdateMessagingGroup } from '../commands/messaging-groups';
import type { MessagingGroupRow } from '../projections/messaging-groups';
import { dispatchFromCli, firstEventField, found, printRead } from './dispatch';
import { formatTable } from './format';

const row = (c: MessagingGroupRow) => [c.id, c.channel_type, c.platform_id, c.name ?? '', c.is_group ? 'yes' : '', c.admin_user_id ?? '', c.registered_by];
const HEADERS = ['ID', 'CHANNEL', 'PLATFORM ID', 'NAME', 'GROUP', 'ADMIN USER', 'REGISTERED BY'];
const FLAGS = { channelType: '--channel-type', platformId: '--platform-id', name: '--name', isGroup: '--group', adminUserId: '--admin-user', messagingGroupId: '--id' };

export function registerChannels(program: Command): void {
  const channels = program.command('channels').description('chats on platforms (messaging groups)');
  channels
    .command('list')
    .description('every registered chat')
    .option('--json', 'print as JSON')
    .action((options: { json?: boolean }, command: Command) =>
      printRead(command, options.json, (core) => core.views.messagingGroups.list(), (list) => ({ headers: HEADERS, rows: list.map(row) })),
    );
  channels
    .command('show')
    .description('one chat with the agent groups wired to it')
    .argument('<id>', 'messaging group id')
    .option('--json', 'print as JSON')
    .action((id: string, options: { json?: boolean }, command: Command) =>
      printRead(
        command,
        options.json,
        (core) => ({ chat: found(core.views.messagingGroups.get(id), `messaging group ${id}`), wirings: core.views.wirings.forMessagingGroup(id) }),
        ({ chat, wirings }) =>
          [
            formatTable(HEADERS, [row(chat)]),
            '\nWired agent groups (in routing order):',
            formatTable(['AGENT GROUP', 'PRIORITY', 'SESSION MODE', 'TRIGGER', 'REQUIRED'], wirings.map((w) => [w.agentGroupId, w.priority, w.sessionMode, w.triggerRules.pattern ?? '', w.triggerRules.requiresTrigger ? 'yes' : ''])),
          ].join('\n'),
      ),
    );
  channels
    .command('register')
    .description('register a chat before its first message arrives')
    .requiredOption('--channel-type <type>', 'telegram, slack, webhook, cli …')
    .requiredOption('--platform-id <id>', 'the platform’s id for the chat')
    .option('--name <name>', 'display name')
    .option('--group', 'a group chat')
    .option('--admin-user <id>', 'the platform user who may decide approvals here')
    .option('--id <id>', 'the id to use (default: a new mg-… id)')
    .action((options: { channelType: string; platformId: string; name?: string; group?: boolean; adminUser?: string; id?: string }, command: Command) =>
      dispatchFromCli(
        command,
        (commandId, metadata) =>
          RegisterMessagingGroup.envelope(
            commandId,
            {
              channelType: options.channelType,
              platformId: options.platformId,
              isGroup: options.group ?? false,
              ...(options.name !== undefined && { name: options.name }),
              ...(options.adminUser !== undefined && { adminUserId: options.adminUser }),
              ...(options.id !== undefined && { messagingGroupId: options.id }),
            },
            metadata,
          ),
        FLAGS,
        (outcome, core) => `registered chat ${firstEventField(core, outcome, 'messagingGroupId')}`,
      ),
    );
  channels
    .command('update')
    .description('rename a chat or set its admin user')
    .argument('<id>', 'messaging group id')
    .option('--name <name>', 'display name')
    .option('--admin-user <id>', 'the platform user who may decide approvals here')
    .action((id: string, options: { name?: string; adminUser?: string }, command: Command) =>
      dispatchFromCli(
        command,
        (commandId, metadata) =>
          UpdateMessagingGroup.envelope(
            commandId,
            { messagingGroupId: id, ...(options.name !== undefined && { name: options.name }), ...(options.adminUser !== undefined && { adminUserId: options.adminUser }) },
            metadata,
          ),
        FLAGS,
        () => `updated chat ${id}`,
      ),
    );
}
