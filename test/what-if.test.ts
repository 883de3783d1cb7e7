import { join } from 'node:path';
import { CreateAgentGroup, UpdateAgentGroup } from '../src/commands/agent-groups';
import type { CommandEnvelope } from '../src/commands/define';
import { DeliverAgentMessage } from '../src/commands/delivery';
import { AddDestination, RemoveDestination } from '../src/commands/destinations';
import { receiveInbound } from '../src/commands/inbound';
import { RegisterMessagingGroup, UnwireChannel, WireChannel } from '../src/commands/messaging-groups';
import { routeOutbound } from '../src/commands/outbound';
import { recordedJudgement, rejudge } from '../src/commands/rejudge';
import { openCore, type Core } from '../src/core';
import { InboundDropped, InboundRouted } from '../src/events/inbound';
import { OutboundDropped, OutboundRouted } from '../src/events/outbound';
import type { Views } from '../src/projections';
import type { AgentMessageRow } from '../src/projections/agent-messages';
import { whatIf, type Flip, type ProposedChange, type WhatIfWindow } from '../src/what-if';
import { useTempDir } from './support/temp';

const START = Date.parse('2026-11-24T09:00:00.000Z');

type DeliveredMessage = Pick<AgentMessageRow, 'message_id' | 'target_session_id'>;

/**
 * A history with every kind of decision re-judging meets: rows past a session's rate
 * limit, rows to a chat nobody registered and to a name the agent's map lacks, a
 * destination revoked and a chat unwired (and wired again) in the middle. The clock moves
 * only between commands, so each decision's time is the time it was judged at.
 */
