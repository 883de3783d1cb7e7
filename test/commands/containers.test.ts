import {
  MarkContainerIdle,
  RecordContainerExit,
  RecordContainerStarted,
  RecordContainerStartFailed,
  StopContainer,
  WakeSession,
} from '../../src/commands/containers';
import { AgentGroupDeleted, AgentGroupUpdated } from '../../src/events/agent-groups';
import { ContainerConfig } from '../../src/events/primitives';
import {
  ContainerIdle,
  ContainerStarted,
  ContainerStartFailed,
  ContainerStarting,
  ContainerStopped,
  ContainerStopRequested,
} from '../../src/events/containers';
import { SessionOpened } from '../../src/events/inbound';
import { given, idFor } from '../support/decider';
import { agentGroupCreated } from '../support/fixtures';

const session = SessionOpened.create({ sessionId: 'sess-1', agentGroupId: 'ag-1', messagingGroupId: null, threadId: null, sessionMode: 'agent-shared', agentProvider: null });
const scene = [agentGroupCreated('ag-1'), session];
const wake = { sessionId: 'sess-1', wokenBy: 'inbound', runtime: 'process' as const, defaultImage: 'switchyard-agent:latest' };
const starting = (incarnationId = 'inc-1') =>
  ContainerStarting.create({ sessionId: 'sess-1', agentGroupId: 'ag-1', incarnationId, runtime: 'process', image: 'switchyard-agent:latest', wokenBy: 'inbound' });
const started = (incarnationId = 'inc-1') => ContainerStarted.create({ sessionId: 'sess-1', incarnationId, runtimeId: `rt-${incarnationId}` });
const exit = { sessionId: 'sess-1', incarnationId: 'inc-1', exitCode: 137, signal: 'SIGKILL', stderrTail: 'out of memory' };

describe('WakeSession', () => {
  it('starts a container for a session that has none, with a fresh incarnation', () => {
    given(...scene).when(WakeSession, wake).then(starting(idFor('inc')));
  });

  it('starts nothing while one is starting, running, idle or stopping: a second wake is a no-op', () => {
    given(...scene, starting()).when(WakeSession, wake).then();
    given(...scene, starting(), started()).when(WakeSession, wake).then();
    given(...scene, starting(), started(), ContainerIdle.create({ sessionId: 'sess-1', incarnationId: 'inc-1', lastActivityAt: 'x' })).when(WakeSession, wake).then();
    given(...scene, starting(), started(), ContainerStopRequested.create({ sessionId: 'sess-1', incarnationId: 'inc-1', reason: 'operator', evidence: {} }))
      .when(WakeSession, wake)
      .then();
  });

  it('starts a new incarnation after a crash or a failed start', () => {
    given(...scene, starting(), started(), ContainerStopped.create({ ...exit, reason: 'crashed' })).when(WakeSession, wake).then(starting(idFor('inc')));
    given(...scene, starting(), ContainerStartFailed.create({ sessionId: 'sess-1', incarnationId: 'inc-1', phase: 'create', error: 'no such image' }))
      .when(WakeSession, wake)
      .then(starting(idFor('inc')));
  });

  it('uses the image the agent group names, and refuses unknown sessions and deleted agent groups', () => {
    const custom = agentGroupCreated('ag-1');
    (custom.data as { containerConfig: { imageTag?: string } }).containerConfig.imageTag = 'agent:custom';
    given(custom, session).when(WakeSession, wake).then(expect.objectContaining({ data: expect.objectContaining({ image: 'agent:custom' }) }));
    given(...scene).when(WakeSession, { ...wake, sessionId: 'sess-9' }).thenRejects('unknown-session');
    given(...scene, AgentGroupDeleted.create({ agentGroupId: 'ag-1' })).when(WakeSession, wake).thenRejects('agent-group-deleted');
  });

  it('given the operator set the group image, then cleared it, when a session wakes, then it runs the group image, then the host default', () => {
    // The events `groups update --image nanoclaw-agent:latest` and `--image default` record (see agent-groups.test.ts).
    const setImage = AgentGroupUpdated.create({ agentGroupId: 'ag-1', containerConfig: ContainerConfig.parse({ imageTag: 'nanoclaw-agent:latest' }) });
    const cleared = AgentGroupUpdated.create({ agentGroupId: 'ag-1', containerConfig: ContainerConfig.parse({}) });
    given(...scene, setImage).when(WakeSession, wake).then(expect.objectContaining({ data: expect.objectContaining({ image: 'nanoclaw-agent:latest' }) }));
    given(...scene, setImage, cleared).when(WakeSession, wake).then(starting(idFor('inc')));
  });
});

