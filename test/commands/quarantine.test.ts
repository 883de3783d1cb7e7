import { WakeSession } from '../../src/commands/containers';
import { QuarantineSession, ReleaseSession } from '../../src/commands/quarantine';
import { ContainerStarted, ContainerStarting, ContainerStopRequested } from '../../src/events/containers';
import { SessionOpened } from '../../src/events/inbound';
import { SessionQuarantined, SessionReleased } from '../../src/events/quarantine';
import { given } from '../support/decider';
import { agentGroupCreated } from '../support/fixtures';

const session = SessionOpened.create({ sessionId: 'sess-1', agentGroupId: 'ag-1', messagingGroupId: null, threadId: null, sessionMode: 'agent-shared', agentProvider: null });
const scene = [agentGroupCreated('ag-1'), session];
const running = [
  ContainerStarting.create({ sessionId: 'sess-1', agentGroupId: 'ag-1', incarnationId: 'inc-1', runtime: 'process', image: 'switchyard-agent:latest', wokenBy: 'inbound' }),
  ContainerStarted.create({ sessionId: 'sess-1', incarnationId: 'inc-1', runtimeId: 'rt-1' }),
];
const finding = { sessionId: 'sess-1', reason: 'unsafe-path' as const, component: 'delivery', detail: 'outbox/r-1 is a symlink', evidence: { outboundId: 'r-1' } };
const quarantined = SessionQuarantined.create({ ...finding, agentGroupId: 'ag-1' });

describe('QuarantineSession', () => {
  it('sets the folder aside with the evidence', () => {
    given(...scene).when(QuarantineSession, finding).then(quarantined);
  });

  it('asks the running agent to stop in the same decision', () => {
    given(...scene, ...running)
      .when(QuarantineSession, finding)
      .then(quarantined, ContainerStopRequested.create({ sessionId: 'sess-1', incarnationId: 'inc-1', reason: 'quarantined', evidence: { reason: 'unsafe-path', detail: 'outbox/r-1 is a symlink' } }));
  });

  it('refuses an unknown session, and a second quarantine of the same one', () => {
    given(...scene).when(QuarantineSession, { ...finding, sessionId: 'sess-nope' }).thenRejects('unknown-session');
    given(...scene, quarantined).when(QuarantineSession, finding).thenRejects('already-quarantined');
  });
});

describe('ReleaseSession', () => {
  it('releases a quarantined session', () => {
    given(...scene, quarantined).when(ReleaseSession, { sessionId: 'sess-1' }).then(SessionReleased.create({ sessionId: 'sess-1', agentGroupId: 'ag-1' }));
  });

  it('refuses a session that is not quarantined', () => {
    given(...scene).when(ReleaseSession, { sessionId: 'sess-1' }).thenRejects('not-quarantined');
    given(...scene, quarantined, SessionReleased.create({ sessionId: 'sess-1', agentGroupId: 'ag-1' })).when(ReleaseSession, { sessionId: 'sess-1' }).thenRejects('not-quarantined');
  });
});

describe('WakeSession of a quarantined session', () => {
  it('starts nothing until it is released', () => {
    const wake = { sessionId: 'sess-1', wokenBy: 'inbound', runtime: 'process' as const, defaultImage: 'switchyard-agent:latest' };
    given(...scene, quarantined).when(WakeSession, wake).thenRejects('session-quarantined');
  });
});
