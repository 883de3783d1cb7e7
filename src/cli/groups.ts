import { InvalidArgumentError, type Command } from 'commander';
import { CreateAgentGroup, DeleteAgentGroup, UpdateAgentGroup } from '../commands/agent-groups';
import { RequestImageRebuild } from '../commands/images';
import type { AgentGroup } from '../projections/agent-groups';
import type { ImageBuildRow } from '../projections/images';
import { dispatchFromCli, firstEventField, found, printRead } from './dispatch';
import { formatTable } from './format';

const row = (g: AgentGroup) => [g.id, g.name, g.folder, g.isAdmin ? 'yes' : '', g.agentProvider ?? ''];
/** The image a new session of the group starts in, in the order WakeSession picks it, and why. */
const imageInUse = (group: AgentGroup, build: ImageBuildRow | null) =>
  group.containerConfig.imageTag
    ? group.containerConfig.imageTag
    : build
      ? `${build.tag} (built ${build.finished_at} from ${build.packages})`
      : "the host's default (SWITCHYARD_AGENT_IMAGE)";

const HEADERS = ['ID', 'NAME', 'FOLDER', 'ADMIN', 'PROVIDER'];

/** A group as the CLI prints it: an MCP server's env values may be secrets, so only their names are shown. */
const masked = (g: AgentGroup): AgentGroup => ({
  ...g,
  containerConfig: {
    ...g.containerConfig,
    mcpServers: Object.fromEntries(
      Object.entries(g.containerConfig.mcpServers).map(([name, server]) => [name, { ...server, env: Object.fromEntries(Object.keys(server.env).map((key) => [key, '***'])) }]),
    ),
  },
});
const mcpServers = (g: AgentGroup) =>
  Object.entries(g.containerConfig.mcpServers)
    .map(([name, server]) => `${name} (${[server.command, ...server.args].join(' ')}${Object.keys(server.env).length > 0 ? `; env ${Object.entries(server.env).map(([key, value]) => `${key}=${value}`).join(' ')}` : ''})`)
    .join(', ') || 'none';
const FLAGS = { name: '--name', folder: '--folder', isAdmin: '--admin', agentProvider: '--provider', agentGroupId: '--id', maxHops: '--max-hops', outboundPerMinute: '--max-rate', image: '--image', network: '--network' };

