#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { CommandIdConflictError, CommandValidationError } from '../commands/bus';
import { ConfigError } from '../config';
import { DatabaseNeedsMigrationError } from '../core';
import { packageRoot } from '../db/package-root';
import { NotADatabaseError } from '../db/sqlite';
import { CliError } from './context';
import { registerAcl } from './acl';
import { registerApprovals } from './approvals';
import { registerAudit } from './audit';
import { registerChannels } from './channels';
import { registerCompletion } from './completion';
import { registerConsole } from './console';
import { registerDeliveries } from './deliveries';
import { registerDemo } from './demo';
import { registerDestinations } from './destinations';
import { registerDoctor } from './doctor';
import { registerEvents } from './events';
import { registerExplain } from './explain';
import { registerGroups } from './groups';
import { registerImages } from './images';
import { registerImportNanoclaw } from './import-nanoclaw';
import { registerReplay } from './replay';
import { registerSessions } from './sessions';
import { registerStart } from './start';
import { registerStatus } from './status';
import { registerStore } from './store';
import { registerTasks } from './tasks';
import { registerWhatIf } from './what-if';
import { registerWirings } from './wirings';
import { bad } from './format';

const packageVersion = (): string => (JSON.parse(readFileSync(join(packageRoot(__dirname), 'package.json'), 'utf8')) as { version: string }).version;

export function buildProgram(): Command {
  const program = new Command('switchyard')
    .description('Switchyard: an event-sourced host router for AI agents in containers')
    .option('--data-dir <dir>', 'data directory (default ./data, or SWITCHYARD_DATA_DIR)')
    .option('--db <file>', 'read this central database file instead of the data directory’s')
    .option('--log-level <level>', 'pino log level (or SWITCHYARD_LOG_LEVEL)')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerEvents(program);
  registerReplay(program);
  registerAudit(program);
  registerAcl(program);
  registerStatus(program);
  registerExplain(program);
  registerWhatIf(program);
  registerDemo(program);
  registerStart(program);
  registerConsole(program);
  registerGroups(program);
  registerChannels(program);
  registerWirings(program);
  registerDestinations(program);
  registerSessions(program);
  registerImportNanoclaw(program);
  registerTasks(program);
  registerApprovals(program);
  registerDeliveries(program);
  registerDoctor(program);
  registerCompletion(program);
  registerImages(program);
  registerStore(program);
  // Every command, nested ones included, reports bad usage through main() (exit code 2).
  const override = (command: Command): void => {
    command.exitOverride().showHelpAfterError();
    command.commands.forEach(override);
  };
  program.commands.forEach(override);
  return program;
}

/** Failures a person can act on from the message alone: reported without a stack trace. */
const EXPECTED_ERRORS = [CliError, ConfigError, CommandValidationError, CommandIdConflictError, NotADatabaseError, DatabaseNeedsMigrationError];

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are not failures; every other parse error is bad usage.
      return error.exitCode === 0 ? 0 : 2;
    }
    const known = EXPECTED_ERRORS.some((type) => error instanceof type);
    process.stderr.write(bad(`switchyard: ${error instanceof Error ? error.message : String(error)}`) + '\n');
    if (!known && error instanceof Error && error.stack) process.stderr.write(error.stack + '\n');
    return error instanceof CliError ? error.exitCode : error instanceof ConfigError ? 2 : 1;
  }
}

if (require.main === module) {
  // `switchyard audit --format csv | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
