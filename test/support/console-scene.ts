import type { CommandEnvelope } from '../../src/commands/define';
import { RecordDeliveryAttempt, RecordDeliveryResult } from '../../src/commands/delivery';
import { routeOutbound } from '../../src/commands/outbound';
import { payloadHash } from '../../src/commands/system-actions';
import { openDataDir, type Core } from '../../src/core';
import { ApprovalRequested } from '../../src/events/admin';
import { seedScenario } from './scenario';

export const APPROVAL_PAYLOAD = { apt: ['jq'], npm: [], reason: 'json' };

/**
 * The scenario's history, plus what the console shows beyond it: Andy's reply delivered
 * 0.3 s after it was routed, and a pending approval request from Andy's session. The
 * clock is the test's, so the delivery latency is exact.
 */
export function openConsoleScene(dataDir: string): Core {
  let now = Date.parse('2026-11-24T10:00:00.000Z');
  const core = openDataDir(dataDir, { clock: () => new Date(now) });
  seedScenario(core);
  const session = core.views.sessions.list().find((s) => s.agent_group_id === 'ag-andy')!;
  const row = {
    id: 'out-1', seq: 2, in_reply_to: null, timestamp: '2026-11-24T10:00:00.000Z', deliver_after: null, recurrence: null,
    kind: 'chat', platform_id: '-1001', channel_type: 'telegram', thread_id: null, content: JSON.stringify({ text: 'pasta at 7' }),
  };
  const accept = (envelope: CommandEnvelope) => {
    const outcome = core.bus.dispatch(envelope);
    if (outcome.status !== 'accepted') throw new Error(`${envelope.type} was ${outcome.status}: ${JSON.stringify(outcome)}`);
  };
  accept(routeOutbound({ sessionId: session.id, row }));
  const ref = { sessionId: session.id, outboundId: 'out-1' };
  accept(RecordDeliveryAttempt.envelope('scene-attempt', ref));
  now += 300;
  accept(RecordDeliveryResult.envelope('scene-result', { ...ref, attempt: 1, result: { ok: true, platformMessageId: 'tg-77' } }));
  core.store.transaction(() => {
    const request = ApprovalRequested.create({
      approvalId: 'appr-1', sessionId: session.id, agentGroupId: 'ag-andy', outboundId: 'out-2', action: 'install_packages',
      payload: APPROVAL_PAYLOAD, payloadHash: payloadHash(APPROVAL_PAYLOAD), shownText: 'Andy asks to install jq',
      expiresAt: '2099-01-01T00:00:00.000Z', adminChat: { messagingGroupId: 'mg-ops', channelType: 'slack', platformId: 'C42' },
    });
    const metadata = { commandId: 'scene-approval', correlationId: 'scene-approval', causationId: 'scene-approval', actor: session.id, recordedAt: new Date(now).toISOString() };
    for (const recorded of core.store.append(request.stream, 'any', [request], metadata)) core.projections.apply(recorded);
  });
  return core;
}
