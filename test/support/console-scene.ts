import { randomUUID } from 'node:crypto';
import type { CommandEnvelope } from '../../src/commands/define';
import { RecordDeliveryAttempt, RecordDeliveryResult } from '../../src/commands/delivery';
import { routeOutbound } from '../../src/commands/outbound';
import { payloadHash } from '../../src/commands/system-actions';
import { openDataDir, type Core } from '../../src/core';
import { ApprovalRequested } from '../../src/events/admin';
import { ContainerStarted, ContainerStarting, ContainerStopped } from '../../src/events/containers';
import type { PendingEvent } from '../../src/events/define';
import { OutboundDropped } from '../../src/events/outbound';
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
  appendAsIs(core, new Date(now), session.id, [
    ApprovalRequested.create({
      approvalId: 'appr-1', sessionId: session.id, agentGroupId: 'ag-andy', outboundId: 'out-2', action: 'install_packages',
      payload: APPROVAL_PAYLOAD, payloadHash: payloadHash(APPROVAL_PAYLOAD), shownText: 'Andy asks to install jq',
      expiresAt: '2099-01-01T00:00:00.000Z', adminChat: { messagingGroupId: 'mg-ops', channelType: 'slack', platformId: 'C42' },
    }),
  ]);
  return core;
}

/** Appends events no command of the host decides this way (what a runtime or a decider would have recorded), with their projections. */
function appendAsIs(core: Core, at: Date, actor: string, events: PendingEvent[]): void {
  core.store.transaction(() => {
    for (const event of events) {
      const id = `scene-${randomUUID()}`;
      const metadata = { commandId: id, correlationId: id, causationId: id, actor, recordedAt: at.toISOString() };
      for (const recorded of core.store.append(event.stream, 'any', [event], metadata)) core.projections.apply(recorded);
    }
  });
}

/**
 * Andy's session, just now: an agent that crashed with exit code 1, a second one running,
 * and a row to the research bot dropped by the hop limit (agents answering each other).
 */
export function addRestartsAndLoop(core: Core): string {
  const sessionId = core.views.sessions.forAgentGroup('ag-andy')[0]!.id;
  const incarnation = { sessionId, agentGroupId: 'ag-andy', runtime: 'process' as const, image: 'builtin', wokenBy: 'inbound' };
  const row = {
    id: 'loop-1', seq: 4, in_reply_to: null, timestamp: '2026-11-24T10:00:00.000Z', deliver_after: null, recurrence: null,
    kind: 'chat', platform_id: 'ag-research', channel_type: 'agent', thread_id: null, content: '{"text":"again"}',
  };
  appendAsIs(core, new Date(), 'host', [
    ContainerStarting.create({ ...incarnation, incarnationId: 'inc-1' }),
    ContainerStopped.create({ sessionId, incarnationId: 'inc-1', reason: 'crashed', exitCode: 1, signal: null, stderrTail: 'boom' }),
    ContainerStarting.create({ ...incarnation, incarnationId: 'inc-2' }),
    ContainerStarted.create({ sessionId, incarnationId: 'inc-2', runtimeId: 'process-42' }),
    OutboundDropped.create({ sessionId, agentGroupId: 'ag-andy', outboundId: 'loop-1', reason: 'loop-limit', explanation: 'hop 4 of a chain', target: null, row }),
  ]);
  return sessionId;
}
