import { CARD_OPTIONS, RecordApprovalCardAttempt, RecordApprovalCardRateLimited, RecordApprovalCardResult } from '../commands/approvals';
import { agentImage } from '../commands/containers';
import { AddMcpServerRequest } from '../commands/system-actions';
import type { Core } from '../core';
import { ApprovalRequested, approvalStream } from '../events/admin';
import type { RecordedEvent } from '../events/define';
import type { ChannelAdapter } from './channels/channel';
import type { ContainerRuntime } from './containers/runtime';
import { channelFor, type Sendable, type SendableSource } from './delivery';

type Requested = RecordedEvent<'ApprovalRequested', ReturnType<typeof ApprovalRequested.schema.parse>>;

export interface ApprovalCardOptions {
  /** Where the agents run: an MCP server's command is looked for there. */
  runtime?: Pick<ContainerRuntime, 'kind' | 'hasCommand'>;
  /** The image of a group whose container config names none. */
  defaultImage?: string;
}

/**
 * Shows each approval request to the admin as an `ask_question` card in the admin agent
 * group's chat (spec §6), with everything the approval would apply. The cards go through
 * the delivery service's loop: each attempt and its result are in the request's stream,
 * a refused card is retried with backoff, and a restart resumes the cards still due from
 * the log. The card's idempotency key lets a bridge drop a resend. A card that fails for
 * good leaves the request pending: it can still be decided with `switchyard approvals`.
 */
export class ApprovalCards implements SendableSource {
  constructor(
    private readonly core: Core,
    private readonly channels: ReadonlyMap<string, ChannelAdapter>,
    private readonly options: ApprovalCardOptions = {},
  ) {}

  /**
   * What the admin must know before approving an MCP server: that its command is not where
   * the agent runs, so the approval alone will not make it run. Looked at when the card is
   * sent, so a rebuild in between counts.
   */
  private async missingCommandNote(event: Requested): Promise<string> {
    const { runtime, defaultImage = '' } = this.options;
    if (event.data.action !== 'add_mcp_server' || !runtime?.hasCommand) return '';
    const { command } = AddMcpServerRequest.parse(event.data.payload);
    const group = this.core.views.agentGroups.get(event.data.agentGroupId);
    if (!group) return '';
    const image = agentImage(this.core.views, group, defaultImage);
    const where = runtime.kind === 'docker' ? `in the agent's image (${image})` : "on the agent's PATH";
    try {
      if (await runtime.hasCommand(command, image)) return '';
      return `\n\nNote: ${command} is not ${where}: approving will not make this server run; request packages and a rebuild first.`;
    } catch (error) {
      return `\n\nNote: could not check whether ${command} is ${where}: ${error instanceof Error ? error.message : String(error)}`;
    }
  }

  unsettled(): Sendable[] {
    return this.core.views.approvals.awaitingCard().flatMap((approval) => {
      const requested = this.core.store.readStream(approvalStream(approval.approval_id)).find((event) => ApprovalRequested.is(event));
      return requested ? [this.card(requested as Requested)] : [];
    });
  }

  fromEvent(event: RecordedEvent): Sendable | undefined {
    return ApprovalRequested.is(event) ? this.card(event) : undefined;
  }

  private card(event: Requested): Sendable {
    const { approvalId, adminChat, shownText, payloadHash } = event.data;
    const { approvals } = this.core.views;
    const meta = { correlationId: event.metadata.correlationId, causationId: event.eventId };
    return {
      lane: approvalStream(approvalId),
      sessionId: event.data.sessionId,
      open: (maxAttempts) =>
        RecordApprovalCardAttempt.envelope(`approval-card:${approvalId}:attempt-${approvals.get(approvalId)!.card_attempts + 1}`, { approvalId, maxAttempts }, meta),
      openAttempt: () => {
        const approval = approvals.get(approvalId)!;
        return approval.card_status === 'pending' && approval.card_attempts > 0 ? approval.card_attempts : undefined;
      },
      send: async () => {
        const question = shownText + (await this.missingCommandNote(event));
        return channelFor(this.channels, adminChat.channelType).deliver(adminChat.platformId, null, {
          idempotencyKey: `approval:${approvalId}`,
          kind: 'chat',
          content: JSON.stringify({ type: 'ask_question', questionId: approvalId, question, options: CARD_OPTIONS, payloadHash }),
          files: [],
        });
      },
      record: (attempt, result, maxAttempts) =>
        RecordApprovalCardResult.envelope(`approval-card:${approvalId}:result-${attempt}`, { approvalId, maxAttempts, attempt, result }, meta),
      rateLimited: (attempt, wait, error) =>
        RecordApprovalCardRateLimited.envelope(
          `approval-card:${approvalId}:attempt-${attempt}:rate-limited-${wait}`,
          { approvalId, attempt, retryAfterMs: error.retryAfterMs, errorClass: error.errorClass, error: error.message },
          meta,
        ),
      progress: () => {
        const approval = approvals.get(approvalId)!;
        return { attempts: approval.card_attempts, outcome: approval.card_status === 'sent' ? 'delivered' : approval.card_status };
      },
      log: { fields: { approvalId, channelType: adminChat.channelType, platformId: adminChat.platformId, ...meta }, succeeded: 'ApprovalCardSent', failed: 'ApprovalCardFailed' },
    };
  }
}
