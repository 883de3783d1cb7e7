import { RecordImageBuildFailed, RecordImageBuilt, RequestImageRebuild, StartImageBuild } from '../../src/commands/images';
import { payloadHash } from '../../src/commands/system-actions';
import { AgentImageRebuildRequested, ApprovalDecided, ApprovalRequested } from '../../src/events/admin';
import { AgentGroupUpdated } from '../../src/events/agent-groups';
import { ContainerStarted, ContainerStarting, ContainerStopRequested } from '../../src/events/containers';
import { ImageBuildFailed, ImageBuilt, ImageBuildStarted } from '../../src/events/images';
import { SessionOpened } from '../../src/events/inbound';
import { ContainerConfig } from '../../src/events/primitives';
import { WakeSession } from '../../src/commands/containers';
import { given, idFor } from '../support/decider';
import { agentGroupCreated } from '../support/fixtures';

const packages = { apt: ['jq'], npm: ['is-number'] };
const payload = { ...packages, reason: 'json' };
const scene = [
  agentGroupCreated('ag-andy'),
  SessionOpened.create({ sessionId: 'sess-andy', agentGroupId: 'ag-andy', messagingGroupId: null, threadId: null, sessionMode: 'agent-shared', agentProvider: null }),
  ApprovalRequested.create({
    approvalId: 'appr-1', sessionId: 'sess-andy', agentGroupId: 'ag-andy', outboundId: 'out-1', action: 'install_packages', payload, payloadHash: payloadHash(payload),
    shownText: 'Andy asks for jq', expiresAt: '2026-11-25T09:00:00.000Z', adminChat: { messagingGroupId: 'mg-ops', channelType: 'slack', platformId: 'C-ops' },
  }),
  ApprovalDecided.create({ approvalId: 'appr-1', decision: 'approved', reason: null }),
  AgentGroupUpdated.create({ agentGroupId: 'ag-andy', containerConfig: ContainerConfig.parse({ packages }) }),
  AgentImageRebuildRequested.create({ agentGroupId: 'ag-andy', approvalId: 'appr-1' }),
];
const running = (incarnationId: string, image: string) => [
  ContainerStarting.create({ sessionId: 'sess-andy', agentGroupId: 'ag-andy', incarnationId, runtime: 'docker', image, wokenBy: 'inbound' }),
  ContainerStarted.create({ sessionId: 'sess-andy', incarnationId, runtimeId: `rt-${incarnationId}` }),
];
const started = ImageBuildStarted.create({ agentGroupId: 'ag-andy', buildId: 'build-1', packages, trigger: 'appr-1' });
const result = { buildId: 'build-1', tag: 'switchyard-agent:abc', hash: 'abc', sizeBytes: 1000, resolved: [{ manager: 'apt' as const, name: 'jq', version: '1.6' }], durationMs: 1234, reused: false };
const notice = (text: RegExp) => expect.objectContaining({ type: 'AgentNotified', data: expect.objectContaining({ sessionId: 'sess-andy', text: expect.stringMatching(text) }) });

describe('RequestImageRebuild', () => {
  it('records the operator’s request for a known group, and refuses an unknown one', () => {
    given(...scene).when(RequestImageRebuild, { agentGroupId: 'ag-andy' }).then(AgentImageRebuildRequested.create({ agentGroupId: 'ag-andy', approvalId: null }));
    given(...scene).when(RequestImageRebuild, { agentGroupId: 'ag-nobody' }).thenRejects('unknown-agent-group');
  });
});

describe('StartImageBuild', () => {
  it('starts a build of the packages the group’s configuration has, with what asked for it', () => {
    given(...scene)
      .when(StartImageBuild, { agentGroupId: 'ag-andy', trigger: 'appr-1' })
      .then(ImageBuildStarted.create({ agentGroupId: 'ag-andy', buildId: idFor('build'), packages, trigger: 'appr-1' }));
  });

  it('refuses a second build of the same group while one is open', () => {
    given(...scene, started).when(StartImageBuild, { agentGroupId: 'ag-andy', trigger: 'operator:alice' }).thenRejects('build-in-progress');
  });
});

