import { RecordDeliveryAttempt, RecordDeliveryResult } from '../../src/commands/delivery';
import { RouteOutbound, routeOutbound, type RouteOutboundPayload } from '../../src/commands/outbound';
import { AgentGroupDeleted } from '../../src/events/agent-groups';
import { DeliveryAttempted, DeliveryFailed, DeliverySucceeded } from '../../src/events/delivery';
import { DestinationAdded, DestinationRemoved } from '../../src/events/destinations';
import { SessionOpened } from '../../src/events/inbound';
import { OutboundDropped, OutboundRouted, type OutboundRow } from '../../src/events/outbound';
import { given } from '../support/decider';
import { agentGroupCreated, chatRegistered } from '../support/fixtures';

const scene = [
  agentGroupCreated('ag-andy'),
  agentGroupCreated('ag-research'),
  chatRegistered('mg-family', { channelType: 'telegram', platformId: '-1001', name: 'Family' }),
  chatRegistered('mg-work', { channelType: 'slack', platformId: 'C1', name: 'Work' }),
  SessionOpened.create({ sessionId: 'sess-1', agentGroupId: 'ag-andy', messagingGroupId: 'mg-family', threadId: null, sessionMode: 'shared', agentProvider: null }),
  DestinationAdded.create({ agentGroupId: 'ag-andy', localName: 'family', targetType: 'channel', targetId: 'mg-family' }),
  DestinationAdded.create({ agentGroupId: 'ag-andy', localName: 'research', targetType: 'agent', targetId: 'ag-research' }),
];

const row = (extra: Partial<OutboundRow> = {}): OutboundRow => ({
  id: 'out-1', seq: 1, in_reply_to: 'msg-9', timestamp: '2026-11-24T09:00:00.000Z', deliver_after: null, recurrence: null,
  kind: 'chat', platform_id: '-1001', channel_type: 'telegram', thread_id: 'th-3', content: JSON.stringify({ text: 'dinner at 7' }), ...extra,
});

const dropped = (reason: string, target: unknown, r: OutboundRow) => ({
  stream: 'session-sess-1', type: 'OutboundDropped', schemaVersion: 1,
  data: { sessionId: 'sess-1', agentGroupId: 'ag-andy', outboundId: r.id, reason, explanation: expect.any(String), target, row: r },
});

const familyTarget = { type: 'channel', messagingGroupId: 'mg-family', channelType: 'telegram', platformId: '-1001', threadId: 'th-3' } as const;

