import { RegisterMessagingGroup, UnwireChannel, UpdateMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import { DestinationAdded } from '../../src/events/destinations';
import { ChannelUnwired, MessagingGroupRegistered, MessagingGroupUpdated } from '../../src/events/messaging-groups';
import { given } from '../support/decider';
import { agentGroupCreated, channelWired, chatRegistered } from '../support/fixtures';

const scene = [agentGroupCreated('ag-1'), chatRegistered('mg-1', { name: 'Family Chat' })];

describe('RegisterMessagingGroup and UpdateMessagingGroup', () => {
  it('registers a chat once per (channel type, platform id)', () => {
    given()
      .when(RegisterMessagingGroup, { messagingGroupId: 'mg-1', channelType: 'telegram', platformId: '-100', name: 'Family' })
      .then(MessagingGroupRegistered.create({ messagingGroupId: 'mg-1', channelType: 'telegram', platformId: '-100', name: 'Family', isGroup: false, adminUserId: null, registeredBy: 'operator' }));
    given(chatRegistered('mg-1', { platformId: '-100' }))
      .when(RegisterMessagingGroup, { channelType: 'telegram', platformId: '-100' })
      .thenRejects('chat-exists');
  });

  it('refuses a channel type outside the pattern', () => {
    expect(() => given().when(RegisterMessagingGroup, { channelType: 'Tele Gram', platformId: '1' })).toThrow(/channel type/);
  });

  it('updates the admin user of a known chat only', () => {
    given(...scene).when(UpdateMessagingGroup, { messagingGroupId: 'mg-1', adminUserId: 'u-9' }).then(MessagingGroupUpdated.create({ messagingGroupId: 'mg-1', adminUserId: 'u-9' }));
    given().when(UpdateMessagingGroup, { messagingGroupId: 'mg-1', adminUserId: 'u-9' }).thenRejects('unknown-messaging-group');
  });
});

describe('WireChannel', () => {
  it('wires the chat and grants its destination, named after the chat, in one command', () => {
    given(...scene)
      .when(WireChannel, { messagingGroupId: 'mg-1', agentGroupId: 'ag-1' })
      .then(channelWired('mg-1', 'ag-1'), DestinationAdded.create({ agentGroupId: 'ag-1', localName: 'family-chat', targetType: 'channel', targetId: 'mg-1' }));
  });

  it('names an unnamed chat <channel type>-<first 8 of its id>, suffixed when the name is taken', () => {
    given(agentGroupCreated('ag-1'), chatRegistered('mg-12345678-abc', { name: null }), chatRegistered('mg-2'),
      DestinationAdded.create({ agentGroupId: 'ag-1', localName: 'telegram-mg-12345', targetType: 'channel', targetId: 'mg-2' }))
      .when(WireChannel, { messagingGroupId: 'mg-12345678-abc', agentGroupId: 'ag-1' })
      .then(channelWired('mg-12345678-abc', 'ag-1'), DestinationAdded.create({ agentGroupId: 'ag-1', localName: 'telegram-mg-12345-2', targetType: 'channel', targetId: 'mg-12345678-abc' }));
  });

  it('grants nothing new when the agent already holds a destination to the chat', () => {
    given(...scene, DestinationAdded.create({ agentGroupId: 'ag-1', localName: 'home', targetType: 'channel', targetId: 'mg-1' }))
      .when(WireChannel, { messagingGroupId: 'mg-1', agentGroupId: 'ag-1', priority: 5, sessionMode: 'per-thread' })
      .then(channelWired('mg-1', 'ag-1', { priority: 5, sessionMode: 'per-thread' }));
  });

  it('refuses unknown chats and agents, and a second wiring of the same pair', () => {
    given(...scene).when(WireChannel, { messagingGroupId: 'mg-9', agentGroupId: 'ag-1' }).thenRejects('unknown-messaging-group');
    given(...scene).when(WireChannel, { messagingGroupId: 'mg-1', agentGroupId: 'ag-9' }).thenRejects('unknown-agent-group');
    given(...scene, channelWired('mg-1', 'ag-1')).when(WireChannel, { messagingGroupId: 'mg-1', agentGroupId: 'ag-1' }).thenRejects('already-wired');
  });

  it('refuses a trigger pattern that is not a valid regex when the wiring is created', () => {
    expect(() => given(...scene).when(WireChannel, { messagingGroupId: 'mg-1', agentGroupId: 'ag-1', triggerRules: { pattern: '(unclosed', requiresTrigger: true } })).toThrow(
      /triggerRules\.pattern: expected a valid regular expression/,
    );
  });

  it.each([
    ['a backreference', '(a)\\1', /triggerRules\.pattern: .*invalid escape sequence.*no backreferences or lookaround/],
    ['a lookahead', '^(?!bot)', /triggerRules\.pattern: .*perl.*no backreferences or lookaround/],
    ['a lookbehind', '(?<=@)andy', /triggerRules\.pattern: .*no backreferences or lookaround/],
    ['counted repetitions that compile too large', '[a-z]{0,300}[a-z]{0,300}x', /triggerRules\.pattern: .*compiles to \d+ instructions, more than 500/],
  ])('refuses, naming the field and the reason, a pattern RE2 cannot run in linear time: %s', (_, pattern, reason) => {
    expect(() => given(...scene).when(WireChannel, { messagingGroupId: 'mg-1', agentGroupId: 'ag-1', triggerRules: { pattern, requiresTrigger: true } })).toThrow(reason);
  });

  it('accepts a pattern that backtracks catastrophically elsewhere: RE2 runs it in linear time', () => {
    given(...scene)
      .when(WireChannel, { messagingGroupId: 'mg-1', agentGroupId: 'ag-1', triggerRules: { pattern: '^(a+)+$', requiresTrigger: true } })
      .then(expect.objectContaining({ type: 'ChannelWired' }), expect.objectContaining({ type: 'DestinationAdded' }));
  });

  it('refuses a trigger requirement without a pattern', () => {
    given(...scene).when(WireChannel, { messagingGroupId: 'mg-1', agentGroupId: 'ag-1', triggerRules: { requiresTrigger: true } }).thenRejects('trigger-without-pattern');
  });

  it.each([
    ['sessionMode', { sessionMode: 'per-user' }],
    ['responseScope', { responseScope: 'everyone' }],
  ])('refuses an unknown %s value when the command is accepted', (field, extra) => {
    expect(() => given(...scene).when(WireChannel, { messagingGroupId: 'mg-1', agentGroupId: 'ag-1', ...(extra as object) })).toThrow(new RegExp(field));
  });
});

describe('UnwireChannel', () => {
  it('unwires a wired pair and refuses an unwired one', () => {
    given(...scene, channelWired('mg-1', 'ag-1')).when(UnwireChannel, { messagingGroupId: 'mg-1', agentGroupId: 'ag-1' }).then(ChannelUnwired.create({ messagingGroupId: 'mg-1', agentGroupId: 'ag-1' }));
    given(...scene).when(UnwireChannel, { messagingGroupId: 'mg-1', agentGroupId: 'ag-1' }).thenRejects('not-wired');
  });
});