function recordHistory(path: string, more?: (run: (envelope: CommandEnvelope, secondsLater?: number) => void, core: Core) => void): Core {
  let now = START;
  const core = openCore(path, { synchronous: 'NORMAL', clock: () => new Date(now) });
  const run = (envelope: CommandEnvelope, secondsLater = 5) => {
    now += secondsLater * 1000;
    const outcome = core.bus.dispatch(envelope);
    if (outcome.status !== 'accepted') throw new Error(`history step ${envelope.commandId} was ${outcome.status}`);
  };
  run(CreateAgentGroup.envelope('ag-andy', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }));
  run(UpdateAgentGroup.envelope('andy-rate', { agentGroupId: 'ag-andy', outboundPerMinute: 3 }));
  run(CreateAgentGroup.envelope('ag-bea', { agentGroupId: 'ag-bea', name: 'Bea', folder: 'bea' }));
  for (const [chat, platformId] of [['mg-family', 'p-family'], ['mg-work', 'p-work'], ['mg-club', 'p-club']]) {
    run(RegisterMessagingGroup.envelope(chat!, { messagingGroupId: chat!, channelType: 'telegram', platformId: platformId!, name: chat! }));
  }
  run(WireChannel.envelope('wire-family', { messagingGroupId: 'mg-family', agentGroupId: 'ag-andy' }));
  run(WireChannel.envelope('wire-work', { messagingGroupId: 'mg-work', agentGroupId: 'ag-bea', triggerRules: { pattern: '^@bea', requiresTrigger: true } }));
  run(AddDestination.envelope('andy-family', { agentGroupId: 'ag-andy', localName: 'family', targetType: 'channel', targetId: 'mg-family' }));
  run(AddDestination.envelope('andy-work', { agentGroupId: 'ag-andy', localName: 'work', targetType: 'channel', targetId: 'mg-work' }));
  run(AddDestination.envelope('bea-work', { agentGroupId: 'ag-bea', localName: 'work', targetType: 'channel', targetId: 'mg-work' }));
  run(AddDestination.envelope('andy-bea', { agentGroupId: 'ag-andy', localName: 'bea', targetType: 'agent', targetId: 'ag-bea' }));
  run(AddDestination.envelope('bea-andy', { agentGroupId: 'ag-bea', localName: 'andy', targetType: 'agent', targetId: 'ag-andy' }));
  run(UpdateAgentGroup.envelope('bea-hops', { agentGroupId: 'ag-bea', maxHops: 1 }));

  let n = 0;
  const inbound = (platformId: string, text: string) => run(receiveInbound({ channelType: 'telegram', platformId, messageId: `in-${++n}`, content: { text }, timestamp: new Date(now).toISOString() }));
  const session = (agentGroupId: string) => core.views.sessions.forAgentGroup(agentGroupId)[0]!.id;
  const outbound = (agentGroupId: string, where: { platformId: string } | { to: string } | { agent: string; reply?: DeliveredMessage }, secondsLater = 5) => {
    n++;
    const row = 'to' in where
      ? { platform_id: null, channel_type: null, content: JSON.stringify({ text: 'hi', to: where.to }) }
      : 'agent' in where
        ? { platform_id: where.agent, channel_type: 'agent', content: JSON.stringify({ text: 'hi' }), in_reply_to: where.reply?.message_id ?? null }
        : { platform_id: where.platformId, channel_type: 'telegram', content: JSON.stringify({ text: 'hi' }) };
    const timestamp = new Date(now).toISOString();
    const sessionId = 'agent' in where && where.reply ? where.reply.target_session_id : session(agentGroupId);
    run(routeOutbound({ sessionId, row: { id: `out-${n}`, seq: 2 * n + 1, in_reply_to: null, timestamp, deliver_after: null, recurrence: null, kind: 'chat', thread_id: null, ...row } }), secondsLater);
    return { sessionId, outboundId: `out-${n}` };
  };
  /** What the delivery reactor does with a routed agent-to-agent row: the message it was delivered as. */
  const deliverToAgent = (row: { sessionId: string; outboundId: string }, targetAgentGroupId: string): DeliveredMessage => {
    run(DeliverAgentMessage.envelope(`deliver-${row.outboundId}`, { ...row, targetAgentGroupId, kind: 'chat', content: JSON.stringify({ text: 'hi' }), inReplyTo: null }));
    return core.store.db.prepare('SELECT message_id, target_session_id FROM agent_messages ORDER BY delivered_position DESC LIMIT 1').get() as DeliveredMessage;
  };

  inbound('p-family', 'hello andy');
  inbound('p-work', '@bea hello');
  inbound('p-work', 'chatter');
  // A burst: Andy's allowance is 3 a minute, so the last two of each burst are rate-limited.
  for (const platformId of ['p-family', 'p-work', 'p-club', 'p-family', 'p-work']) outbound('ag-andy', { platformId }, 1);
  outbound('ag-andy', { platformId: 'p-nowhere' }, 61);
  outbound('ag-andy', { to: 'weather' });
  outbound('ag-andy', { platformId: 'p-club' });
  outbound('ag-bea', { platformId: 'p-work' });
  outbound('ag-bea', { platformId: 'p-family' }, 61);
  run(RemoveDestination.envelope('andy-work-revoked', { agentGroupId: 'ag-andy', localName: 'work' }));
  outbound('ag-andy', { platformId: 'p-work' });
  for (const platformId of ['p-family', 'p-work', 'p-family', 'p-club']) outbound('ag-andy', { platformId }, 1);
  run(UnwireChannel.envelope('unwire-work', { messagingGroupId: 'mg-work', agentGroupId: 'ag-bea' }), 61);
  inbound('p-work', '@bea are you there?');
  inbound('p-club', 'anyone?');
  run(WireChannel.envelope('wire-work-again', { messagingGroupId: 'mg-work', agentGroupId: 'ag-bea' }));
  inbound('p-work', 'back again');
  // Andy asks Bea; Bea's answer would be the chain's second hop, and her limit is one.
  const asked = deliverToAgent(outbound('ag-andy', { agent: 'ag-bea' }, 61), 'ag-bea');
  outbound('ag-bea', { agent: 'ag-andy', reply: asked });
  outbound('ag-andy', { platformId: 'p-club' });
  more?.(run, core);
  return core;
}

const DECISIONS = [InboundRouted.type, InboundDropped.type, OutboundRouted.type, OutboundDropped.type];