describe('RouteOutbound', () => {
  it('routes a channel row the agent holds a destination for, citing the ACL row, keeping the thread', () => {
    given(...scene)
      .when(RouteOutbound, { sessionId: 'sess-1', row: row() })
      .then(OutboundRouted.create({
        sessionId: 'sess-1', agentGroupId: 'ag-andy', outboundId: 'out-1', seq: 1, kind: 'chat', content: row().content, files: [], inReplyTo: 'msg-9',
        target: familyTarget, acl: { rule: 'destination', localName: 'family', grantedAt: 6, grantedBy: 'operator:test' },
      }));
  });

  it('routes an agent row the agent holds a destination for', () => {
    const r = row({ channel_type: 'agent', platform_id: 'ag-research', thread_id: null });
    given(...scene)
      .when(RouteOutbound, { sessionId: 'sess-1', row: r })
      .then(expect.objectContaining({ type: 'OutboundRouted', data: expect.objectContaining({ target: { type: 'agent', agentGroupId: 'ag-research' }, acl: expect.objectContaining({ localName: 'research', grantedAt: 7 }) }) }));
  });

  it('passes the files to send when every name is a plain file name', () => {
    given(...scene)
      .when(RouteOutbound, { sessionId: 'sess-1', row: row({ content: JSON.stringify({ text: 'see', files: ['plot.png', 'notes v2.txt'] }) }) })
      .then(expect.objectContaining({ data: expect.objectContaining({ files: ['plot.png', 'notes v2.txt'] }) }));
  });

  describe('drops, each with its reason', () => {
    it('not-permitted: a registered chat the agent has no destination for', () => {
      const r = row({ channel_type: 'slack', platform_id: 'C1' });
      given(...scene).when(RouteOutbound, { sessionId: 'sess-1', row: r }).then(dropped('not-permitted', { ...familyTarget, messagingGroupId: 'mg-work', channelType: 'slack', platformId: 'C1' }, r));
    });

    it('not-permitted: a destination revoked before the row was read', () => {
      given(...scene, DestinationRemoved.create({ agentGroupId: 'ag-andy', localName: 'family' }))
        .when(RouteOutbound, { sessionId: 'sess-1', row: row() })
        .then(dropped('not-permitted', familyTarget, row()));
    });

    it('not-permitted: an existing agent group the agent has no destination for', () => {
      const r = row({ channel_type: 'agent', platform_id: 'ag-other' });
      given(...scene, agentGroupCreated('ag-other')).when(RouteOutbound, { sessionId: 'sess-1', row: r }).then(dropped('not-permitted', { type: 'agent', agentGroupId: 'ag-other' }, r));
    });

    it('unknown-destination: a chat nobody registered', () => {
      const r = row({ platform_id: '-999' });
      given(...scene).when(RouteOutbound, { sessionId: 'sess-1', row: r }).then(dropped('unknown-destination', null, r));
    });

    it('unknown-destination: an agent group that never existed', () => {
      const r = row({ channel_type: 'agent', platform_id: 'ag-ghost' });
      given(...scene).when(RouteOutbound, { sessionId: 'sess-1', row: r }).then(dropped('unknown-destination', null, r));
    });

    it('unknown-destination: a block the runner could not route, naming a destination the agent lacks', () => {
      const r = row({ channel_type: null, platform_id: null, content: JSON.stringify({ text: 'psst', to: 'nowhere' }) });
      const decision = given(...scene).when(RouteOutbound, { sessionId: 'sess-1', row: r });
      decision.then(expect.objectContaining({ data: expect.objectContaining({ reason: 'unknown-destination', explanation: 'agent group ag-andy has no destination named "nowhere"' }) }));
    });

    it('target-deleted: the destination row stands but its agent group was deleted', () => {
      const r = row({ channel_type: 'agent', platform_id: 'ag-research' });
      given(...scene, AgentGroupDeleted.create({ agentGroupId: 'ag-research' }))
        .when(RouteOutbound, { sessionId: 'sess-1', row: r })
        .then(dropped('target-deleted', { type: 'agent', agentGroupId: 'ag-research' }, r));
    });

    it.each([
      ['no routing fields', { channel_type: null, platform_id: null }],
      ['an agent row without a target', { channel_type: 'agent', platform_id: null }],
      ['content that is not JSON', { content: 'not json' }],
      ['files that escape the outbox', { content: JSON.stringify({ files: ['../../etc/passwd'] }) }],
      ['files that are not names', { content: JSON.stringify({ files: [42] }) }],
    ])('malformed-row: %s', (_label, extra) => {
      const r = row(extra as Partial<OutboundRow>);
      given(...scene).when(RouteOutbound, { sessionId: 'sess-1', row: r }).then(dropped('malformed-row', null, r));
    });

    it('self-address: an agent addressing its own group, decided by the explicit implicit-self rule', () => {
      const r = row({ channel_type: 'agent', platform_id: 'ag-andy' });
      const decision = given(...scene).when(RouteOutbound, { sessionId: 'sess-1', row: r });
      decision.then(dropped('self-address', { type: 'agent', agentGroupId: 'ag-andy' }, r));
    });

    it('unknown-action: a system row this host does not handle is recorded and ignored', () => {
      const r = row({ kind: 'system', content: JSON.stringify({ action: 'launch_rockets' }) });
      given(...scene).when(RouteOutbound, { sessionId: 'sess-1', row: r }).then(dropped('unknown-action', null, r), expect.objectContaining({ type: 'AgentNotified' }));
    });
  });

  it('refuses a row of an unknown session without recording it', () => {
    given(...scene).when(RouteOutbound, { sessionId: 'sess-9', row: row() }).thenRejects('unknown-session');
  });

  it('names the bad field of a malformed command', () => {
    expect(() => given(...scene).when(RouteOutbound, { sessionId: 'sess-1', row: { ...row(), kind: 42 as unknown as string } })).toThrow(/payload\.row\.kind: .*expected string/);
  });
});

