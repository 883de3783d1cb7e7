import type { Command } from 'commander';
import { StopContainer } from '../commands/containers';
import { ReleaseSession } from '../commands/quarantine';
import type { Core } from '../core';
import { incarnationsOf, type Incarnation } from '../incarnations';
import type { ContainerRow } from '../projections/containers';
import type { SessionRow } from '../projections/sessions';
import { dispatchFromCli, found, printRead } from './dispatch';
import { dim, formatTable } from './format';
import { registerSessionLogs } from './session-logs';

const HEADERS = ['ID', 'AGENT GROUP', 'CHAT', 'THREAD', 'MODE', 'STATUS', 'CONTAINER', 'LAST ACTIVE', 'CREATED'];

type SessionWithContainer = SessionRow & { container: ContainerRow | null };

const withContainer = (core: Core, session: SessionRow): SessionWithContainer => ({ ...session, container: core.views.containers.get(session.id) ?? null });

/** The container column: its status, and why it last stopped. */
const statusCell = (s: SessionRow) => (s.quarantine_reason ? `${s.status} (${s.quarantine_reason}: ${s.quarantine_detail})` : s.status);

const containerCell = ({ container }: SessionWithContainer) =>
  !container ? 'never started' : container.stop_reason && !['starting', 'running', 'idle'].includes(container.status) ? `${container.status} (${container.stop_reason})` : container.status;

const row = (s: SessionWithContainer) => [s.id, s.agent_group_id, s.messaging_group_id, s.thread_id, s.session_mode, statusCell(s), containerCell(s), s.last_active, s.created_at];

/** How its last agent ended, with what it wrote to stderr last: what --json had and people did not see. */
function lastStop({ container }: SessionWithContainer): string[] {
  if (!container?.stopped_at) return [];
  const how = [container.exit_code !== null && `exit code ${container.exit_code}`, container.signal && `signal ${container.signal}`].filter(Boolean).join(', ') || 'no exit status';
  const lines = [`last agent ${container.incarnation_id} stopped at ${container.stopped_at}: ${container.stop_reason ?? 'unknown reason'}, ${how}`];
  if (container.stderr_tail) lines.push(dim('stderr tail (switchyard sessions logs for more):'), ...container.stderr_tail.split('\n').map((line) => `  ${line}`));
  return lines;
}

/** Every start of the session's agent and how each ended: a restart loop shows as a column of the same reason. */
function incarnationLines(incarnations: Incarnation[]): string[] {
  if (incarnations.length === 0) return [];
  const ended = (i: Incarnation) => (i.startFailed ? `start failed: ${i.startFailed}` : i.stopReason ?? 'running');
  const exit = (i: Incarnation) => [i.exitCode !== null && `exit ${i.exitCode}`, i.signal && `signal ${i.signal}`].filter(Boolean).join(', ');
  return [
    '',
    `Incarnations (${incarnations.length}):`,
    formatTable(['INCARNATION', 'RUNTIME', 'WOKEN BY', 'STARTED', 'STOPPED', 'ENDED', 'EXIT'], incarnations.map((i) => [i.incarnationId, i.runtime, i.wokenBy, i.startingAt, i.stoppedAt ?? '', ended(i), exit(i)])),
  ];
}

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
        (core) => (options.agentGroup ? core.views.sessions.forAgentGroup(options.agentGroup) : core.views.sessions.list()).map((s) => withContainer(core, s)),
        (list) => ({ headers: HEADERS, rows: list.map(row) }),
      ),
    );
  sessions
    .command('show')
    .description('one session')
    .argument('<id>', 'session id')
    .option('--json', 'print as JSON')
    .action((id: string, options: { json?: boolean }, command: Command) =>
      printRead(
        command,
        options.json,
        (core) => ({ ...withContainer(core, found(core.views.sessions.get(id), `session ${id}`)), incarnations: incarnationsOf(core, id) }),
        (session) =>
          [
            formatTable(HEADERS, [row(session)]),
            '',
            `Image: ${session.container?.image ?? 'none yet (never started)'}`,
            ...lastStop(session),
            ...incarnationLines(session.incarnations),
          ].join('\n'),
      ),
    );
  registerSessionLogs(sessions);
  sessions
    .command('release')
    .description('after fixing a quarantined session folder: the host writes it anew from the log and resumes it')
    .argument('<id>', 'session id')
    .action((id: string, _options: unknown, command: Command) =>
      dispatchFromCli(command, (commandId, metadata) => ReleaseSession.envelope(commandId, { sessionId: id }, metadata), { sessionId: '<id>' }, () => `released ${id}`),
    );
  sessions
    .command('stop')
    .description("stop the session's agent (recorded with reason operator); the next message starts a fresh one")
    .argument('<id>', 'session id')
    .action((id: string, _options: unknown, command: Command) =>
      dispatchFromCli(command, (commandId, metadata) => StopContainer.envelope(commandId, { sessionId: id, reason: 'operator' }, metadata), { sessionId: '<id>' }, () => `asked the agent of ${id} to stop`),
    );
}