describe('RecordContainerStarted / RecordContainerStartFailed', () => {
  it('records the start of the current incarnation', () => {
    given(...scene, starting()).when(RecordContainerStarted, { sessionId: 'sess-1', incarnationId: 'inc-1', runtimeId: 'rt-inc-1' }).then(started());
  });

  it('records a start failure with its phase', () => {
    const failure = { sessionId: 'sess-1', incarnationId: 'inc-1', phase: 'start' as const, error: 'exec format error' };
    given(...scene, starting()).when(RecordContainerStartFailed, failure).then(ContainerStartFailed.create(failure));
  });

  it('ignores reports about an older incarnation', () => {
    given(...scene, starting('inc-1'), started('inc-1'), ContainerStopped.create({ ...exit, reason: 'crashed' }), starting('inc-2'))
      .when(RecordContainerStarted, { sessionId: 'sess-1', incarnationId: 'inc-1', runtimeId: 'late' })
      .thenRejects('stale-incarnation');
  });
});

describe('RecordContainerExit', () => {
  it('records an unrequested exit as a crash, with exit code, signal and stderr', () => {
    given(...scene, starting(), started()).when(RecordContainerExit, exit).then(ContainerStopped.create({ ...exit, reason: 'crashed' }));
  });

  it('records a requested stop with the reason it was asked for', () => {
    given(...scene, starting(), started(), ContainerStopRequested.create({ sessionId: 'sess-1', incarnationId: 'inc-1', reason: 'idle-timeout', evidence: {} }))
      .when(RecordContainerExit, { ...exit, exitCode: 0, signal: null })
      .then(ContainerStopped.create({ ...exit, exitCode: 0, signal: null, reason: 'idle-timeout' }));
  });

  it('records a container gone while the host was down as reconciled', () => {
    given(...scene, starting(), started())
      .when(RecordContainerExit, { ...exit, exitCode: null, signal: null, stderrTail: '', reconciled: true })
      .then(ContainerStopped.create({ ...exit, exitCode: null, signal: null, stderrTail: '', reason: 'reconciled' }));
  });

  it('records an exit once, and never one of an older incarnation', () => {
    given(...scene, starting(), started(), ContainerStopped.create({ ...exit, reason: 'crashed' })).when(RecordContainerExit, exit).thenRejects('wrong-status');
    given(...scene, starting('inc-1'), started('inc-1'), ContainerStopped.create({ ...exit, reason: 'crashed' }), starting('inc-2'), started('inc-2'))
      .when(RecordContainerExit, exit)
      .thenRejects('stale-incarnation');
  });
});

describe('StopContainer', () => {
  it('asks the current incarnation to stop, with the reason and evidence', () => {
    const evidence = { heartbeatAgeMs: 700_000, stuck: ['msg-1'] };
    given(...scene, starting(), started())
      .when(StopContainer, { sessionId: 'sess-1', reason: 'heartbeat-lost', evidence })
      .then(ContainerStopRequested.create({ sessionId: 'sess-1', incarnationId: 'inc-1', reason: 'heartbeat-lost', evidence }));
  });

  it('never stops a fresh incarnation for what an older one did (a stale heartbeat)', () => {
    given(...scene, starting('inc-1'), started('inc-1'), ContainerStopped.create({ ...exit, reason: 'crashed' }), starting('inc-2'), started('inc-2'))
      .when(StopContainer, { sessionId: 'sess-1', incarnationId: 'inc-1', reason: 'heartbeat-lost' })
      .thenRejects('stale-incarnation');
  });

  it('refuses a session that does not exist, saying so rather than "nothing running"', () => {
    given(...scene).when(StopContainer, { sessionId: 'sess-nope', reason: 'operator' }).thenRejects('unknown-session');
  });

  it('refuses when nothing is running', () => {
    given(...scene).when(StopContainer, { sessionId: 'sess-1', reason: 'operator' }).thenRejects('not-running');
    given(...scene, starting(), started(), ContainerStopped.create({ ...exit, reason: 'crashed' })).when(StopContainer, { sessionId: 'sess-1', reason: 'operator' }).thenRejects('not-running');
  });
});

describe('MarkContainerIdle', () => {
  it('marks a running container idle, once', () => {
    const idle = { sessionId: 'sess-1', incarnationId: 'inc-1', lastActivityAt: '2026-11-24T12:00:00.000Z' };
    given(...scene, starting(), started()).when(MarkContainerIdle, idle).then(ContainerIdle.create(idle));
    given(...scene, starting(), started(), ContainerIdle.create(idle)).when(MarkContainerIdle, idle).thenRejects('wrong-status');
  });
});
