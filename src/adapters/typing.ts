import type { ChannelAdapter } from './channels/channel';

/**
 * How long one typing notice is worth: platforms show one for about five seconds
 * (Telegram's sendChatAction), so a burst of messages to one chat needs one notice, not
 * one request per message on the inbound path.
 */
export const TYPING_NOTICE_MS = 4_000;

/**
 * Shows a chat that its agent is on it, at most once per TYPING_NOTICE_MS per chat and
 * thread: best effort, never awaited by the inbound path.
 */
export class TypingNotices {
  private readonly shownAt = new Map<string, number>();

  constructor(
    private readonly onFailure: (error: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {}

  show(channel: ChannelAdapter | undefined, platformId: string, threadId: string | null): void {
    if (!channel?.setTyping) return;
    const at = this.now();
    const key = `${channel.channelType}\u0000${platformId}\u0000${threadId ?? ''}`;
    const last = this.shownAt.get(key);
    if (last !== undefined && at - last < TYPING_NOTICE_MS) return;
    this.forgetOlderThan(at - TYPING_NOTICE_MS);
    this.shownAt.set(key, at);
    channel.setTyping(platformId, threadId).catch(this.onFailure);
  }

  /** Keeps the map to the chats of the last few seconds, however many chats the host has seen. */
  private forgetOlderThan(cutoff: number): void {
    for (const [key, at] of this.shownAt) {
      if (at >= cutoff) break;
      this.shownAt.delete(key);
    }
  }
}
