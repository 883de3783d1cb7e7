import type { Command } from 'commander';
import type { ChannelAdapter } from '../adapters/channels/channel';
import { WebhookChannel } from '../adapters/channels/webhook';
import { LeaseHeldError } from '../adapters/lease';
import type { Config } from '../config';
import { MigrationError } from '../db/migrate';
import { NotADatabaseError } from '../db/sqlite';
import { Host } from '../host';
import { createLogger, type Logger } from '../logger';
import { startConsole, untilSignalled } from './console';
import { CliError, configFor, wholeNumber } from './context';

interface StartOptions {
  webhookPort?: number;
  webhookDeliverUrl?: string;
  runtime?: string;
  consolePort?: number;
  deliveryAttempts?: number;
  deliveryBackoffMs?: number;
}

function configuredChannels(config: Config, logger: Logger): ChannelAdapter[] {
  if (config.webhookPort === undefined) return [];
  if (!config.webhookDeliverUrl) {
    throw new CliError('the webhook channel needs --webhook-deliver-url (or SWITCHYARD_WEBHOOK_DELIVER_URL) when --webhook-port is set', 2);
  }
  return [
    new WebhookChannel({
      listen: { host: '127.0.0.1', port: config.webhookPort },
      deliverUrl: config.webhookDeliverUrl,
      ...(config.webhookSecret !== undefined && { secret: config.webhookSecret }),
      // The channel names itself in its logs (component and channel type).
      logger,
    }),
  ];
}

/**
 * A start that failed for a reason the operator can act on, in one line: a port in use, a
 * data directory held or unreadable, a database refused or damaged. The stack goes to the
 * debug log; anything else is a bug and keeps its stack.
 */
function startFailure(error: unknown, config: Config): CliError | undefined {
  const cause = (error as { code?: unknown; port?: unknown; address?: unknown } | null) ?? {};
  if (cause.code === 'EADDRINUSE' && cause.port === config.webhookPort) {
    return new CliError(`could not start the host: the webhook port ${config.webhookPort} on ${String(cause.address)} is already in use (stop what listens there, or pass another --webhook-port)`);
  }
  const expected =
    error instanceof LeaseHeldError ||
    error instanceof NotADatabaseError ||
    error instanceof MigrationError ||
    // System errors (EACCES, ENOSPC …) and SQLite's own (SQLITE_CORRUPT, SQLITE_NOTADB …) carry a code.
    (error instanceof Error && typeof cause.code === 'string');
  return expected ? new CliError(`could not start the host: ${error.message.replaceAll('\n', ' ')}`) : undefined;
}

/** Runs the host until SIGINT or SIGTERM, then stops it gracefully. */
export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the host: event store, projections, session folders, outbound routing, delivery and channels')
    .option('--webhook-port <port>', 'serve the webhook channel on this loopback port (0 = any free port)', wholeNumber(0))
    .option('--webhook-deliver-url <url>', 'where the webhook channel POSTs outbound messages')
    .option('--console-port <port>', 'serve the web console on this loopback port (0 = any free port)', wholeNumber(0))
    .option('--runtime <runtime>', 'where agents run: auto (docker when an engine answers), docker, process, or external (started by someone else)')
    .option('--delivery-attempts <n>', 'attempts per delivery series before a message fails for good (default 3)', wholeNumber(1))
    .option('--delivery-backoff-ms <ms>', 'the first delay between delivery attempts, doubling after each (default 1000)', wholeNumber(1))
    .action(async (options: StartOptions, command: Command) => {
      const config = configFor(command, {
        webhookPort: options.webhookPort, webhookDeliverUrl: options.webhookDeliverUrl, runtime: options.runtime, consolePort: options.consolePort,
        deliveryAttempts: options.deliveryAttempts, deliveryBackoffMs: options.deliveryBackoffMs,
      });
      const logger = createLogger(config.logLevel);
      const channels = configuredChannels(config, logger);
      // Listened for before the start, not after: a supervisor's SIGTERM during a slow start
      // (an image build) stops the host once it is up, instead of killing it half-started.
      const signalled = untilSignalled();
      let host: Host;
      try {
        host = await Host.start(config, { channels, logger });
      } catch (error) {
        logger.debug({ err: error, event: 'HostStartFailed' }, 'host failed to start; everything it had started is stopped');
        throw startFailure(error, config) ?? error;
      }
      for (const channel of channels) {
        if (channel instanceof WebhookChannel) console.log(`webhook channel listening on ${channel.url()}`);
      }
      const webConsole = config.consolePort === undefined ? undefined : await startConsole(host.core, config, config.consolePort, true).catch(async (error: unknown) => {
        await host.stop();
        throw error;
      });
      if (webConsole) console.log(webConsole.describe());
      console.log(`switchyard host running on ${config.dataDir}, agents on the ${host.runtime.kind} runtime (Ctrl-C to stop)`);
      await signalled;
      await webConsole?.stop();
      await host.stop();
    });
}
