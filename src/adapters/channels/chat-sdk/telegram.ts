import type { TelegramRawMessage } from '@chat-adapter/telegram';
import type { ChatSdkPlatform } from './bridge';

/**
 * Telegram through `@chat-adapter/telegram`. Long polling (getUpdates) by default: nothing
 * to expose, and the poller's update offset is kept in the SDK's state (chat-state.db).
 * `TELEGRAM_MODE=webhook` takes updates at the platform-webhook listener instead, under
 * `/telegram`, and then TELEGRAM_WEBHOOK_SECRET_TOKEN is required: Telegram sends it in
 * `x-telegram-bot-api-secret-token` (set it with setWebhook's `secret_token`), and a
 * request without it is refused, so nobody else can post updates in the bot's name.
 */

/** Telegram's limit on one message's text, in characters. */
const MAX_MESSAGE_LENGTH = 4096;
/** Telegram's limit on a file's caption. */
const MAX_CAPTION_LENGTH = 1024;

const webhookMode = (env: NodeJS.ProcessEnv) => (env.TELEGRAM_MODE ?? 'polling').trim() === 'webhook';

export const telegram: ChatSdkPlatform = {
  channelType: 'telegram',
  requiredEnv: (env) => (webhookMode(env) ? ['TELEGRAM_BOT_TOKEN', 'TELEGRAM_WEBHOOK_SECRET_TOKEN'] : ['TELEGRAM_BOT_TOKEN']),
  secretEnv: ['TELEGRAM_BOT_TOKEN', 'TELEGRAM_WEBHOOK_SECRET_TOKEN'],
  maxMessageLength: MAX_MESSAGE_LENGTH,
  maxCaptionLength: MAX_CAPTION_LENGTH,
  buttons: true,
  webhookPath: (env) => (webhookMode(env) ? '/telegram' : undefined),
  // Every update carries its chat: no getChat call (whose chat_id the SDK 4.41 passes still prefixed).
  chatNameOf: (message) => {
    const { chat } = message.raw as TelegramRawMessage;
    return chat.title ?? ([chat.first_name, chat.last_name].filter(Boolean).join(' ') || chat.username);
  },
  holdsConnection: (env) => !webhookMode(env),
  async createAdapter(env, logger, options) {
    const mode = env.TELEGRAM_MODE?.trim() || 'polling';
    if (mode !== 'polling' && mode !== 'webhook') throw new Error(`TELEGRAM_MODE must be polling or webhook, not ${JSON.stringify(mode)}`);
    const { TelegramAdapter } = await import('@chat-adapter/telegram');
    type PollingConfig = Parameters<InstanceType<typeof TelegramAdapter>['startPolling']>[0];

    /** Polls only while it holds the connection: Telegram refuses a second poller of one bot (409 Conflict). */
    class LeasedPollingTelegramAdapter extends TelegramAdapter {
      private holding = options?.holdConnection ?? true;
      private pollingConfig: PollingConfig;

      override async startPolling(config?: PollingConfig): Promise<void> {
        this.pollingConfig = config;
        if (this.holding) await super.startPolling(config);
      }

      async hold(): Promise<void> {
        this.holding = true;
        await super.startPolling(this.pollingConfig);
      }

      async release(): Promise<void> {
        this.holding = false;
        await this.stopPolling();
      }
    }

    return new LeasedPollingTelegramAdapter({
      botToken: env.TELEGRAM_BOT_TOKEN!,
      ...(env.TELEGRAM_API_BASE_URL && { apiBaseUrl: env.TELEGRAM_API_BASE_URL }),
      ...(env.TELEGRAM_WEBHOOK_SECRET_TOKEN && { secretToken: env.TELEGRAM_WEBHOOK_SECRET_TOKEN }),
      ...(env.TELEGRAM_BOT_USERNAME && { userName: env.TELEGRAM_BOT_USERNAME }),
      mode,
      // Only this host takes the bot's updates: polling never removes a webhook someone set.
      longPolling: { deleteWebhook: false, ...(env.TELEGRAM_POLL_TIMEOUT_S && { timeout: Number(env.TELEGRAM_POLL_TIMEOUT_S) }) },
      logger,
    });
  },
};
