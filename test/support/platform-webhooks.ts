import { join } from 'node:path';
import { ChatSdkChannel, type ChatSdkPlatform } from '../../src/adapters/channels/chat-sdk/bridge';
import { CHAT_STATE_FILE, SqliteStateAdapter } from '../../src/adapters/channels/chat-sdk/sqlite-state';
import { PlatformWebhookListener } from '../../src/adapters/channels/chat-sdk/webhook-listener';
import { createLogger } from '../../src/logger';

/**
 * For the fixtures of platforms that reach the host by webhook (Slack, Discord): the real
 * platform-webhook listener on loopback, routing the platform's path to the channel the
 * fixture made last, so what a test sends travels over HTTP as the platform's would.
 */
export class PlatformWebhooks {
  private listener: PlatformWebhookListener | undefined;
  private current: ChatSdkChannel | undefined;

  constructor(
    private readonly platform: ChatSdkPlatform,
    private readonly env: () => Record<string, string>,
  ) {}

  async start(): Promise<void> {
    const path = this.platform.webhookPath(this.env());
    if (path === undefined) throw new Error(`${this.platform.channelType} takes no webhooks in this environment`);
    const listener = new PlatformWebhookListener({ port: 0 });
    listener.route(path, (request) => {
      if (!this.current) return Promise.resolve(new Response('no channel yet', { status: 503 }));
      return this.current.handleWebhook(request);
    });
    await listener.start();
    this.listener = listener;
  }

  async stop(): Promise<void> {
    await this.listener?.stop();
    this.listener = undefined;
    this.current = undefined;
  }

  /** The URL the platform POSTs to. */
  url(): string {
    if (!this.listener) throw new Error('the platform webhook listener is not started');
    return `${this.listener.url()}${this.platform.webhookPath(this.env())!}`;
  }

  /** The real channel for the platform, with its state in the data dir; webhooks reach it from now on. */
  channel(dataDir: string): ChatSdkChannel {
    this.current = new ChatSdkChannel({ platform: this.platform, env: this.env(), state: new SqliteStateAdapter(join(dataDir, CHAT_STATE_FILE)), logger: createLogger('silent') });
    return this.current;
  }

  /** Sends a request the platform would send; a refusal fails the test where it happened. */
  async send(request: Request): Promise<void> {
    const response = await fetch(request);
    if (!response.ok) throw new Error(`${this.platform.channelType} webhook answered ${response.status}: ${await response.text()}`);
  }
}

/**
 * The part every webhook platform's contract fixture shares: its fake and the listener start
 * and stop together, and the channel is the one webhooks reach.
 */
export abstract class WebhookPlatformFixture<Fake extends { close(): Promise<void> }> {
  protected readonly webhooks: PlatformWebhooks;
  private fake: Fake | undefined;

  constructor(platform: ChatSdkPlatform) {
    this.webhooks = new PlatformWebhooks(platform, () => this.env());
  }

  abstract env(): Record<string, string>;

  /** Starts the platform's fake, with the chats the contract uses. */
  protected abstract startFake(): Promise<Fake>;

  /** The running fake. */
  protected get started(): Fake {
    if (!this.fake) throw new Error('the fake platform is not started');
    return this.fake;
  }

  async start(): Promise<void> {
    this.fake = await this.startFake();
    await this.webhooks.start();
  }

  async close(): Promise<void> {
    await this.webhooks.stop();
    await this.fake?.close();
  }

  channel(dataDir: string): ChatSdkChannel {
    return this.webhooks.channel(dataDir);
  }
}
