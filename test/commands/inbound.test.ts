import { join } from 'node:path';
import { dispatchInbound, ReceiveInbound, receiveInbound, RecordInboundRepeat } from '../../src/commands/inbound';
import { openCore } from '../../src/core';
import { DestinationAdded } from '../../src/events/destinations';
import { InboundDropped, InboundRouted, SessionOpened } from '../../src/events/inbound';
import { MessagingGroupRegistered } from '../../src/events/messaging-groups';
import { given, idFor } from '../support/decider';
import { agentGroupCreated, channelWired, chatRegistered } from '../support/fixtures';
import { seedScenario } from '../support/scenario';
import { useTempDir } from '../support/temp';

const message = (extra: Partial<Parameters<typeof ReceiveInbound.schema.parse>[0]> = {}) => ({
  channelType: 'telegram',
  platformId: 'tg-mg-1',
  messageId: '42',
  content: { text: '@Andy hello', sender: 'mum' },
  timestamp: '2026-11-24T09:00:00.000Z',
  ...extra,
});

const newChat = idFor('mg');
const newSession = idFor('sess');
const newMessage = idFor('msg');
const scene = [agentGroupCreated('ag-andy'), agentGroupCreated('ag-bob'), chatRegistered('mg-1'), chatRegistered('mg-2')];

/** The event a routed message produces, with what the test cares about. */
const routed = (sessionId: unknown, extra: Record<string, unknown>) => ({
  stream: expect.stringMatching(/^session-/),
  type: 'InboundRouted',
  schemaVersion: 1,
  data: expect.objectContaining({ sessionId, messageId: newMessage, platformMessageId: '42', ...extra }),
});