/**
 * What-if the plain way, to hold the fast path to: a copy of the whole database with the
 * change applied through its bus, every decision re-judged by the deciders against it
 * with the audit as it stood just before that decision (so the rate limit counts the
 * rows the session had written by then), nothing kept between decisions; today's judgement,
 * which tells a flip's cause, the same way on the log's own database.
 */
function straightforwardFlips(core: Core, dir: string, change: ProposedChange, window: WhatIfWindow) {
  const copyPath = join(dir, `copy-${Math.random().toString(36).slice(2)}.db`);
  core.store.db.exec(`VACUUM INTO '${copyPath}'`);
  const copy = openCore(copyPath);
  try {
    const commands: CommandEnvelope[] = [
      ...(change.removeDestinations ?? []).map((payload, i) => RemoveDestination.envelope(`remove-${i}`, payload as never)),
      ...(change.unwire ?? []).map((payload, i) => UnwireChannel.envelope(`unwire-${i}`, payload as never)),
      ...(change.addDestinations ?? []).map((payload, i) => AddDestination.envelope(`add-${i}`, payload as never)),
      ...(change.wire ?? []).map((payload, i) => WireChannel.envelope(`wire-${i}`, payload as never)),
    ];
    for (const command of commands) expect(copy.bus.dispatch(command).status).toBe('accepted');
    const rowsBefore = core.store.db.prepare(
      `SELECT CASE WHEN outcome = 'dropped' THEN reason END AS dropped, count(*) AS count FROM audit
       WHERE session_id = ? AND direction = 'outbound' AND decided_at > ? AND decided_position < ? GROUP BY 1`,
    );
    const flips: Flip[] = [];
    let decisions = 0;
    const asDecided = (views: Views, position: number): Views => {
      const audit = Object.create(views.audit) as Views['audit'];
      audit.outboundSince = (sessionId, since) =>
        new Map((rowsBefore.all(sessionId, since, position) as { dropped: string | null; count: number }[]).map((r) => [r.dropped, r.count]));
      return { ...views, audit };
    };
    for (const event of core.store.readAll({ after: window.after, until: window.until, type: DECISIONS })) {
      const recorded = recordedJudgement(event)!;
      const proposed = rejudge(asDecided(copy.views, event.position), event)!;
      if (window.agentGroupId !== undefined && recorded.agentGroupId !== window.agentGroupId && proposed.agentGroupId !== window.agentGroupId) continue;
      decisions++;
      if (proposed.routed === recorded.routed) continue;
      const today = rejudge(asDecided(core.views, event.position), event)!;
      const data = event.data as { messageId?: string; outboundId?: string };
      flips.push({
        position: event.position,
        type: event.type,
        recordedAt: event.metadata.recordedAt,
        messageId: data.messageId ?? data.outboundId ?? event.metadata.commandId,
        agentGroupId: recorded.agentGroupId ?? proposed.agentGroupId,
        recorded,
        proposed,
        cause: today.routed === recorded.routed ? 'change' : 'since-recorded',
      });
    }
    const byAgentGroup = [...new Set(flips.map((flip) => flip.agentGroupId ?? '(none)'))].sort().map((agentGroupId) => {
      const own = flips.filter((flip) => (flip.agentGroupId ?? '(none)') === agentGroupId);
      return { agentGroupId, routedToDropped: own.filter((flip) => flip.recorded.routed).length, droppedToRouted: own.filter((flip) => !flip.recorded.routed).length };
    });
    return { decisions, flips, byAgentGroup };
  } finally {
    copy.close();
  }
}

