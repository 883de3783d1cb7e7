import { join } from 'node:path';
import type { Command } from 'commander';
import type { ChannelAdapter } from '../adapters/channels/channel';
import { ChatSdkChannel, checkCredentials, MissingCredentialError } from '../adapters/channels/chat-sdk/bridge';
import { CHAT_SDK_PLATFORMS } from '../adapters/channels/chat-sdk/platforms';
import { CHAT_STATE_FILE, SqliteStateAdapter } from '../adapters/channels/chat-sdk/sqlite-state';
import { PlatformWebhookListener } from '../adapters/channels/chat-sdk/webhook-listener';
import { WebhookChannel } from '../adapters/channels/webhook';
import { LeaseHeldError } from '../adapters/lease';
import { PostgresError, ReplicaAheadError } from '../adapters/pg-replica';
import type { Config } from '../config';
import { MigrationError } from '../db/migrate';
import { NotADatabaseError } from '../db/sqlite';
import { Host } from '../host';
import { createLogger, type Logger } from '../logger';
import { startConsole, untilSignalled } from './console';
import { CliError, configFor, wholeNumber } from './context';

interface StartOptions {
  store?: string;
  webhookPort?: number;
  webhookDeliverUrl?: string;
  runtime?: string;
  consolePort?: number;
  channels?: string;
  platformWebhookPort?: number;
  deliveryAttempts?: number;
  deliveryBackoffMs?: number;
}

interface Channels {
  channels: ChannelAdapter[];
  /** The listener for the chat platforms that take webhooks, when one of them does. */
  listener?: PlatformWebhookListener;
}

function webhookChannel(config: Config, logger: Logger): WebhookChannel {
  if (config.webhookPort === undefined) throw new CliError('the webhook channel needs --webhook-port (or SWITCHYARD_WEBHOOK_PORT)', 2);
  if (!config.webhookDeliverUrl) {
    throw new CliError('the webhook channel needs --webhook-deliver-url (or SWITCHYARD_WEBHOOK_DELIVER_URL) when --webhook-port is set', 2);
  }
  return new WebhookChannel({
    listen: { host: '127.0.0.1', port: config.webhookPort },
    deliverUrl: config.webhookDeliverUrl,
    ...(config.webhookSecret !== undefined && { secret: config.webhookSecret }),
    // The channel names itself in its logs (component and channel type).
    logger,
  });
}

/**
 * The channels `--channels` names (default: the webhook channel when its port is set). A
 * chat platform whose variables are missing is refused here, before anything starts,
 * with the variable it needs.
 */
function configuredChannels(config: Config, logger: Logger, env: NodeJS.ProcessEnv): Channels {
  const names = config.channels === undefined ? (config.webhookPort === undefined ? [] : ['webhook']) : [...new Set(config.channels.split(',').map((name) => name.trim()))];
  const result: Channels = { channels: [] };
  for (const name of names) {
    if (name === 'webhook') {
      result.channels.push(webhookChannel(config, logger));
      continue;
    }
    const platform = CHAT_SDK_PLATFORMS[name];
    if (!platform) throw new CliError(`unknown channel ${name}: expected one of webhook, ${Object.keys(CHAT_SDK_PLATFORMS).join(', ')}`, 2);
    try {
      checkCredentials(platform, env);
    } catch (error) {
      if (error instanceof MissingCredentialError) throw new CliError(`cannot start the ${name} channel: ${error.variable} is not set`, 2);
      throw error;
    }
    const channel = new ChatSdkChannel({ platform, env, state: new SqliteStateAdapter(join(config.dataDir, CHAT_STATE_FILE)), logger });
    const path = platform.webhookPath(env);
    if (path !== undefined) {
      if (config.platformWebhookPort === undefined) throw new CliError(`the ${name} channel takes webhooks: it needs --platform-webhook-port (or SWITCHYARD_PLATFORM_WEBHOOK_PORT)`, 2);
      result.listener ??= new PlatformWebhookListener({ port: config.platformWebhookPort }, logger);
      result.listener.route(path, (request) => channel.handleWebhook(request));
    }
    result.channels.push(channel);
  }
  return result;
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
    error instanceof PostgresError ||
    error instanceof ReplicaAheadError ||
    // System errors (EACCES, ENOSPC …) and SQLite's own (SQLITE_CORRUPT, SQLITE_NOTADB …) carry a code.
    (error instanceof Error && typeof cause.code === 'string');
  return expected ? new CliError(`could not start the host: ${error.message.replaceAll('\n', ' ')}`) : undefined;
}

/** Runs the host until SIGINT or SIGTERM, then stops it gracefully. */
export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the host: event store, projections, session folders, outbound routing, delivery and channels')
    .option('--store <url>', 'keep the event log on PostgreSQL (postgres://…), shared with the other hosts using it; this data directory holds its replica')
    .option('--webhook-port <port>', 'serve the webhook channel on this loopback port (0 = any free port)', wholeNumber(0))
    .option('--webhook-deliver-url <url>', 'where the webhook channel POSTs outbound messages')
    .option('--channels <names>', 'the channels to run, comma-separated: webhook, telegram, slack, discord (default: webhook when --webhook-port is set)')
    .option('--platform-webhook-port <port>', 'serve chat platforms that take webhooks (Slack, Discord, Telegram with TELEGRAM_MODE=webhook) on this loopback port', wholeNumber(0))
    .option('--console-port <port>', 'serve the web console on this loopback port (0 = any free port)', wholeNumber(0))
    .option('--runtime <runtime>', 'where agents run: auto (docker when an engine answers), docker, process, or external (started by someone else)')
    .option('--delivery-attempts <n>', 'attempts per delivery series before a message fails for good (default 3)', wholeNumber(1))
    .option('--delivery-backoff-ms <ms>', 'the first delay between delivery attempts, doubling after each (default 1000)', wholeNumber(1))
    .action(async (options: StartOptions, command: Command) => {
      const config = configFor(command, {
        store: options.store,
        webhookPort: options.webhookPort,
        webhookDeliverUrl: options.webhookDeliverUrl,
        runtime: options.runtime,
        consolePort: options.consolePort,
        channels: options.channels,
        platformWebhookPort: options.platformWebhookPort,
        deliveryAttempts: options.deliveryAttempts,
        deliveryBackoffMs: options.deliveryBackoffMs,
      });
      const logger = createLogger(config.logLevel);
      const { channels, listener } = configuredChannels(config, logger, process.env);
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
        else console.log(`${channel.channelType} channel connected`);
      }
      if (listener) {
        await listener.start({ onClientConnected: () => host.clientConnected() }).catch(async (error: unknown) => {
          await host.stop();
          throw error;
        });
        console.log(`platform webhooks listening on ${listener.url()}`);
      }
      const webConsole = config.consolePort === undefined ? undefined : await startConsole(host.core, config, config.consolePort, true).catch(async (error: unknown) => {
        await host.stop();
        throw error;
      });
      if (webConsole) console.log(webConsole.describe());
      console.log(`switchyard host running on ${config.dataDir}, agents on the ${host.runtime.kind} runtime (Ctrl-C to stop)`);
      await signalled;
      await listener?.stop();
      await webConsole?.stop();
      await host.stop();
    });
}
