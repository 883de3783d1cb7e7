import type { ChannelAdapter, ChannelSetup, OutboundMessage } from './channel';

export interface TerminalChannelOptions {
  /** The chat this terminal is: one platform id of channel type `cli`. */
  platformId: string;
  /** Where answers are shown. */
  show(from: string, text: string): void;
}

/**
 * A local chat on the terminal (channel type `cli`): what the person types is an inbound
 * message, what agents send to this chat is printed. It needs no platform, so the demo
 * and a first run work on any machine.
 */
export class TerminalChannel implements ChannelAdapter {
  readonly channelType = 'cli';
  private setupDone: ChannelSetup | undefined;
  private sent = 0;
  private delivered = 0;

  constructor(private readonly options: TerminalChannelOptions) {}

  async setup(setup: ChannelSetup): Promise<void> {
    this.setupDone = setup;
  }

  async teardown(): Promise<void> {
    this.setupDone = undefined;
  }

  isConnected(): boolean {
    return this.setupDone !== undefined;
  }

  /** One line typed at the terminal; resolves once it is routed or dropped in the log. */
  async say(text: string): Promise<void> {
    if (!this.setupDone) throw new Error('the terminal channel is not set up');
    const now = new Date();
    await this.setupDone.onInbound({
      channelType: this.channelType,
      platformId: this.options.platformId,
      threadId: null,
      message: { id: `cli-${now.getTime()}-${++this.sent}`, kind: 'chat', content: { text, sender: 'you' }, timestamp: now.toISOString() },
      chat: { name: 'Terminal', isGroup: false },
    });
  }

  async deliver(platformId: string, _threadId: string | null, message: OutboundMessage): Promise<string | null> {
    let text = message.content;
    try {
      const content = JSON.parse(message.content) as { text?: unknown };
      if (typeof content.text === 'string') text = content.text;
    } catch {
      // not JSON: shown as it is
    }
    this.options.show(platformId, text);
    return `cli-out-${++this.delivered}`;
  }
}