describe('ReceiveInbound', () => {
  describe('drops, each with its reason and evidence', () => {
    it('no-agent-wired: a chat seen for the first time is registered, then the message dropped', () => {
      given(...scene)
        .when(ReceiveInbound, message({ platformId: 'new-chat', chatName: 'Newcomers', isGroup: true }))
        .then(
          MessagingGroupRegistered.create({ messagingGroupId: newChat, channelType: 'telegram', platformId: 'new-chat', name: 'Newcomers', isGroup: true, adminUserId: null, registeredBy: 'first-inbound' }),
          InboundDropped.create({
            messageId: newMessage, messagingGroupId: newChat, channelType: 'telegram', platformId: 'new-chat', threadId: null, platformMessageId: '42',
            reason: 'no-agent-wired', evidence: { wirings: [], text: '@Andy hello' },
          }),
        );
    });

    it('no-agent-wired: a known chat with no wiring', () => {
      given(...scene)
        .when(ReceiveInbound, message())
        .then({ stream: 'messaging-group-mg-1', type: 'InboundDropped', schemaVersion: 1, data: expect.objectContaining({ reason: 'no-agent-wired', messagingGroupId: 'mg-1' }) });
    });

    it('no-trigger-matched: every wiring requires a trigger the text does not match', () => {
      given(...scene, channelWired('mg-1', 'ag-andy', { pattern: '^@andy\\b', requiresTrigger: true }))
        .when(ReceiveInbound, message({ content: { text: 'just chatting' } }))
        .then({
          stream: 'messaging-group-mg-1', type: 'InboundDropped', schemaVersion: 1,
          data: expect.objectContaining({
            reason: 'no-trigger-matched',
            evidence: { wirings: [{ agentGroupId: 'ag-andy', priority: 0, triggerPattern: '^@andy\\b', requiresTrigger: true }], text: 'just chatting' },
          }),
        });
    });

    it('no-trigger-matched: content without text never matches a required trigger', () => {
      given(...scene, channelWired('mg-1', 'ag-andy', { pattern: '.*', requiresTrigger: true }))
        .when(ReceiveInbound, message({ content: { sticker: 'cat' } }))
        .then({ stream: 'messaging-group-mg-1', type: 'InboundDropped', schemaVersion: 1, data: expect.objectContaining({ reason: 'no-trigger-matched' }) });
    });
  });

  describe('trigger patterns recorded before they were checked for RE2', () => {
    it('a catastrophic-backtracking pattern is judged in linear time: the 33-character message that froze the host is decided', () => {
      given(...scene, channelWired('mg-1', 'ag-andy', { pattern: '^(a+)+$', requiresTrigger: true }))
        .when(ReceiveInbound, message({ content: { text: `${'a'.repeat(32)}!` } }))
        .then({ stream: 'messaging-group-mg-1', type: 'InboundDropped', schemaVersion: 1, data: expect.objectContaining({ reason: 'no-trigger-matched' }) });
    });

    it('a pattern RE2 refuses takes nothing, and the drop says why', () => {
      given(...scene, channelWired('mg-1', 'ag-andy', { pattern: '(a)\\1', requiresTrigger: true }))
        .when(ReceiveInbound, message({ content: { text: 'aa' } }))
        .then({
          stream: 'messaging-group-mg-1', type: 'InboundDropped', schemaVersion: 1,
          data: expect.objectContaining({
            reason: 'no-trigger-matched',
            evidence: {
              wirings: [{ agentGroupId: 'ag-andy', priority: 0, triggerPattern: '(a)\\1', requiresTrigger: true, triggerRefused: expect.stringContaining('invalid escape sequence') }],
              text: 'aa',
            },
          }),
        });
    });

    it('a wiring whose pattern RE2 refuses is passed over for the next one, with the reason', () => {
      given(...scene, channelWired('mg-1', 'ag-bob', { priority: 10, pattern: '(?=a)a', requiresTrigger: true }), channelWired('mg-1', 'ag-andy', { priority: 1 }))
        .when(ReceiveInbound, message({ content: { text: 'a' } }))
        .then(
          expect.objectContaining({ type: 'SessionOpened' }),
          routed(newSession, {
            agentGroupId: 'ag-andy',
            routing: expect.objectContaining({ skipped: [{ agentGroupId: 'ag-bob', priority: 10, reason: expect.stringMatching(/^trigger-refused: .*perl/i) }] }),
          }),
        );
    });
  });

  describe('routing', () => {
    it('opens a shared session for the first message, naming the wiring and the sender under the agent’s own name', () => {
      given(...scene, channelWired('mg-1', 'ag-andy'), DestinationAdded.create({ agentGroupId: 'ag-andy', localName: 'family', targetType: 'channel', targetId: 'mg-1' }))
        .when(ReceiveInbound, message({ threadId: 'th-1' }))
        .then(
          SessionOpened.create({ sessionId: newSession, agentGroupId: 'ag-andy', messagingGroupId: 'mg-1', threadId: null, sessionMode: 'shared', agentProvider: null }),
          routed(newSession, {
            agentGroupId: 'ag-andy', messagingGroupId: 'mg-1', threadId: 'th-1', fromName: 'family', kind: 'chat',
            routing: { rule: 'wiring-priority', agentGroupId: 'ag-andy', priority: 0, sessionMode: 'shared', triggerPattern: null, skipped: [] },
          }),
        );
    });

    it('the highest priority wiring whose trigger matches takes the message; passed-over ones are recorded', () => {
      given(...scene, channelWired('mg-1', 'ag-bob', { priority: 10, pattern: '^@bob', requiresTrigger: true }), channelWired('mg-1', 'ag-andy', { priority: 1 }))
        .when(ReceiveInbound, message())
        .then(
          expect.objectContaining({ type: 'SessionOpened' }),
          routed(newSession, { agentGroupId: 'ag-andy', routing: expect.objectContaining({ rule: 'wiring-priority', skipped: [{ agentGroupId: 'ag-bob', priority: 10, reason: 'trigger-not-matched' }] }) }),
        );
      given(...scene, channelWired('mg-1', 'ag-bob', { priority: 10, pattern: '^@bob', requiresTrigger: true }), channelWired('mg-1', 'ag-andy', { priority: 1 }))
        .when(ReceiveInbound, message({ content: { text: '@Bob hi' } }))
        .then(expect.objectContaining({ type: 'SessionOpened' }), routed(newSession, { agentGroupId: 'ag-bob', routing: expect.objectContaining({ rule: 'wiring-trigger', triggerPattern: '^@bob' }) }));
    });

    it('shared: a second message joins the chat’s session, whatever its thread', () => {
      given(...scene, channelWired('mg-1', 'ag-andy'),
        SessionOpened.create({ sessionId: 'sess-1', agentGroupId: 'ag-andy', messagingGroupId: 'mg-1', threadId: null, sessionMode: 'shared', agentProvider: null }))
        .when(ReceiveInbound, message({ threadId: 'other-thread' }))
        .then(routed('sess-1', { threadId: 'other-thread' }));
    });

    it('per-thread: one session per thread of the chat', () => {
      const history = [...scene, channelWired('mg-1', 'ag-andy', { sessionMode: 'per-thread' }),
        SessionOpened.create({ sessionId: 'sess-t1', agentGroupId: 'ag-andy', messagingGroupId: 'mg-1', threadId: 't1', sessionMode: 'per-thread', agentProvider: null })];
      given(...history).when(ReceiveInbound, message({ threadId: 't1' })).then(routed('sess-t1', {}));
      given(...history)
        .when(ReceiveInbound, message({ threadId: 't2' }))
        .then(SessionOpened.create({ sessionId: newSession, agentGroupId: 'ag-andy', messagingGroupId: 'mg-1', threadId: 't2', sessionMode: 'per-thread', agentProvider: null }), routed(newSession, { threadId: 't2' }));
    });

    it('agent-shared: one session for the agent group across chats', () => {
      given(...scene, channelWired('mg-1', 'ag-andy', { sessionMode: 'agent-shared' }), channelWired('mg-2', 'ag-andy', { sessionMode: 'agent-shared' }),
        SessionOpened.create({ sessionId: 'sess-all', agentGroupId: 'ag-andy', messagingGroupId: null, threadId: null, sessionMode: 'agent-shared', agentProvider: null }))
        .when(ReceiveInbound, message({ platformId: 'tg-mg-2' }))
        .then(routed('sess-all', { messagingGroupId: 'mg-2' }));
    });

    it('a message the platform gave no time gets the time the host first received it: the command’s, not the payload’s', () => {
      given(...scene, channelWired('mg-1', 'ag-andy'))
        .when(ReceiveInbound, message({ timestamp: undefined }), { issuedAt: '2026-11-24T09:30:00.000Z' })
        // Ids are derived from the command's time too, so they differ from the other tests' here.
        .then(expect.objectContaining({ type: 'SessionOpened' }), routed(expect.any(String), { messageId: expect.any(String), timestamp: '2026-11-24T09:30:00.000Z' }));
    });

    it('agents wired to one chat never share a session', () => {
      given(...scene, channelWired('mg-1', 'ag-bob', { priority: 5, pattern: '^@bob', requiresTrigger: true }), channelWired('mg-1', 'ag-andy'),
        SessionOpened.create({ sessionId: 'sess-bob', agentGroupId: 'ag-bob', messagingGroupId: 'mg-1', threadId: null, sessionMode: 'shared', agentProvider: null }))
        .when(ReceiveInbound, message())
        .then(expect.objectContaining({ type: 'SessionOpened', data: expect.objectContaining({ agentGroupId: 'ag-andy' }) }), routed(newSession, { agentGroupId: 'ag-andy' }));
    });
  });
});

