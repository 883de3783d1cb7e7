import { dispatchInbound } from '../../src/commands/inbound';
import { AdoptSessionFolder, ImportApproval, ImportQuestion, ImportSession } from '../../src/commands/import';
import { payloadHash } from '../../src/commands/system-actions';
import { ApprovalRequested } from '../../src/events/admin';
import { CreateAgentGroup } from '../../src/commands/agent-groups';
import { RegisterMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import { openCore } from '../../src/core';
import { SessionOpened } from '../../src/events/inbound';
import { QuestionImported, SessionClosed, SessionFolderAdopted } from '../../src/events/import';
import { MessageRetryScheduled } from '../../src/events/retries';
import { given } from '../support/decider';
import { agentGroupCreated, channelWired, chatRegistered } from '../support/fixtures';

const scene = [agentGroupCreated('ag-1'), chatRegistered('mg-1')];
const session = { sessionId: 'sess-1', agentGroupId: 'ag-1', messagingGroupId: 'mg-1', threadId: null, agentProvider: null };

describe('ImportSession', () => {
  it('adopts a session bound to a chat as shared, to a thread as per-thread, to no chat as agent-shared, when no wiring says otherwise', () => {
    given(...scene).when(ImportSession, session).then(SessionOpened.create({ ...session, sessionMode: 'shared' }));
    given(...scene).when(ImportSession, { ...session, threadId: 't-1' }).then(SessionOpened.create({ ...session, threadId: 't-1', sessionMode: 'per-thread' }));
    given(...scene).when(ImportSession, { ...session, messagingGroupId: null }).then(SessionOpened.create({ ...session, messagingGroupId: null, sessionMode: 'agent-shared' }));
  });

  it('takes the mode from the wiring of its chat: an agent-shared session keeps its chat, a shared one drops the thread it would never be found by', () => {
    given(...scene, channelWired('mg-1', 'ag-1', { sessionMode: 'agent-shared' }))
      .when(ImportSession, session)
      .then(SessionOpened.create({ ...session, sessionMode: 'agent-shared' }));
    given(...scene, channelWired('mg-1', 'ag-1', { sessionMode: 'shared' }))
      .when(ImportSession, { ...session, threadId: 't-1' })
      .then(SessionOpened.create({ ...session, sessionMode: 'shared' }));
  });

  it('adopts a session NanoClaw had closed as closed', () => {
    given(...scene)
      .when(ImportSession, { ...session, status: 'closed' })
      .then(SessionOpened.create({ ...session, sessionMode: 'shared' }), SessionClosed.create({ sessionId: 'sess-1', reason: 'imported from NanoClaw with status "closed"' }));
    given(...scene).when(ImportSession, { ...session, status: 'active' }).then(SessionOpened.create({ ...session, sessionMode: 'shared' }));
  });

  it('refuses a session or agent group id that cannot name a folder', () => {
    for (const sessionId of ['../../../escape', '..', '.hidden', 'a/b', 'a\\b', 'nul\u0000']) {
      expect(given(...scene).when(ImportSession, { ...session, sessionId }).thenRejects('unsafe-id').message).toContain('cannot name a folder');
    }
    given(...scene).when(ImportSession, { ...session, agentGroupId: '../ag-1' }).thenRejects('unsafe-id');
  });

  it('refuses a session that exists, or one bound to an unknown agent group or chat', () => {
    given(...scene, SessionOpened.create({ ...session, sessionMode: 'shared' })).when(ImportSession, session).thenRejects('session-exists');
    given(...scene).when(ImportSession, { ...session, agentGroupId: 'ag-9' }).thenRejects('unknown-agent-group');
    given(...scene).when(ImportSession, { ...session, messagingGroupId: 'mg-9' }).thenRejects('unknown-messaging-group');
  });
});

describe('routing after an import', () => {
  const importScene = (sessionMode: 'agent-shared' | 'shared', status: string | null) => {
    const core = openCore(':memory:', { synchronous: 'NORMAL' });
    core.bus.dispatch(CreateAgentGroup.envelope('c1', { agentGroupId: 'ag-1', name: 'One', folder: 'one' }));
    core.bus.dispatch(RegisterMessagingGroup.envelope('c2', { messagingGroupId: 'mg-1', channelType: 'webhook', platformId: 'chat-1', name: 'Chat' }));
    core.bus.dispatch(WireChannel.envelope('c3', { messagingGroupId: 'mg-1', agentGroupId: 'ag-1', sessionMode }));
    expect(core.bus.dispatch(ImportSession.envelope('c4', { ...session, status })).status).toBe('accepted');
    const routed = dispatchInbound(core.bus, { channelType: 'webhook', platformId: 'chat-1', messageId: 'm-1', content: { text: 'hi' } });
    const sessionId = core.views.sessions.list().find((s) => s.id !== 'sess-1')?.id ?? 'sess-1';
    core.close();
    return { routed: routed.outcome.status, sessionId };
  };

  it('delivers the next message from the chat of an imported agent-shared session into it, not a new one', () => {
    expect(importScene('agent-shared', 'active')).toEqual({ routed: 'accepted', sessionId: 'sess-1' });
  });

  it('opens a new session for the chat of an imported closed one', () => {
    expect(importScene('shared', 'closed').sessionId).not.toBe('sess-1');
  });
});

describe('AdoptSessionFolder', () => {
  const adopted = {
    sessionId: 'sess-1',
    agentGroupId: 'ag-1',
    source: '/nanoclaw/v2-sessions/ag-1/sess-1',
    pendingInbound: ['in-1'],
    inFlight: ['in-2'],
    alreadyDelivered: [{ outboundId: 'out-1', status: 'delivered', platformMessageId: 'pm-1' }],
    undelivered: ['out-2'],
    files: ['inbox/in-1/a.txt'],
    skipped: [],
    outboundCheckpoint: 1,
  };
  const opened = SessionOpened.create({ ...session, sessionMode: 'shared' });

  it('records what the folder held, and retries what the old agent held as the sweep would', () => {
    given(...scene, opened)
      .when(AdoptSessionFolder, adopted)
      .then(
        SessionFolderAdopted.create(adopted),
        MessageRetryScheduled.create({ sessionId: 'sess-1', messageId: 'in-2', attempt: 1, dueAt: '2026-11-24T12:00:05.000Z', incarnationId: null, reason: 'no agent running' }),
      );
  });

  it('refuses a folder for a session the log does not have, or under another agent group', () => {
    given(...scene).when(AdoptSessionFolder, adopted).thenRejects('unknown-session');
    given(...scene, opened).when(AdoptSessionFolder, { ...adopted, agentGroupId: 'ag-2' }).thenRejects('wrong-agent-group');
  });
});

describe('ImportApproval and ImportQuestion', () => {
  const admin = [agentGroupCreated('ag-admin', { isAdmin: true }), chatRegistered('mg-admin'), channelWired('mg-admin', 'ag-admin')];
  const opened = SessionOpened.create({ ...session, sessionMode: 'shared' });
  const approval = { approvalId: 'appr-1', sessionId: 'sess-1', requestId: 'out-9', action: 'install_packages', payload: { apt: ['curl'], npm: [], reason: 'needed' } };

  it('asks the admin again under the approval’s own id, for the hash of exactly its payload', () => {
    given(...scene, ...admin, opened)
      .when(ImportApproval, approval)
      .then(
        ApprovalRequested.create({
          approvalId: 'appr-1',
          sessionId: 'sess-1',
          agentGroupId: 'ag-1',
          outboundId: 'out-9',
          action: 'install_packages',
          payload: approval.payload,
          payloadHash: payloadHash(approval.payload),
          shownText: expect.stringContaining('install packages') as unknown as string,
          expiresAt: '2026-11-25T12:00:00.000Z',
          adminChat: { messagingGroupId: 'mg-admin', channelType: 'telegram', platformId: 'tg-mg-admin' },
        }),
      );
  });

  it('refuses an approval it cannot map, with the reason', () => {
    given(...scene, ...admin, opened).when(ImportApproval, { ...approval, action: 'delete_everything' }).thenRejects('unknown-action');
    given(...scene, ...admin, opened).when(ImportApproval, { ...approval, payload: { apt: ['a b'] } }).thenRejects('invalid-request');
    given(...scene, opened).when(ImportApproval, approval).thenRejects('no-admin-channel');
    given(...scene, ...admin).when(ImportApproval, approval).thenRejects('unknown-session');
  });

  const question = { sessionId: 'sess-1', questionId: 'q-1', outboundId: 'out-ask', channelType: 'telegram', platformId: 'tg-mg-1', threadId: null, options: ['Yes', 'No'] };

  it('keeps a question pending, with the options its card showed, once', () => {
    given(...scene, opened).when(ImportQuestion, question).then(QuestionImported.create(question));
    given(...scene, opened, QuestionImported.create(question)).when(ImportQuestion, question).thenRejects('question-exists');
    given(...scene).when(ImportQuestion, question).thenRejects('unknown-session');
  });
});