describe('RouteOutbound: a row as the container wrote it, whatever it holds, is decided', () => {
  // The container writes messages_out, so any column can hold any SQLite value.
  const asRead = (extra: Record<string, unknown>) => ({ ...row(), ...extra }) as RouteOutboundPayload['row'];
  const decide = (r: RouteOutboundPayload['row']) => given(...scene).when(RouteOutbound, { sessionId: 'sess-1', row: r });
  const droppedAs = (reason: string, explanation: RegExp, r: RouteOutboundPayload['row'], outboundId = 'out-1') =>
    expect.objectContaining({ type: 'OutboundDropped', data: expect.objectContaining({ outboundId, reason, explanation: expect.stringMatching(explanation), row: r }) });

  it.each([
    ['NULL', null, /seq is NULL/],
    ['text', 'abc', /seq is text "abc"/],
    ['a blob', { blob: '35' }, /seq is a blob/],
    ['not a whole number', 2.5, /seq 2\.5 is not a whole number/],
    ['negative', -3, /seq -3 is not a whole number from 0/],
    ['beyond 2^53', 2 ** 60, /is not a whole number from 0 to 2\^53/],
  ])('malformed-row: a seq that is %s, with the evidence', (_label, seq, explanation) => {
    const r = asRead({ seq });
    decide(r).then(droppedAs('malformed-row', explanation, r));
  });

  it('routes a row whose seq has the host\'s parity: parity keeps the two writers apart, it is no routing rule', () => {
    decide(row({ seq: 8 })).then(expect.objectContaining({ type: 'OutboundRouted', data: expect.objectContaining({ seq: 8 }) }));
  });

  it.each([
    ['NULL', { id: null }, /no id \(NULL\)/],
    ['empty', { id: '' }, /id is empty/],
    ['a blob', { id: { blob: '61' } }, /id is a blob/],
    ['over 500 characters', { id: 'x'.repeat(501) }, /id is 501 characters/],
    ['longer than the host reads', { id: 'x'.repeat(200), oversize: { id: 1_000_000 } }, /id is 1000000 bytes/],
    ['holding a control character', { id: 'bell\u0007' }, /id holds a control character/],
  ])('malformed-row: an id that is %s is named by its rowid', (_label, extra, explanation) => {
    const r = asRead({ rowid: 7, ...extra });
    decide(r).then(droppedAs('malformed-row', explanation, r, 'rowid:7'));
  });

  it('too-large: content over the cap is dropped with its size; the evidence keeps only the prefix the poller read', () => {
    const r = asRead({ content: '{"text":"aaaa', oversize: { content: 10 * 1024 * 1024 } });
    decide(r).then(droppedAs('too-large', /content is 10485760 bytes; the cap is 65536/, r));
  });

  it('malformed-row: any other column longer than the host reads', () => {
    const r = asRead({ thread_id: 't'.repeat(200), oversize: { thread_id: 5000 } });
    decide(r).then(droppedAs('malformed-row', /thread_id is 5000 bytes; the cap is 2048/, r));
  });

  it.each([
    ['not a time', 'next tuesday', /deliver_after: "next tuesday" is not a time/],
    ['a day that does not exist', '2026-02-31 10:00:00', /is not a time/],
    ['more than a year ahead', '2099-01-01T00:00:00Z', /deliver_after: 2099-01-01T00:00:00Z is more than 366 days ahead/],
  ])('malformed-row: a deliver_after that is %s', (_label, deliverAfter, explanation) => {
    const r = asRead({ deliver_after: deliverAfter });
    decide(r).then(droppedAs('malformed-row', explanation, r));
  });

  it('routes a row whose deliver_after has come, in the reference form (UTC) or ISO-8601', () => {
    for (const deliverAfter of ['2026-11-24 11:59:00', '2026-11-24T11:59:00.000Z', '2026-11-24T13:59:00+02:00']) {
      decide(row({ deliver_after: deliverAfter })).then(expect.objectContaining({ type: 'OutboundRouted' }));
    }
  });
});