export function registerGroups(program: Command): void {
  const groups = program.command('groups').description('agent groups: an agent’s identity and workspace');
  groups
    .command('list')
    .description('every agent group')
    .option('--json', 'print as JSON')
    .action((options: { json?: boolean }, command: Command) =>
      printRead(command, options.json, (core) => core.views.agentGroups.list().map(masked), (list) => ({ headers: HEADERS, rows: list.map(row) })),
    );
  groups
    .command('show')
    .description('one agent group with its wirings, destinations and sessions')
    .argument('<id>', 'agent group id')
    .option('--json', 'print as JSON')
    .action((id: string, options: { json?: boolean }, command: Command) =>
      printRead(
        command,
        options.json,
        (core) => ({
          group: masked(found(core.views.agentGroups.get(id), `agent group ${id}`)),
          wirings: core.views.wirings.forAgentGroup(id),
          destinations: core.views.destinations.list(id),
          sessions: core.views.sessions.forAgentGroup(id),
          build: core.views.images.current(id) ?? null,
        }),
        ({ group, wirings, destinations, sessions, build }) =>
          [
            formatTable(HEADERS, [row(group)]),
            `\nImage: ${imageInUse(group, build)}`,
            `Network: ${group.containerConfig.network ?? 'none (the default)'} (docker runtime only: the process runtime ignores it, its agents share the host's network)`,
            `MCP servers: ${mcpServers(group)}`,
            '\nWirings:',
            formatTable(['CHAT', 'PRIORITY', 'SESSION MODE', 'TRIGGER'], wirings.map((w) => [w.messagingGroupId, w.priority, w.sessionMode, w.triggerRules.pattern ?? ''])),
            '\nDestinations:',
            formatTable(['NAME', 'TYPE', 'TARGET'], destinations.map((d) => [d.local_name, d.target_type, d.target_id])),
            '\nSessions:',
            formatTable(['ID', 'CHAT', 'THREAD', 'STATUS', 'LAST ACTIVE'], sessions.map((s) => [s.id, s.messaging_group_id, s.thread_id, s.status, s.last_active])),
          ].join('\n'),
      ),
    );
  groups
    .command('create')
    .description('create an agent group')
    .requiredOption('--name <name>', 'display name')
    .requiredOption('--folder <folder>', 'its folder under groups/: letters, digits, - and _')
    .option('--admin', 'an admin agent group (may create agents, approves requests)')
    .option('--provider <provider>', 'agent provider')
    .option('--id <id>', 'the id to use (default: a new ag-… id)')
    .action((options: { name: string; folder: string; admin?: boolean; provider?: string; id?: string }, command: Command) =>
      dispatchFromCli(
        command,
        (commandId, metadata) =>
          CreateAgentGroup.envelope(
            commandId,
            {
              name: options.name,
              folder: options.folder,
              isAdmin: options.admin ?? false,
              ...(options.provider !== undefined && { agentProvider: options.provider }),
              ...(options.id !== undefined && { agentGroupId: options.id }),
            },
            metadata,
          ),
        FLAGS,
        (outcome, core) => `created agent group ${firstEventField(core, outcome, 'agentGroupId')}`,
      ),
    );
  groups
    .command('update')
    .description('rename an agent group or change its admin flag, provider, loop limits, image or network')
    .argument('<id>', 'agent group id')
    .option('--name <name>', 'new display name')
    .option('--admin', 'make it an admin group')
    .option('--no-admin', 'make it an ordinary group')
    .option('--provider <provider>', 'agent provider')
    .option('--max-hops <n>', 'agent-to-agent hops a chain may take before its answers are dropped (loop-limit); "default" for the host default (8)', limitOption)
    .option('--max-rate <n>', 'outbound rows a session may write a minute (rate-limited); "default" for the host default (60)', limitOption)
    .option('--image <ref>', 'docker image its sessions run in, name[:tag][@digest]; "default" for the host default (SWITCHYARD_AGENT_IMAGE)')
    .option('--network <network>', 'docker network its containers join from their next start: none, bridge, host or a network name; "default" for none')
    .action((id: string, options: { name?: string; admin?: boolean; provider?: string; maxHops?: Limit; maxRate?: Limit; image?: string; network?: string }, command: Command) =>
      dispatchFromCli(
        command,
        (commandId, metadata) =>
          UpdateAgentGroup.envelope(
            commandId,
            {
              agentGroupId: id,
              ...(options.name !== undefined && { name: options.name }),
              ...(options.admin !== undefined && { isAdmin: options.admin }),
              ...(options.provider !== undefined && { agentProvider: options.provider }),
              ...(options.maxHops !== undefined && { maxHops: orHostDefault(options.maxHops) }),
              ...(options.maxRate !== undefined && { outboundPerMinute: orHostDefault(options.maxRate) }),
              ...(options.image !== undefined && { image: orHostDefault(options.image) }),
              ...(options.network !== undefined && { network: orHostDefault(options.network) }),
            },
            metadata,
          ),
        FLAGS,
        () => `updated agent group ${id}`,
      ),
    );
  groups
    .command('rebuild')
    .description("build the group's image again from its approved packages (docker runtime; recorded, the host builds it)")
    .argument('<id>', 'agent group id')
    .action((id: string, _options: unknown, command: Command) =>
      dispatchFromCli(command, (commandId, metadata) => RequestImageRebuild.envelope(commandId, { agentGroupId: id }, metadata), FLAGS, () => `asked for a rebuild of the image of ${id}`),
    );
  groups
    .command('remove')
    .description('delete an agent group (unwire it first)')
    .argument('<id>', 'agent group id')
    .action((id: string, _options: unknown, command: Command) =>
      dispatchFromCli(command, (commandId, metadata) => DeleteAgentGroup.envelope(commandId, { agentGroupId: id }, metadata), FLAGS, () => `deleted agent group ${id}`),
    );
}

type Limit = number | 'default';

/** A limit as typed: a whole number (the schema checks its range), or `default` to clear it. */
function limitOption(value: string): Limit {
  if (value === 'default') return value;
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number or "default"');
  return Number(value);
}

/**
 * `default` clears a setting (null: the host's default). The mapping is done here, not in
 * an option parser: commander turns a parser's null into ''.
 */
function orHostDefault<T>(value: T | 'default'): Exclude<T, 'default'> | null {
  return value === 'default' ? null : (value as Exclude<T, 'default'>);
}
