import type { Adapter, Logger as SdkLogger } from 'chat';
import type { SlackAdapterConfig, SlackBotToken } from '@chat-adapter/slack';
import type { ChatSdkPlatform } from './bridge';
import { downloadFromApiHost, onConfiguredApiHost, PlatformRateLimited } from './platform-api';

/**
 * Slack through `@chat-adapter/slack`. The Events API by default: Slack POSTs events and
 * button clicks to the platform-webhook listener under `/slack`, each signed with the app's
 * signing secret (the adapter checks it and refuses requests older than five minutes).
 * `SLACK_MODE=socket` holds a Socket Mode connection instead (SLACK_APP_TOKEN, nothing exposed).
 *
 * What Switchyard changes in the adapter: the Web API client does not retry on its own
 * (the host's delivery attempts are the one retry policy, recorded in the log, and a Slack
 * that is down must fail the attempt, not hold it for the client's thirty minutes) and a 429
 * comes back as a rate limit with Slack's Retry-After, which the host waits out.
 */

/** Slack's limit on a message's `markdown_text`, in characters. */
const MAX_MESSAGE_LENGTH = 12_000;
/** A Web API call that gets no answer in this long fails the attempt. */
const REQUEST_TIMEOUT_MS = 15_000;

const socketMode = (env: NodeJS.ProcessEnv) => (env.SLACK_MODE ?? 'webhook').trim() === 'socket';

export const slack: ChatSdkPlatform = {
  channelType: 'slack',
  requiredEnv: (env) => (socketMode(env) ? ['SLACK_BOT_TOKEN', 'SLACK_APP_TOKEN'] : ['SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET']),
  secretEnv: ['SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'SLACK_APP_TOKEN'],
  maxMessageLength: MAX_MESSAGE_LENGTH,
  buttons: true,
  webhookPath: (env) => (socketMode(env) ? undefined : '/slack'),
  async createAdapter(env, logger): Promise<Adapter> {
    const mode = env.SLACK_MODE?.trim() || 'webhook';
    if (mode !== 'webhook' && mode !== 'socket') throw new Error(`SLACK_MODE must be webhook or socket, not ${JSON.stringify(mode)}`);
    const { SlackAdapter } = await import('@chat-adapter/slack');

    class SwitchyardSlackAdapter extends SlackAdapter {
      /** Slack's rate limit, which the client reports (rejectRateLimitedCalls) instead of sleeping through it. */
      protected override handleSlackError(error: unknown): never {
        const { code, retryAfter } = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; retryAfter?: unknown };
        if (code === 'slack_webapi_rate_limited_error') throw new PlatformRateLimited('slack', typeof retryAfter === 'number' ? retryAfter : undefined);
        return super.handleSlackError(error);
      }

      /** Files on the API host the operator set are fetched from there; Slack's own go through the SDK's guarded download. */
      protected override async fetchSlackFile(url: string, token: SlackBotToken): Promise<Buffer> {
        if (!onConfiguredApiHost(url, this.slackApiUrl)) return super.fetchSlackFile(url, token);
        const value = typeof token === 'function' ? await token() : token;
        return downloadFromApiHost('slack', url, { authorization: `Bearer ${value}` });
      }
    }

    return new SwitchyardSlackAdapter({
      botToken: env.SLACK_BOT_TOKEN!,
      mode,
      ...(mode === 'webhook' ? { signingSecret: env.SLACK_SIGNING_SECRET! } : { appToken: env.SLACK_APP_TOKEN! }),
      ...(env.SLACK_API_URL && { apiUrl: env.SLACK_API_URL }),
      webClientOptions: { retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, timeout: REQUEST_TIMEOUT_MS, logger: webClientLogger(logger.child('web-api')) },
      logger,
    });
  },
};

type WebClientLogger = NonNullable<NonNullable<SlackAdapterConfig['webClientOptions']>['logger']>;
type WebClientLogLevel = ReturnType<WebClientLogger['getLevel']>;

/**
 * The Web API client's own lines (a failed request, a rate limit) into the host's log: by
 * default the client prints them on stdout, which belongs to the CLI's output.
 */
function webClientLogger(logger: SdkLogger): WebClientLogger {
  const line = (level: 'debug' | 'info' | 'warn' | 'error') => (...parts: unknown[]) => logger[level](parts.map(String).join(' '));
  return {
    debug: line('debug'),
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
    // The level is the host's logger's to decide: the client is told to pass everything on.
    setLevel: () => undefined,
    getLevel: () => 'debug' as WebClientLogLevel,
    setName: () => undefined,
  };
}
