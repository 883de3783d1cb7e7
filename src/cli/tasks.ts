import type { Command } from 'commander';
import { CancelTask, PauseTask, ResumeTask, ScheduleTask } from '../commands/tasks';
import type { TaskRow } from '../projections/tasks';
import { firstEventField, dispatchFromCli, printRead } from './dispatch';
import { clip } from './format';

const FLAGS = { sessionId: '--session', prompt: '--prompt', processAfter: '--at', recurrence: '--every', script: '--script' };

const HEADERS = ['TASK', 'SESSION', 'STATUS', 'RECURRENCE', 'NEXT DUE', 'OCCURRENCE', 'PROMPT'];
const row = (t: TaskRow) => [t.task_id, t.session_id, t.status, t.recurrence ?? 'once', t.process_after, t.message_id, clip(t.prompt, 40)];

interface ScheduleOptions {
  session: string;
  prompt: string;
  at?: string;
  every?: string;
  script?: string;
}

export function registerTasks(program: Command): void {
  const tasks = program.command('tasks').description('scheduled messages for an agent: once, or recurring by a cron expression');
  tasks
    .command('schedule')
    .description('schedule a task message in a session (the host wakes the agent when it falls due)')
    .requiredOption('--session <id>', 'the session whose agent gets it')
    .requiredOption('--prompt <text>', 'what the agent is asked')
    .option('--at <time>', 'ISO-8601 time it first falls due (default: now, or the first occurrence of --every)')
    .option('--every <cron>', 'recur by this cron expression, in UTC ("*/5 * * * *", or with seconds first)')
    .option('--script <text>', 'a script the agent runs for it')
    .action((options: ScheduleOptions, command: Command) =>
      dispatchFromCli(
        command,
        (commandId, metadata) =>
          ScheduleTask.envelope(
            commandId,
            {
              sessionId: options.session,
              prompt: options.prompt,
              ...(options.at !== undefined && { processAfter: options.at }),
              ...(options.every !== undefined && { recurrence: options.every }),
              ...(options.script !== undefined && { script: options.script }),
            },
            metadata,
          ),
        FLAGS,
        (outcome, core) => `scheduled task ${firstEventField(core, outcome, 'taskId')} at ${firstEventField(core, outcome, 'processAfter')}`,
      ),
    );
  tasks
    .command('list')
    .description("each task with its latest occurrence: the one that is due next, or ran last")
    .option('--session <id>', 'only this session')
    .option('--json', 'print as JSON')
    .action((options: { session?: string; json?: boolean }, command: Command) =>
      printRead(command, options.json, (core) => core.views.tasks.latest(options.session ? { sessionId: options.session } : {}), (list) => ({ headers: HEADERS, rows: list.map(row) })),
    );
  const changes = [
    ['pause', PauseTask, 'paused', 'pause a task: its pending occurrence waits, and it does not recur, until resumed'],
    ['resume', ResumeTask, 'resumed', 'resume a paused task: its occurrence is pending again (at once, if it is due)'],
    ['cancel', CancelTask, 'cancelled', 'cancel a task: its pending occurrence is completed unrun, and it never recurs again'],
  ] as const;
  for (const [verb, definition, done, description] of changes) {
    tasks
      .command(verb)
      .description(description)
      .argument('<task-id>', 'the task id (`tasks list`)')
      .option('--session <id>', 'the session, when the task id is in more than one')
      .action((taskId: string, options: { session?: string }, command: Command) =>
        dispatchFromCli(
          command,
          (commandId, metadata) => definition.envelope(commandId, { taskId, ...(options.session !== undefined && { sessionId: options.session }) }, metadata),
          { taskId: '<task-id>', sessionId: '--session' },
          (outcome, core) => `${done} task ${taskId} in session ${firstEventField(core, outcome, 'sessionId')}`,
        ),
      );
  }
}