describe('ReceiveInbound through the bus', () => {
  const tempDir = useTempDir();

  it('a platform redelivery of the same message is absorbed: one InboundRouted, the first outcome returned', () => {
    const core = openCore(join(tempDir(), 'switchyard.db'));
    try {
      seedScenario(core);
      const before = core.store.lastPosition();
      const payload = { channelType: 'telegram', platformId: '-1001', messageId: '777', content: { text: '@andy again' }, timestamp: '2026-11-24T10:00:00.000Z' };
      const first = core.bus.dispatch(receiveInbound(payload));
      const second = core.bus.dispatch(receiveInbound(payload));
      expect(first).toMatchObject({ status: 'accepted', commandId: 'inbound:telegram:-1001:777', events: [{ type: 'InboundRouted' }] });
      expect(second).toEqual({ ...first, duplicate: true });
      expect(core.store.lastPosition()).toBe(before + 1);
      expect(InboundRouted.is([...core.store.readAll({ after: before })][0]!)).toBe(true);
    } finally {
      core.close();
    }
  });

  it('a repeat of a message id with other content is recorded once per version, beside the first, never refused', () => {
    const core = openCore(join(tempDir(), 'switchyard.db'));
    try {
      seedScenario(core);
      const payload = { channelType: 'telegram', platformId: '-1001', messageId: '778', content: { text: '@andy dinner?' } };
      const first = dispatchInbound(core.bus, payload, { issuedAt: '2026-11-24T10:00:00.000Z' });
      // A retry comes later: without a platform time, the later arrival must not make it another message.
      const retry = dispatchInbound(core.bus, payload, { issuedAt: '2026-11-24T10:00:05.000Z' });
      const edited = { ...payload, content: { text: '@andy dinner at 7?' } };
      const edit = dispatchInbound(core.bus, edited);
      const editAgain = dispatchInbound(core.bus, edited);

      expect([first.repeat, retry.repeat, edit.repeat, editAgain.repeat]).toEqual(['none', 'same', 'changed', 'changed']);
      expect(retry.outcome).toEqual({ ...first.outcome, duplicate: true });
      expect(editAgain.outcome).toEqual({ ...edit.outcome, duplicate: true });
      const routedEvent = core.store.readAt(first.outcome.status === 'accepted' ? first.outcome.events.at(-1)!.position : 0)!;
      expect(routedEvent.data).toMatchObject({ timestamp: '2026-11-24T10:00:00.000Z' });
      const ignored = [...core.store.readAll()].filter((event) => event.type === 'InboundRepeatIgnored');
      expect(ignored.map((event) => [event.stream, event.data])).toEqual([
        ['messaging-group-mg-family', {
          messageId: (routedEvent.data as { messageId: string }).messageId, messagingGroupId: 'mg-family', channelType: 'telegram', platformId: '-1001',
          threadId: null, platformMessageId: '778', kind: 'chat', content: { text: '@andy dinner at 7?' }, timestamp: null,
        }],
      ]);
    } finally {
      core.close();
    }
  });

  it('a repeat of a chat never seen is refused: there was no first message', () => {
    given(...scene).when(RecordInboundRepeat, message({ platformId: 'never-seen' })).thenRejects('unknown-chat');
  });

  it('the scenario ends every inbound message in exactly one InboundRouted or InboundDropped', () => {
    const core = openCore(join(tempDir(), 'switchyard.db'));
    try {
      seedScenario(core);
      const outcomes = [...core.store.readAll()].filter((e) => e.type === 'InboundRouted' || e.type === 'InboundDropped');
      expect(outcomes.map((e) => [e.metadata.commandId, e.type, (e.data as { reason?: string }).reason ?? (e.data as { agentGroupId: string }).agentGroupId])).toEqual([
        ['inbound:telegram:-1001:1', 'InboundRouted', 'ag-andy'],
        ['inbound:telegram:-1001:2', 'InboundDropped', 'no-trigger-matched'],
        ['inbound:slack:C42:3', 'InboundRouted', 'ag-admin'],
        ['inbound:slack:C42:4', 'InboundRouted', 'ag-admin'],
        ['inbound:discord:D7:5', 'InboundDropped', 'no-agent-wired'],
      ]);
      expect(core.views.sessions.forAgentGroup('ag-admin').map((s) => s.thread_id)).toEqual(['t-1', 't-2']);
    } finally {
      core.close();
    }
  });
});
