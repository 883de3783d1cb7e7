import type { Command } from 'commander';
import type { SessionRow } from '../projections/sessions';
import { found, printRead } from './dispatch';

const HEADERS = ['ID', 'AGENT GROUP', 'CHAT', 'THREAD', 'MODE', 'STATUS', 'LAST ACTIVE', 'CREATED'];
const row = (s: SessionRow) => [s.id, s.agent_group_id, s.messaging_group_id, s.thread_id, s.session_mode, s.status, s.last_active, s.created_at];

export function registerSessions(program: Command): void {
  const sessions = program.command('sessions').description('conversations: one agent group, one folder each');
  sessions
    .command('list')
    .description('every session, oldest first')
    .option('--agent-group <id>', 'only this agent group')
    .option('--json', 'print as JSON')
    .action((options: { agentGroup?: string; json?: boolean }, command: Command) =>
      printRead(
        command,
        options.json,
        (core) => (options.agentGroup ? core.views.sessions.forAgentGroup(options.agentGroup) : core.views.sessions.list()),
        (list) => ({ headers: HEADERS, rows: list.map(row) }),
      ),
    );
  sessions
    .command('show')
    .description('one session')
    .argument('<id>', 'session id')
    .option('--json', 'print as JSON')
    .action((id: string, options: { json?: boolean }, command: Command) =>
      printRead(command, options.json, (core) => found(core.views.sessions.get(id), `session ${id}`), (session) => ({ headers: HEADERS, rows: [row(session)] })),
    );
}
