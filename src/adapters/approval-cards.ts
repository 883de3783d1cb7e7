import { ApprovalRequested } from '../events/admin';
import type { RecordedEvent } from '../events/define';
import type { Logger } from '../logger';
import type { Views } from '../projections';
import type { ChannelAdapter } from './channels/channel';
import type { Reactor } from './reactor';

/** The options of every approval card, in the order the spec gives them. */
export const CARD_OPTIONS = ['Approve', 'Reject'] as const;

/**
 * Shows each approval request to the admin as an `ask_question` card in the admin agent
 * group's chat (spec §6), with everything the approval would apply. The card's
 * idempotency key lets a bridge drop the resend a restart may cause.
 */
export class ApprovalCards implements Reactor {
  readonly name = 'approval-cards';
  readonly handles: ReadonlySet<string> = new Set([ApprovalRequested.type]);

  constructor(
    private readonly views: Pick<Views, 'approvals'>,
    private readonly channels: ReadonlyMap<string, ChannelAdapter>,
    private readonly logger?: Logger,
  ) {}

  handleBatch(events: readonly RecordedEvent[]): void {
    for (const event of events) if (ApprovalRequested.is(event)) void this.show(event);
  }

  private async show(event: RecordedEvent<'ApprovalRequested', ReturnType<typeof ApprovalRequested.schema.parse>>): Promise<void> {
    const { approvalId, adminChat, shownText, payloadHash } = event.data;
    if (this.views.approvals.get(approvalId)?.status !== 'pending') return;
    const log = { event: 'ApprovalCardShown', approvalId, channelType: adminChat.channelType, platformId: adminChat.platformId, position: event.position };
    const channel = this.channels.get(adminChat.channelType);
    if (!channel) {
      this.logger?.warn(log, `no ${adminChat.channelType} channel configured: the request can be decided with switchyard approvals`);
      return;
    }
    try {
      await channel.deliver(adminChat.platformId, null, {
        idempotencyKey: `approval:${approvalId}`,
        kind: 'chat',
        content: JSON.stringify({ type: 'ask_question', questionId: approvalId, question: shownText, options: CARD_OPTIONS, payloadHash }),
        files: [],
      });
      this.logger?.info(log, 'approval card shown');
    } catch (error) {
      this.logger?.error({ ...log, err: error }, 'approval card could not be shown: the request can be decided with switchyard approvals');
    }
  }
}