describe('what-if', () => {
  const dir = useTempDir('switchyard-what-if-');

  it('gives the flips of the plain re-judging: the same decisions, the same flips, the same causes', () => {
    const core = recordHistory(join(dir(), 'switchyard.db'));
    try {
      const last = core.store.lastPosition();
      const reasons = core.store.db.prepare("SELECT DISTINCT reason FROM audit WHERE outcome = 'dropped' ORDER BY 1").pluck().all();
      expect(reasons).toEqual(['loop-limit', 'no-agent-wired', 'no-trigger-matched', 'not-permitted', 'rate-limited', 'unknown-destination']);
      const changes: Array<[ProposedChange, WhatIfWindow]> = [
        [{ removeDestinations: [{ agentGroupId: 'ag-andy', localName: 'family' }, { agentGroupId: 'ag-andy', localName: 'mg-family' }] }, { after: 0, until: last }],
        [{ addDestinations: [{ agentGroupId: 'ag-andy', localName: 'work', targetType: 'channel', targetId: 'mg-work' }] }, { after: 0, until: last }],
        [{ addDestinations: [{ agentGroupId: 'ag-andy', localName: 'club', targetType: 'channel', targetId: 'mg-club' }, { agentGroupId: 'ag-andy', localName: 'weather', targetType: 'channel', targetId: 'mg-work' }] }, { after: 0, until: last }],
        [{ unwire: [{ messagingGroupId: 'mg-family', agentGroupId: 'ag-andy' }], wire: [{ messagingGroupId: 'mg-club', agentGroupId: 'ag-bea' }] }, { after: 0, until: last }],
        [{ addDestinations: [{ agentGroupId: 'ag-bea', localName: 'family', targetType: 'channel', targetId: 'mg-family' }] }, { after: 20, until: last, agentGroupId: 'ag-bea' }],
      ];
      for (const [change, window] of changes) {
        const { decisions, flips, byAgentGroup } = whatIf(core, change, window);
        expect({ change, decisions, flips, byAgentGroup }).toEqual({ change, ...straightforwardFlips(core, dir(), change, window) });
      }
    } finally {
      core.close();
    }
  });

  it('judges each distinct question once and still reports what judging every decision in full reports, on a log that asks the same questions over and over', () => {
    const core = recordHistory(join(dir(), 'switchyard.db'), (run, history) => {
      // A minute apart: no session comes near its rate limit, so each decision is the ACL's alone.
      const session = (agentGroupId: string) => history.views.sessions.forAgentGroup(agentGroupId)[0]!.id;
      let n = 1000;
      const outbound = (agentGroupId: string, row: Record<string, unknown>) => {
        n++;
        const base = { id: `out-${n}`, seq: 2 * n + 1, in_reply_to: null, timestamp: '2026-11-24T12:00:00.000Z', deliver_after: null, recurrence: null, kind: 'chat', thread_id: null, platform_id: null, channel_type: null, content: '{"text":"hi"}' };
        run(routeOutbound({ sessionId: session(agentGroupId), row: { ...base, ...row } as never }), 60);
      };
      const inbound = (platformId: string, text: string, threadId: string | null = null) => run(receiveInbound({ channelType: 'telegram', platformId, threadId, messageId: `in-${++n}`, content: { text } }), 60);
      for (let round = 0; round < 3; round++) {
        // Questions that differ in one field the verdict reads: the chat, the agent group, the name, the files, the text.
        for (const platformId of ['p-family', 'p-work', 'p-club', 'p-nowhere']) {
          outbound('ag-andy', { channel_type: 'telegram', platform_id: platformId, thread_id: `t-${round}`, kind: round === 1 ? 'chat-sdk' : 'chat' });
          outbound('ag-bea', { channel_type: 'telegram', platform_id: platformId });
        }
        for (const to of ['family', 'club', 'weather', 'bea']) outbound('ag-andy', { content: JSON.stringify({ text: 'hi', to }) });
        outbound('ag-andy', { channel_type: 'telegram', platform_id: 'p-club', content: JSON.stringify({ text: 'hi', files: ['a.txt'] }) });
        outbound('ag-andy', { channel_type: 'telegram', platform_id: 'p-club', content: JSON.stringify({ text: 'hi', files: ['../a.txt'] }) });
        outbound('ag-andy', { channel_type: 'telegram', platform_id: 'p-club', content: 'not json' });
        outbound('ag-andy', { channel_type: 'agent', platform_id: 'ag-bea' });
        outbound('ag-bea', { channel_type: 'agent', platform_id: 'ag-andy' });
        // Judged in full: a row put off, a system action, a malformed seq.
        outbound('ag-andy', { channel_type: 'telegram', platform_id: 'p-club', deliver_after: '2026-12-01 09:00:00' });
        outbound('ag-andy', { kind: 'system', content: JSON.stringify({ action: 'launch_rockets' }) });
        outbound('ag-andy', { channel_type: 'telegram', platform_id: 'p-club', seq: -1 });
        for (const text of ['@bea hi', 'hi', '@BEA again']) inbound('p-work', text, `thread-${round}`);
        inbound('p-family', 'hello', round === 2 ? null : `thread-${round}`);
        for (const text of ['anyone?', 'hello club']) inbound('p-club', text);
      }
    });
    try {
      const last = core.store.lastPosition();
      const changes: ProposedChange[] = [
        { addDestinations: [{ agentGroupId: 'ag-andy', localName: 'club', targetType: 'channel', targetId: 'mg-club' }, { agentGroupId: 'ag-bea', localName: 'family', targetType: 'channel', targetId: 'mg-family' }] },
        { removeDestinations: [{ agentGroupId: 'ag-andy', localName: 'family' }, { agentGroupId: 'ag-andy', localName: 'bea' }] },
        { unwire: [{ messagingGroupId: 'mg-work', agentGroupId: 'ag-bea' }], wire: [{ messagingGroupId: 'mg-club', agentGroupId: 'ag-andy', triggerRules: { pattern: '^any', requiresTrigger: true } }] },
        { addDestinations: [{ agentGroupId: 'ag-andy', localName: 'weather', targetType: 'channel', targetId: 'mg-club' }] },
      ];
      for (const change of changes) {
        for (const window of [{ after: 0, until: last }, { after: 0, until: last, agentGroupId: 'ag-bea' }]) {
          const { decisions, flips, byAgentGroup } = whatIf(core, change, window);
          expect(flips.length).toBeGreaterThan(0);
          expect({ change, window, decisions, flips, byAgentGroup }).toEqual({ change, window, ...straightforwardFlips(core, dir(), change, window) });
        }
      }
    } finally {
      core.close();
    }
  });

  it('credits a flipped row to the name that would really route it: a name the change adds is newer than every name the agent group holds today', () => {
    const core = recordHistory(join(dir(), 'switchyard.db'), (run) => {
      // Granted after Andy's rows to the club were dropped: today they would go, by this name.
      run(AddDestination.envelope('andy-club', { agentGroupId: 'ag-andy', localName: 'club', targetType: 'channel', targetId: 'mg-club' }));
    });
    try {
      const window = { after: 0, until: core.store.lastPosition() };
      const change: ProposedChange = { addDestinations: [{ agentGroupId: 'ag-andy', localName: 'clubhouse', targetType: 'channel', targetId: 'mg-club' }] };
      const report = whatIf(core, change, window);
      expect(report.flips.map((flip) => flip.proposed.verdict)).toContain('routed by "club"');
      expect(report.flips).toEqual(straightforwardFlips(core, dir(), change, window).flips);
    } finally {
      core.close();
    }
  });

  it('leaves a row the rate or hop limit dropped dropped, even when the change grants its target: no change of routing gives a session more rows a minute or shortens a chain', () => {
    const core = recordHistory(join(dir(), 'switchyard.db'));
    try {
      const window = { after: 0, until: core.store.lastPosition() };
      const report = whatIf(core, { addDestinations: [{ agentGroupId: 'ag-andy', localName: 'club', targetType: 'channel', targetId: 'mg-club' }] }, window);
      const rateLimited = [...core.store.readAll({ ...window, type: OutboundDropped.type })].filter((event) => (event.data as { reason: string }).reason === 'rate-limited');
      expect(rateLimited.map((event) => (event.data as { row: { platform_id: string } }).row.platform_id)).toContain('p-club');
      expect(report.flips.filter((flip) => ['dropped: rate-limited', 'dropped: loop-limit'].includes(flip.recorded.verdict))).toEqual([]);
      expect(report.flips.filter((flip) => flip.cause === 'change').map((flip) => [flip.recorded.verdict, flip.proposed.verdict])).toEqual([
        ['dropped: not-permitted', 'routed by "club"'],
        ['dropped: not-permitted', 'routed by "club"'],
        ['dropped: not-permitted', 'routed by "club"'],
      ]);
    } finally {
      core.close();
    }
  });
});
