import { ImportSession } from '../../src/commands/import';
import { SessionOpened } from '../../src/events/inbound';
import { given } from '../support/decider';
import { agentGroupCreated, chatRegistered } from '../support/fixtures';

const scene = [agentGroupCreated('ag-1'), chatRegistered('mg-1')];
const session = { sessionId: 'sess-1', agentGroupId: 'ag-1', messagingGroupId: 'mg-1', threadId: null, agentProvider: null };

describe('ImportSession', () => {
  it('adopts a session bound to a chat as shared, to a thread as per-thread, to no chat as agent-shared', () => {
    given(...scene).when(ImportSession, session).then(SessionOpened.create({ ...session, sessionMode: 'shared' }));
    given(...scene).when(ImportSession, { ...session, threadId: 't-1' }).then(SessionOpened.create({ ...session, threadId: 't-1', sessionMode: 'per-thread' }));
    given(...scene).when(ImportSession, { ...session, messagingGroupId: null }).then(SessionOpened.create({ ...session, messagingGroupId: null, sessionMode: 'agent-shared' }));
  });

  it('refuses a session that exists, or one bound to an unknown agent group or chat', () => {
    given(...scene, SessionOpened.create({ ...session, sessionMode: 'shared' })).when(ImportSession, session).thenRejects('session-exists');
    given(...scene).when(ImportSession, { ...session, agentGroupId: 'ag-9' }).thenRejects('unknown-agent-group');
    given(...scene).when(ImportSession, { ...session, messagingGroupId: 'mg-9' }).thenRejects('unknown-messaging-group');
  });
});
