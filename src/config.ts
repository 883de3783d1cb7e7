import { resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_DELIVERY_ATTEMPTS } from './commands/delivery';
import { UNCLAIMED_SYSTEM_ROW_MS } from './commands/retries';

export const Config = z.object({
  dataDir: z.string().min(1).default('./data'),
  synchronous: z.enum(['FULL', 'NORMAL']).default('FULL'),
  /**
   * The event log on PostgreSQL (postgres://…), shared by every host using it; unset = the
   * data directory's SQLite file alone. Never echoed: it may hold a password.
   */
  store: z.string().regex(/^postgres(ql)?:\/\//, 'expected a PostgreSQL connection string (postgres://…)').optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** The webhook channel's inbound port on loopback; unset = no webhook channel. 0 = any free port. */
  webhookPort: z.coerce.number().int().min(0).max(65535).optional(),
  /** Where the webhook channel POSTs outbound messages (the platform bridge). */
  webhookDeliverUrl: z.url().optional(),
  webhookSecret: z.string().min(8).optional(),
  /**
   * The channels to run, comma-separated (webhook, telegram …). Unset = the webhook channel
   * when its port is set, as before there was a choice.
   */
  channels: z.string().regex(/^\s*[a-z][a-z0-9-]*\s*(,\s*[a-z][a-z0-9-]*\s*)*$/, 'expected channel names separated by commas, e.g. telegram,webhook').optional(),
  /** Where Chat SDK platforms in webhook mode are reached (loopback); needed only by those. 0 = any free port. */
  platformWebhookPort: z.coerce.number().int().min(0).max(65535).optional(),
  /** The web console's port on 127.0.0.1; unset = no console. 0 = any free port. */
  consolePort: z.coerce.number().int().min(0).max(65535).optional(),
  /** Asked of every console request (Bearer header, or `?token=` once, kept in a cookie). */
  consoleToken: z.string().min(16).optional(),
  /** How often session outboxes are read. */
  pollIntervalMs: z.coerce.number().int().min(10).max(60_000).default(250),
  /** Attempts per delivery series before a message fails for good (an operator may retry it). */
  deliveryAttempts: z.coerce.number().int().min(1).max(100).default(DEFAULT_DELIVERY_ATTEMPTS),
  /** The first delivery retry delay; each further one doubles it. */
  deliveryBackoffMs: z.coerce.number().int().min(1).max(600_000).default(1000),
  /** Where agents run: docker when an engine answers (auto), or always one of the two. */
  runtime: z.enum(['auto', 'docker', 'process', 'external']).default('auto'),
  dockerSocket: z.string().min(1).default('/var/run/docker.sock'),
  /** The agent image for groups whose container config names none. */
  agentImage: z.string().min(1).default('switchyard-agent:latest'),
  /** The provider the agent runner uses unless the agent group names one: echo needs no key. */
  agentProvider: z.enum(['echo', 'anthropic']).default('echo'),
  sweepIntervalMs: z.coerce.number().int().min(10).max(3_600_000).default(60_000),
  idleTimeoutMs: z.coerce.number().int().min(100).default(30 * 60_000),
  heartbeatTimeoutMs: z.coerce.number().int().min(100).default(10 * 60_000),
  maxRuntimeMs: z.coerce.number().int().min(1000).default(4 * 3_600_000),
  /** How long a host → agent system row (a question's answer) may wait unclaimed before it is expired. */
  unclaimedSystemRowMs: z.coerce.number().int().min(1000).default(UNCLAIMED_SYSTEM_ROW_MS),
});
export type Config = z.infer<typeof Config>;

const FLAGS: Partial<Record<keyof Config, string>> = {
  dataDir: '--data-dir',
  store: '--store',
  logLevel: '--log-level',
  webhookPort: '--webhook-port',
  webhookDeliverUrl: '--webhook-deliver-url',
  consolePort: '--console-port',
  runtime: '--runtime',
  channels: '--channels',
  platformWebhookPort: '--platform-webhook-port',
  deliveryAttempts: '--delivery-attempts',
  deliveryBackoffMs: '--delivery-backoff-ms',
};
const ENVIRONMENT: Record<keyof Config, string> = {
  dataDir: 'SWITCHYARD_DATA_DIR',
  synchronous: 'SWITCHYARD_SYNCHRONOUS',
  store: 'SWITCHYARD_STORE',
  logLevel: 'SWITCHYARD_LOG_LEVEL',
  webhookPort: 'SWITCHYARD_WEBHOOK_PORT',
  webhookDeliverUrl: 'SWITCHYARD_WEBHOOK_DELIVER_URL',
  webhookSecret: 'SWITCHYARD_WEBHOOK_SECRET',
  channels: 'SWITCHYARD_CHANNELS',
  platformWebhookPort: 'SWITCHYARD_PLATFORM_WEBHOOK_PORT',
  consolePort: 'SWITCHYARD_CONSOLE_PORT',
  consoleToken: 'SWITCHYARD_CONSOLE_TOKEN',
  pollIntervalMs: 'SWITCHYARD_POLL_INTERVAL_MS',
  deliveryAttempts: 'SWITCHYARD_DELIVERY_ATTEMPTS',
  deliveryBackoffMs: 'SWITCHYARD_DELIVERY_BACKOFF_MS',
  runtime: 'SWITCHYARD_RUNTIME',
  dockerSocket: 'SWITCHYARD_DOCKER_SOCKET',
  agentImage: 'SWITCHYARD_AGENT_IMAGE',
  agentProvider: 'SWITCHYARD_AGENT_PROVIDER',
  sweepIntervalMs: 'SWITCHYARD_SWEEP_INTERVAL_MS',
  idleTimeoutMs: 'SWITCHYARD_IDLE_TIMEOUT_MS',
  heartbeatTimeoutMs: 'SWITCHYARD_HEARTBEAT_TIMEOUT_MS',
  maxRuntimeMs: 'SWITCHYARD_MAX_RUNTIME_MS',
  unclaimedSystemRowMs: 'SWITCHYARD_UNCLAIMED_SYSTEM_ROW_MS',
};

export class ConfigError extends Error {
  constructor(issues: z.core.$ZodIssue[]) {
    super(
      'invalid configuration: ' +
        issues
          .map((issue) => {
            const key = String(issue.path[0]) as keyof Config;
            const sources = [FLAGS[key] && `flag ${FLAGS[key]}`, ENVIRONMENT[key]].filter(Boolean).join(' or ');
            return `${key} (${sources}): ${issue.message}`;
          })
          .join('; '),
    );
    this.name = 'ConfigError';
  }
}

/** Flags win over SWITCHYARD_* environment variables, which win over defaults. */
export function loadConfig(flags: Partial<Record<keyof Config, unknown>> = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const merged: Record<string, unknown> = {};
  for (const key of Object.keys(ENVIRONMENT) as (keyof Config)[]) {
    const value = flags[key] ?? env[ENVIRONMENT[key]];
    if (value !== undefined) merged[key] = value;
  }
  const result = Config.safeParse(merged);
  if (!result.success) throw new ConfigError(result.error.issues);
  return { ...result.data, dataDir: resolve(result.data.dataDir) };
}
