import { join } from 'node:path';
import { WebhookChannel } from '../../src/adapters/channels/webhook';
import type { CommandEnvelope } from '../../src/commands/define';
import { receiveInbound } from '../../src/commands/inbound';
import { RouteOutbound } from '../../src/commands/outbound';
import { loadConfig } from '../../src/config';
import { approvalStream } from '../../src/events/admin';
import { Host } from '../../src/host';
import { createLogger } from '../../src/logger';
import { seedApprovalScene } from '../support/approval-scene';
import { FakePlatform } from '../support/fake-platform';
import { useTempDir } from '../support/temp';
import { waitForEvents } from '../support/wait';

describe('approval cards (a running host, the webhook channel against a platform on loopback)', () => {
  const tempDir = useTempDir();
  let platform: FakePlatform;
  beforeEach(async () => {
    platform = await FakePlatform.start();
  });
  afterEach(() => platform.close());

  const start = (backoffMs: number) => {
    const channel = new WebhookChannel({ listen: { host: '127.0.0.1', port: 0 }, deliverUrl: platform.url });
    const config = loadConfig({ dataDir: join(tempDir(), 'data') }, { SWITCHYARD_RETRY_BACKOFF_MS: String(backoffMs), SWITCHYARD_RUNTIME: 'external' });
    return Host.start(config, { channels: [channel], logger: createLogger('silent') });
  };

  /** A request from Andy's session, shown in the admin chat: returns the approval id. */
  function requestRebuild(host: Host): string {
    seedApprovalScene(host.core);
    const run = (envelope: CommandEnvelope) => expect(host.core.bus.dispatch(envelope).status).toBe('accepted');
    run(receiveInbound({ channelType: 'webhook', platformId: 'fam', messageId: 'm-1', content: { text: 'rebuild please' }, timestamp: '2026-11-24T09:00:00.000Z' }));
    const sessionId = host.core.views.sessions.forAgentGroup('ag-andy')[0]!.id;
    const row = { id: 'req-1', seq: 1, in_reply_to: null, timestamp: '2026-11-24T09:00:00.000Z', deliver_after: null, recurrence: null, kind: 'system', platform_id: null, channel_type: null, thread_id: null };
    run(RouteOutbound.envelope('route-req-1', { sessionId, row: { ...row, content: JSON.stringify({ action: 'request_rebuild', reason: 'stale' }) } }));
    return host.core.views.approvals.list()[0]!.approval_id;
  }

  /** The card's story in the request's stream: [type, attempt, final]. */
  const story = (host: Host, approvalId: string) =>
    host.core.store
      .readStream(approvalStream(approvalId))
      .filter((event) => event.type.startsWith('ApprovalCard'))
      .map((event) => [event.type, (event.data as { attempt: number }).attempt, (event.data as { final?: boolean }).final]);
  const cardOutcome = (final: boolean) => (event: { type: string; data: unknown }) => event.type === 'ApprovalCardSent' || (event.type === 'ApprovalCardFailed' && (event.data as { final: boolean }).final === final);

  it('a card the channel refuses is tried again with backoff, each attempt and result in the log, with one idempotency key', async () => {
    platform.failNext(2, 503);
    const host = await start(5);
    try {
      const approvalId = requestRebuild(host);
      await waitForEvents(host.core.store, cardOutcome(true));
      expect(story(host, approvalId)).toEqual([
        ['ApprovalCardAttempted', 1, undefined], ['ApprovalCardFailed', 1, false],
        ['ApprovalCardAttempted', 2, undefined], ['ApprovalCardFailed', 2, false],
        ['ApprovalCardAttempted', 3, undefined], ['ApprovalCardSent', 3, undefined],
      ]);
      expect(new Set(platform.requests.map((request) => (request.body as { idempotencyKey: string }).idempotencyKey))).toEqual(new Set([`approval:${approvalId}`]));
      expect(platform.received).toEqual([expect.objectContaining({ platformId: 'ops', content: expect.objectContaining({ type: 'ask_question', questionId: approvalId }) })]);
      expect(host.core.views.approvals.get(approvalId)).toMatchObject({ status: 'pending', card_status: 'sent', card_attempts: 3 });
    } finally {
      await host.stop();
    }
  });

  it('a card still refused after 3 attempts is failed for good, with the reason; the request stays pending for the CLI', async () => {
    platform.failNext(3, 503);
    const host = await start(5);
    try {
      const approvalId = requestRebuild(host);
      await waitForEvents(host.core.store, cardOutcome(true));
      expect(story(host, approvalId).at(-1)).toEqual(['ApprovalCardFailed', 3, true]);
      expect(host.core.views.approvals.get(approvalId)).toMatchObject({ status: 'pending', card_status: 'failed', card_attempts: 3, card_error: expect.stringContaining('503') });
    } finally {
      await host.stop();
    }
  });

  it('a restart resumes a card from the log, counting on from the attempts already made', async () => {
    platform.failNext(1, 503);
    // The retry is due in ten minutes: only the restarted host can send it in time.
    let host = await start(600_000);
    let approvalId: string;
    try {
      approvalId = requestRebuild(host);
      await waitForEvents(host.core.store, cardOutcome(false));
    } finally {
      await host.stop();
    }
    host = await start(5);
    try {
      await waitForEvents(host.core.store, (event) => event.type === 'ApprovalCardSent');
      expect(story(host, approvalId)).toEqual([
        ['ApprovalCardAttempted', 1, undefined], ['ApprovalCardFailed', 1, false],
        ['ApprovalCardAttempted', 2, undefined], ['ApprovalCardSent', 2, undefined],
      ]);
      expect(platform.received).toHaveLength(1);
    } finally {
      await host.stop();
    }
  });
});
