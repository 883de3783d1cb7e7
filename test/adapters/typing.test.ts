import type { ChannelAdapter } from '../../src/adapters/channels/channel';
import { WebhookChannel } from '../../src/adapters/channels/webhook';
import { TYPING_NOTICE_MS, TypingNotices } from '../../src/adapters/typing';
import { FakePlatform } from '../support/fake-platform';
import { waitUntil } from '../support/wait';

describe('typing notices', () => {
  let platform: FakePlatform;
  let channel: ChannelAdapter;
  let now: number;
  let notices: TypingNotices;
  const failures: unknown[] = [];

  beforeEach(async () => {
    platform = await FakePlatform.start();
    channel = new WebhookChannel({ deliverUrl: platform.url });
    now = 1_000_000;
    notices = new TypingNotices((error) => failures.push(error), () => now);
  });
  afterEach(() => platform.close());

  it('given a burst of messages to one chat, sends one notice; another chat or thread gets its own', async () => {
    for (let i = 0; i < 20; i++) notices.show(channel, 'fam', null);
    notices.show(channel, 'fam', 't-1');
    notices.show(channel, 'ops', null);
    await waitUntil(() => platform.typing.length >= 3, 'three typing notices');
    expect(platform.typing).toEqual(
      expect.arrayContaining([
        { platformId: 'fam', threadId: null, typing: true },
        { platformId: 'fam', threadId: 't-1', typing: true },
        { platformId: 'ops', threadId: null, typing: true },
      ]),
    );
    expect(platform.typing).toHaveLength(3);
  });

  it('given the notice has run out, shows it again for the next message', async () => {
    notices.show(channel, 'fam', null);
    now += TYPING_NOTICE_MS - 1;
    notices.show(channel, 'fam', null);
    now += 1;
    notices.show(channel, 'fam', null);
    await waitUntil(() => platform.typing.length >= 2, 'the second notice');
    expect(platform.typing).toHaveLength(2);
    expect(failures).toEqual([]);
  });
});