describe('the command id of a row', () => {
  it('is outbound:<session>:<id>, or by rowid when the id cannot name the row, so two NULL ids never share one', () => {
    expect(routeOutbound({ sessionId: 'sess-1', row: row() }).commandId).toBe('outbound:sess-1:out-1');
    const nullId = (rowid: number) => routeOutbound({ sessionId: 'sess-1', row: { ...row(), id: null, rowid } as RouteOutboundPayload['row'] }).commandId;
    expect(nullId(4)).toBe('outbound-rowid:sess-1:4');
    expect(nullId(5)).not.toBe(nullId(4));
  });
});

describe('delivery attempts', () => {
  const routedRow = OutboundRouted.create({
    sessionId: 'sess-1', agentGroupId: 'ag-andy', outboundId: 'out-1', seq: 1, kind: 'chat', content: '{}', files: [], inReplyTo: null,
    target: familyTarget, acl: { rule: 'destination', localName: 'family', grantedAt: 6, grantedBy: 'operator:test' },
  });
  const ref = { sessionId: 'sess-1', outboundId: 'out-1' };
  const failure = { ok: false as const, errorClass: 'HttpError', error: '502' };
  const failed = (attempt: number, final: boolean) => DeliveryFailed.create({ ...ref, attempt, errorClass: 'HttpError', error: '502', final });

  it('counts attempts from the log', () => {
    given(...scene, routedRow).when(RecordDeliveryAttempt, ref).then(DeliveryAttempted.create({ ...ref, attempt: 1 }));
    given(...scene, routedRow, DeliveryAttempted.create({ ...ref, attempt: 1 }), failed(1, false))
      .when(RecordDeliveryAttempt, ref)
      .then(DeliveryAttempted.create({ ...ref, attempt: 2 }));
  });

  it('records success with the platform message id', () => {
    given(...scene, routedRow, DeliveryAttempted.create({ ...ref, attempt: 1 }))
      .when(RecordDeliveryResult, { ...ref, attempt: 1, result: { ok: true, platformMessageId: 'tg-555' } })
      .then(DeliverySucceeded.create({ ...ref, attempt: 1, platformMessageId: 'tg-555' }));
  });

  it('the third failure is final, and no fourth attempt opens', () => {
    const history = [...scene, routedRow, DeliveryAttempted.create({ ...ref, attempt: 1 }), failed(1, false), DeliveryAttempted.create({ ...ref, attempt: 2 }), failed(2, false), DeliveryAttempted.create({ ...ref, attempt: 3 })];
    given(...history).when(RecordDeliveryResult, { ...ref, attempt: 3, result: failure }).then(failed(3, true));
    given(...history, failed(3, true)).when(RecordDeliveryAttempt, ref).thenRejects('not-deliverable');
  });

  it('refuses a stale result and an attempt on a dropped or delivered row', () => {
    given(...scene, routedRow, DeliveryAttempted.create({ ...ref, attempt: 1 })).when(RecordDeliveryResult, { ...ref, attempt: 2, result: failure }).thenRejects('stale-attempt');
    given(...scene, routedRow, DeliveryAttempted.create({ ...ref, attempt: 1 }), DeliverySucceeded.create({ ...ref, attempt: 1, platformMessageId: null }))
      .when(RecordDeliveryAttempt, ref)
      .thenRejects('not-deliverable');
    given(...scene).when(RecordDeliveryAttempt, ref).thenRejects('not-deliverable');
  });
});
