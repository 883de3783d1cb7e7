import { rmSync } from 'node:fs';
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

  const start = (backoffMs: number, runtime: 'external' | 'process' = 'external') => {
    const channel = new WebhookChannel({ listen: { host: '127.0.0.1', port: 0 }, deliverUrl: platform.url });
    const config = loadConfig({ dataDir: join(tempDir(), 'data') }, { SWITCHYARD_DELIVERY_BACKOFF_MS: String(backoffMs), SWITCHYARD_RUNTIME: runtime });
    return Host.start(config, { channels: [channel], logger: createLogger('silent') });
  };

  /** A request from Andy's session, shown in the admin chat: returns the approval id. */
  function request(host: Host, content: Record<string, unknown>): string {
    seedApprovalScene(host.core);
    const run = (envelope: CommandEnvelope) => expect(host.core.bus.dispatch(envelope).status).toBe('accepted');
    run(receiveInbound({ channelType: 'webhook', platformId: 'fam', messageId: 'm-1', content: { text: 'rebuild please' }, timestamp: '2026-11-24T09:00:00.000Z' }));
    const sessionId = host.core.views.sessions.forAgentGroup('ag-andy')[0]!.id;
    const row = { id: 'req-1', seq: 1, in_reply_to: null, timestamp: '2026-11-24T09:00:00.000Z', deliver_after: null, recurrence: null, kind: 'system', platform_id: null, channel_type: null, thread_id: null };
    run(RouteOutbound.envelope('route-req-1', { sessionId, row: { ...row, content: JSON.stringify(content) } }));
    return host.core.views.approvals.list()[0]!.approval_id;
  }
  const requestRebuild = (host: Host) => request(host, { action: 'request_rebuild', reason: 'stale' });

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

  it('a card the admin chat rate-limits is waited out within its attempt: the wait recorded, one attempt used', async () => {
    platform.rateLimitNext(1, 0);
    const host = await start(5);
    try {
      const approvalId = requestRebuild(host);
      await waitForEvents(host.core.store, cardOutcome(true));
      expect(story(host, approvalId)).toEqual([['ApprovalCardAttempted', 1, undefined], ['ApprovalCardRateLimited', 1, undefined], ['ApprovalCardSent', 1, undefined]]);
      expect(host.core.views.approvals.get(approvalId)).toMatchObject({ card_status: 'sent', card_attempts: 1 });
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

  it('an MCP server whose command is not on the agents\u2019 PATH (process runtime) gets a card that says approving will not make it run; one that is gets none', async () => {
    const cardFor = async (command: string) => {
      const host = await start(5, 'process');
      try {
        const approvalId = request(host, { action: 'add_mcp_server', name: 'calc', command, args: [], env: {} });
        await waitForEvents(host.core.store, cardOutcome(true));
        return (platform.received.find((card) => card.platformId === 'ops')!.content as { questionId: string; question: string });
      } finally {
        await host.stop();
      }
    };
    const missing = await cardFor('mcp-server-nowhere');
    expect(missing.question).toContain("mcp-server-nowhere is not on the agent's PATH: approving will not make this server run; request packages and a rebuild first");
    expect(missing.question).toMatch(/^Andy asks to add mcp server:/);
    platform.received.length = 0;
    rmSync(join(tempDir(), 'data'), { recursive: true, force: true });
    for (const present of ['node', process.execPath]) {
      const card = await cardFor(present);
      expect(card.question).not.toContain('Note:');
      platform.received.length = 0;
      rmSync(join(tempDir(), 'data'), { recursive: true, force: true });
    }
  });
});
