import type { Command } from 'commander';
import { ConsoleServer } from '../adapters/console/server';
import type { Config } from '../config';
import type { Core } from '../core';
import { createLogger } from '../logger';
import { CliError, configFor, openExisting, wholeNumber } from './context';
import { operatorActor } from './dispatch';

/** Starts the web console on a core; a port in use is one line for the operator, not a stack. */
export async function startConsole(core: Core, config: Config, port: number, writable: boolean): Promise<ConsoleServer> {
  const server = new ConsoleServer(core, {
    port,
    writable,
    actor: operatorActor(),
    logger: createLogger(config.logLevel).child({ component: 'console' }),
    ...(config.consoleToken !== undefined && { token: config.consoleToken }),
  });
  try {
    await server.start();
  } catch (error) {
    if ((error as { code?: unknown }).code === 'EADDRINUSE') {
      throw new CliError(`could not start the web console: port ${port} on 127.0.0.1 is already in use (pass another --console-port)`);
    }
    throw error;
  }
  return server;
}

/** Resolves on SIGINT or SIGTERM. */
export const untilSignalled = () =>
  new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });

/**
 * The console against a data directory whose host is down: the database is opened
 * read-only, so the pages read the log as it stands and follow it if a host starts, but
 * approvals are decided from the CLI or a host's own console.
 */
export function registerConsole(program: Command): void {
  program
    .command('console')
    .description('serve the web console (read-only) on 127.0.0.1 against a data directory, with the host down')
    .option('--port <port>', 'port on 127.0.0.1 (0 = any free port)', wholeNumber(0))
    .action(async (options: { port?: number }, command: Command) => {
      const config = configFor(command, { consolePort: options.port });
      const core = openExisting(command);
      try {
        const server = await startConsole(core, config, config.consolePort ?? 8787, false);
        console.log(server.describe());
        await untilSignalled();
        await server.stop();
      } finally {
        core.close();
      }
    });
}