describe('RecordImageBuilt', () => {
  it('records the image, stops the group’s containers on another image (image-rebuilt) and tells the requester', () => {
    given(...scene, ...running('inc-1', 'switchyard-agent:latest'), started)
      .when(RecordImageBuilt, result)
      .then(
        ImageBuilt.create({ agentGroupId: 'ag-andy', ...result }),
        ContainerStopRequested.create({ sessionId: 'sess-andy', incarnationId: 'inc-1', reason: 'image-rebuilt', evidence: { buildId: 'build-1', tag: 'switchyard-agent:abc' } }),
        notice(/rebuilt with apt jq, npm is-number \(switchyard-agent:abc\)/),
      );
  });

  it('changes nothing when the image is the one the group already has: nothing new was built', () => {
    const first = [ImageBuildStarted.create({ agentGroupId: 'ag-andy', buildId: 'build-0', packages, trigger: 'appr-0' }), ImageBuilt.create({ agentGroupId: 'ag-andy', ...result, buildId: 'build-0' })];
    given(...scene, ...first, ...running('inc-1', 'switchyard-agent:abc'), started)
      .when(RecordImageBuilt, { ...result, reused: true })
      .then(ImageBuilt.create({ agentGroupId: 'ag-andy', ...result, reused: true }), notice(/already had apt jq, npm is-number: nothing was rebuilt/));
  });

  it('leaves an image the operator named in place', () => {
    given(...scene, AgentGroupUpdated.create({ agentGroupId: 'ag-andy', containerConfig: ContainerConfig.parse({ packages, imageTag: 'acme/agent:1' }) }), ...running('inc-1', 'acme/agent:1'), started)
      .when(RecordImageBuilt, result)
      .then(ImageBuilt.create({ agentGroupId: 'ag-andy', ...result }), notice(/operator set this group's image to acme\/agent:1/));
  });

  it('refuses a result for a build that is not open', () => {
    given(...scene).when(RecordImageBuilt, result).thenRejects('unknown-build');
    given(...scene, started, ImageBuildFailed.create({ agentGroupId: 'ag-andy', buildId: 'build-1', reason: 'x', logTail: '', durationMs: 1 })).when(RecordImageBuilt, result).thenRejects('build-finished');
  });
});

describe('RecordImageBuildFailed', () => {
  it('records the reason and tells the requester it keeps its image; an operator’s rebuild tells no session', () => {
    const failure = { buildId: 'build-1', reason: 'apt-get failed: E: Unable to locate package nosuch', logTail: 'E: Unable to locate package nosuch', durationMs: 900 };
    given(...scene, started)
      .when(RecordImageBuildFailed, failure)
      .then(ImageBuildFailed.create({ agentGroupId: 'ag-andy', ...failure }), notice(/failed: apt-get failed: E: Unable to locate package nosuch\. You keep the default image/));
    given(...scene, ImageBuildStarted.create({ agentGroupId: 'ag-andy', buildId: 'build-1', packages, trigger: 'operator:alice' }))
      .when(RecordImageBuildFailed, failure)
      .then(ImageBuildFailed.create({ agentGroupId: 'ag-andy', ...failure }));
  });
});

describe('RecordImageBuildFailed when the packages themselves were refused', () => {
  const failure = { buildId: 'build-1', reason: 'npm failed: npm error 404 Not Found', logTail: '', durationMs: 900 };

  it('takes the approved request’s packages out of the configuration, so later builds are not blocked by them, and says so', () => {
    const before = ContainerConfig.parse({ packages: { apt: ['curl', 'jq'], npm: ['is-number'] } });
    given(...scene, AgentGroupUpdated.create({ agentGroupId: 'ag-andy', containerConfig: before }), started)
      .when(RecordImageBuildFailed, { ...failure, packagesRefused: true })
      .then(
        ImageBuildFailed.create({ agentGroupId: 'ag-andy', ...failure }),
        AgentGroupUpdated.create({ agentGroupId: 'ag-andy', containerConfig: { ...before, packages: { apt: ['curl'], npm: [] } } }),
        notice(/taken out of your configuration/),
      );
  });

  it('keeps them when the build machinery failed, or when no approval asked for them', () => {
    given(...scene, started).when(RecordImageBuildFailed, failure).then(ImageBuildFailed.create({ agentGroupId: 'ag-andy', ...failure }), notice(/You keep the default image\.$/));
    given(...scene, ImageBuildStarted.create({ agentGroupId: 'ag-andy', buildId: 'build-1', packages, trigger: 'operator:alice' }))
      .when(RecordImageBuildFailed, { ...failure, packagesRefused: true })
      .then(ImageBuildFailed.create({ agentGroupId: 'ag-andy', ...failure }));
  });
});

describe('WakeSession with a built image', () => {
  it('starts in the operator’s image first, then the group’s built image, then the host default', () => {
    const wake = { sessionId: 'sess-andy', wokenBy: 'inbound', runtime: 'docker' as const, defaultImage: 'switchyard-agent:latest' };
    const starting = (image: string) => expect.objectContaining({ type: 'ContainerStarting', data: expect.objectContaining({ image }) });
    given(...scene).when(WakeSession, wake).then(starting('switchyard-agent:latest'));
    given(...scene, started, ImageBuilt.create({ agentGroupId: 'ag-andy', ...result })).when(WakeSession, wake).then(starting('switchyard-agent:abc'));
    given(...scene, started, ImageBuilt.create({ agentGroupId: 'ag-andy', ...result }), AgentGroupUpdated.create({ agentGroupId: 'ag-andy', containerConfig: ContainerConfig.parse({ imageTag: 'acme/agent:1' }) }))
      .when(WakeSession, wake)
      .then(starting('acme/agent:1'));
  });
});
