import { slack } from '../../src/adapters/channels/chat-sdk/slack';
import type { ChannelFixture, SentMessage } from './channel-fixture';
import { FakeSlack, slackButtonClickRequest, slackEventRequest, type SlackPosted } from './fake-slack';
import { WebhookPlatformFixture } from './platform-webhooks';

const SIGNING_SECRET = 'slack-signing-secret-for-the-contract';

/** The real Slack channel (Events API) against FakeSlack, reached through the platform-webhook listener. */
export class SlackFixture extends WebhookPlatformFixture<FakeSlack> implements ChannelFixture {
  readonly channelType = 'slack';
  readonly chats = { family: 'slack:C100', ops: 'slack:C200' };
  readonly users = { admin: 'UADMIN', intruder: 'UINTRUDER' };
  /** A DM is named after the person in it (users.info's real name); a channel with a `#`, as the SDK names it. */
  readonly unregistered = { group: { platformId: 'slack:C300', name: '#neighbours' }, direct: { platformId: 'slack:D55', name: 'User U1' } };
  private nextTs = 1_710_000_000;

  constructor() {
    super(slack);
  }

  get slack(): FakeSlack {
    return this.started;
  }

  env(): Record<string, string> {
    return { SLACK_BOT_TOKEN: 'xoxb-contract-token', SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: this.slack.apiUrl };
  }

  protected async startFake(): Promise<FakeSlack> {
    const fake = await FakeSlack.start();
    fake.addChannel({ id: 'C100', name: 'family' });
    fake.addChannel({ id: 'C200', name: 'ops' });
    fake.addChannel({ id: 'C300', name: 'neighbours' });
    return fake;
  }

  /** A message event; its ts is the message's id, and `thread` is the ts of the thread it is in. */
  async say(options: { chat: string; text: string; userId?: string; thread?: string; file?: { name: string; data: Buffer } }): Promise<string> {
    const ts = `${this.nextTs++}.000200`;
    await this.webhooks.send(
      slackEventRequest(this.webhooks.url(), SIGNING_SECRET, {
        type: 'message',
        channel: channelOf(options.chat),
        channel_type: options.chat.startsWith('slack:D') ? 'im' : 'channel',
        user: options.userId ?? 'U1',
        text: options.text,
        ts,
        ...(options.thread !== undefined && { thread_ts: options.thread }),
        ...(options.file && { files: [this.slack.hostFile(options.file.name, options.file.data, 'text/plain')] }),
      }),
    );
    return ts;
  }

  threadOf(chat: string, thread: string): string {
    return `${chat}:${thread}`;
  }

  async click(card: SentMessage, index: number, userId: string): Promise<void> {
    const posted = this.slack.posted.find((message) => message.ts === card.id);
    const button = buttonsOf(posted)[index];
    if (!posted || !button) throw new Error(`card ${card.id} has no button ${index}`);
    await this.webhooks.send(slackButtonClickRequest(this.webhooks.url(), SIGNING_SECRET, { channel: posted.args.channel!, messageTs: posted.ts, userId, actionId: button.action_id }));
  }

  async sent(count: number): Promise<SentMessage[]> {
    await this.slack.waitFor('chat.postMessage', count);
    return this.slack.posted.map((posted) => ({
      id: posted.ts,
      platformId: `slack:${posted.args.channel}`,
      threadId: posted.args.thread_ts ? `slack:${posted.args.channel}:${posted.args.thread_ts}` : null,
      text: posted.args.markdown_text ?? posted.args.text ?? '',
      files: posted.files.map((file) => ({ name: file.filename, text: file.data.toString('utf8') })),
      buttons: buttonsOf(posted).map((button) => button.text.text),
      // Slack has no reply-to: an answer is placed in the thread.
      replyTo: null,
    }));
  }

  async edits(count: number): Promise<{ id: string; text: string }[]> {
    const calls = await this.slack.waitFor('chat.update', count);
    return calls.map((call) => ({ id: call.ts!, text: call.markdown_text ?? call.text ?? '' }));
  }

  /** Slack takes reactions by name (`+1`): read back as the emoji the SDK maps the name to. */
  async reactions(count: number): Promise<{ id: string; emoji: string }[]> {
    const calls = await this.slack.waitFor('reactions.add', count);
    const { defaultEmojiResolver } = await import('chat');
    return calls.map((call) => ({ id: call.timestamp!, emoji: defaultEmojiResolver.toGChat(defaultEmojiResolver.fromSlack(call.name!)) }));
  }

  /** Slack shows a bot working only as an assistant thread's status (assistant.threads.setStatus). */
  async typing(count: number): Promise<string[]> {
    const calls = await this.slack.waitFor('assistant.threads.setStatus', count);
    return calls.map((call) => `slack:${call.channel_id}`);
  }

  downForNextSends(count: number): void {
    this.slack.failNext('chat.postMessage', count, 503);
  }

  rateLimitNextSend(seconds: number): void {
    this.slack.rateLimitNext('chat.postMessage', 1, seconds);
  }
}

/** `slack:C100` → `C100`. */
function channelOf(platformId: string): string {
  return platformId.slice('slack:'.length);
}

type SlackButton = { action_id: string; text: { text: string } };

/** The buttons of a Block Kit message, in order. */
function buttonsOf(posted: SlackPosted | undefined): SlackButton[] {
  if (!posted?.args.blocks) return [];
  const blocks = JSON.parse(posted.args.blocks) as { type: string; elements?: ({ type: string } & SlackButton)[] }[];
  return blocks.flatMap((block) => (block.type === 'actions' ? (block.elements ?? []).filter((element) => element.type === 'button') : []));
}
