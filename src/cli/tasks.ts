import type { Command } from 'commander';
import { ScheduleTask } from '../commands/tasks';
import { firstEventField, dispatchFromCli } from './dispatch';

const FLAGS = { sessionId: '--session', prompt: '--prompt', processAfter: '--at', recurrence: '--every', script: '--script' };

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
}
