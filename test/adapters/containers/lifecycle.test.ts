import { statSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerLifecycle } from '../../../src/adapters/containers/lifecycle';
import { CreateAgentGroup, UpdateAgentGroup } from '../../../src/commands/agent-groups';
import { ApproveRequest, RejectRequest } from '../../../src/commands/approvals';
import { StopContainer } from '../../../src/commands/containers';
import { RecordImageBuilt, StartImageBuild } from '../../../src/commands/images';
import { receiveInbound } from '../../../src/commands/inbound';
import { RegisterMessagingGroup, WireChannel } from '../../../src/commands/messaging-groups';
import { payloadHash } from '../../../src/commands/system-actions';
import { openDataDir, type Core } from '../../../src/core';
import { ApprovalRequested } from '../../../src/events/admin';
import { RecordingRuntime } from '../../support/recording-runtime';
import { useTempDir } from '../../support/temp';

/** The lifecycle reactor fed the log by hand, over a runtime that records starts and stops. */
describe('container lifecycle', () => {
  const tempDir = useTempDir();
  let core: Core;
  let runtime: RecordingRuntime;
  let lifecycle: ContainerLifecycle;
  let sessionId: string;
  let handled = 0;
  /** Hands the lifecycle every event recorded since, until nothing new comes of it. */
  const react = async () => {
    for (;;) {
      const recorded = [...core.store.readAll({ after: handled })];
      if (recorded.length === 0) return;
      handled = recorded.at(-1)!.position;
      lifecycle.handleBatch(recorded);
      await lifecycle.settled();
    }
  };
  const starts = () => [...core.store.readAll({ type: 'ContainerStarting' })].map((e) => (e.data as { wokenBy: string }).wokenBy);
  const payload = { reason: 'stale' };
  const requestApproval = (action: 'request_rebuild' | 'add_mcp_server' = 'request_rebuild', requested: Record<string, unknown> = payload) =>
    core.store.transaction(() => {
      const request = ApprovalRequested.create({
        approvalId: 'appr-1', sessionId, agentGroupId: 'ag-andy', outboundId: 'out-1', action, payload: requested, payloadHash: payloadHash(requested),
        shownText: 'Andy asks for a rebuild', expiresAt: '2099-01-01T00:00:00.000Z', adminChat: { messagingGroupId: 'mg-family', channelType: 'webhook', platformId: 'fam' },
      });
      const metadata = { commandId: 'appr', correlationId: 'appr', causationId: 'appr', actor: 'ag-andy', recordedAt: new Date().toISOString() };
      for (const recorded of core.store.append(request.stream, 'any', [request], metadata)) core.projections.apply(recorded);
    });
  const decision = { approvalId: 'appr-1', payloadHash: payloadHash(payload) };

  beforeEach(async () => {
    core = openDataDir(join(tempDir(), 'data'));
    core.bus.dispatch(CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }));
    core.bus.dispatch(RegisterMessagingGroup.envelope('mg', { messagingGroupId: 'mg-family', channelType: 'webhook', platformId: 'fam' }));
    core.bus.dispatch(WireChannel.envelope('wire', { messagingGroupId: 'mg-family', agentGroupId: 'ag-andy' }));
    core.bus.dispatch(receiveInbound({ channelType: 'webhook', platformId: 'fam', messageId: '1', content: { text: 'hi' }, timestamp: new Date().toISOString() }));
    sessionId = core.views.sessions.list()[0]!.id;
    runtime = new RecordingRuntime();
    handled = 0;
    lifecycle = new ContainerLifecycle(core, { dataDir: join(tempDir(), 'data'), installId: 'test', runtime, defaultImage: 'img', agentEnv: {}, liveFrom: 0 });
    await react();
    expect(core.views.containers.get(sessionId)!.status).toBe('running');
  });
  afterEach(() => core.close());

  it("given this host started the session's agent before its lease was granted, when it takes the session over, then that agent runs on: not recorded as gone, not started twice", async () => {
    lifecycle.takeOver(sessionId);
    await react();

    expect(runtime.starts).toHaveLength(1);
    expect(runtime.stops).toEqual([]);
    expect(core.views.containers.get(sessionId)).toMatchObject({ status: 'running', incarnation_id: runtime.starts[0]!.incarnationId });
  });

  it('given an agent the log thinks runs on another host, when this host takes the session over, then that agent is recorded as gone and one is started here', async () => {
    const elsewhere = runtime.starts[0]!.incarnationId;
    const here = new RecordingRuntime();
    lifecycle = new ContainerLifecycle(core, { dataDir: join(tempDir(), 'data'), installId: 'test', runtime: here, defaultImage: 'img', agentEnv: {}, liveFrom: handled });

    lifecycle.takeOver(sessionId);
    await react();

    expect([...core.store.readAll({ type: 'ContainerStopped' })].map((e) => e.data)).toEqual([expect.objectContaining({ incarnationId: elsewhere, reason: 'reconciled' })]);
    expect(here.starts).toHaveLength(1);
    expect(core.views.containers.get(sessionId)).toMatchObject({ status: 'running', incarnation_id: here.starts[0]!.incarnationId });
  });

  it('given a burst of messages routed to three sessions, when the lifecycle handles it, then their wakes are one transaction', async () => {
    for (const chat of ['a', 'b']) {
      core.bus.dispatch(RegisterMessagingGroup.envelope(`mg-${chat}`, { messagingGroupId: `mg-${chat}`, channelType: 'webhook', platformId: chat }));
      core.bus.dispatch(WireChannel.envelope(`wire-${chat}`, { messagingGroupId: `mg-${chat}`, agentGroupId: 'ag-andy' }));
    }
    const burst = ['fam', 'a', 'b', 'fam', 'a'].map((platformId, i) =>
      receiveInbound({ channelType: 'webhook', platformId, messageId: `burst-${i}`, content: { text: 'hi' }, timestamp: new Date().toISOString() }),
    );
    core.bus.dispatchBatch(burst);
    const recorded = [...core.store.readAll({ after: handled })];
    handled = recorded.at(-1)!.position;
    const before = core.store.committedTransactions();

    lifecycle.handleBatch(recorded);

    expect(core.store.committedTransactions() - before).toBe(1);
    await react();
    expect(core.views.sessions.list().map((session) => core.views.containers.get(session.id)?.status)).toEqual(['running', 'running', 'running']);
  });

  it("given the host's wake settings, when one message is routed to a session without an agent, then routing and the wake are one transaction, and the agent starts exactly once", async () => {
    core.views.host.wake = { runtime: runtime.kind, defaultImage: 'img' };
    core.bus.dispatch(RegisterMessagingGroup.envelope('mg-c', { messagingGroupId: 'mg-c', channelType: 'webhook', platformId: 'c' }));
    core.bus.dispatch(WireChannel.envelope('wire-c', { messagingGroupId: 'mg-c', agentGroupId: 'ag-andy' }));
    await react();
    const before = core.store.committedTransactions();

    const outcome = core.bus.dispatch(receiveInbound({ channelType: 'webhook', platformId: 'c', messageId: 'c-1', content: { text: 'hi' }, timestamp: new Date().toISOString() }));

    expect(core.store.committedTransactions() - before).toBe(1);
    expect(outcome.status === 'accepted' && outcome.events.map((event) => event.type)).toEqual(['SessionOpened', 'InboundRouted', 'ContainerStarting']);
    const startsBefore = runtime.starts.length;
    await react();
    const session = core.views.sessions.list().find((s) => s.messaging_group_id === 'mg-c')!;
    expect(runtime.starts.length - startsBefore).toBe(1);
    expect(runtime.starts.at(-1)).toMatchObject({ sessionDir: expect.stringContaining(session.id) });
    expect(core.views.containers.get(session.id)!.status).toBe('running');
    expect(core.store.db.prepare("SELECT count(*) FROM commands WHERE type = 'WakeSession' AND command_id LIKE ?").pluck().get(`wake:${session.id}:%`)).toBe(0);
  });

  it("starts an agent with the session, group and install-wide global folders, creating the global folder, and tells it whether its group is admin", () => {
    const dataDir = join(tempDir(), 'data');
    expect(runtime.starts).toEqual([
      expect.objectContaining({ sessionDir: join(dataDir, 'sessions', 'ag-andy', sessionId), groupDir: join(dataDir, 'groups', 'andy'), globalDir: join(dataDir, 'global'), image: 'img', env: expect.objectContaining({ NANOCLAW_IS_ADMIN: '0' }) }),
    ]);
    expect(statSync(join(dataDir, 'global')).isDirectory()).toBe(true);
  });

  it('starts an agent on no network by default, and on the network its group names from the next start on', async () => {
    expect(core.bus.dispatch(UpdateAgentGroup.envelope('net', { agentGroupId: 'ag-andy', network: 'host' })).status).toBe('accepted');
    await react();
    // The running agent keeps what it started with.
    expect(runtime.stops).toEqual([]);
    core.bus.dispatch(StopContainer.envelope('stop', { sessionId, reason: 'operator' }));
    await react();
    core.bus.dispatch(receiveInbound({ channelType: 'webhook', platformId: 'fam', messageId: '2', content: { text: 'again' }, timestamp: new Date().toISOString() }));
    await react();
    expect(runtime.starts.map((spec) => spec.network)).toEqual([undefined, 'host']);
  });

  it('wakes the requester again once an approval applied has stopped its container, so that it reads the notice at once', async () => {
    requestApproval();
    expect(core.bus.dispatch(ApproveRequest.envelope('approve', decision, { actor: 'operator:alice' })).status).toBe('accepted');
    await react();
    expect(runtime.stops).toEqual(['recorded-1']);
    expect(starts()).toEqual(['inbound', 'approval-applied']);
    expect(core.views.containers.get(sessionId)!.status).toBe('running');
  });

  it('restarts the agents of a group whose image was rebuilt, in the new image', async () => {
    const start = core.bus.dispatch(StartImageBuild.envelope('build', { agentGroupId: 'ag-andy', trigger: 'operator:alice' }));
    const { buildId } = core.store.readAt((start as { events: { position: number }[] }).events[0]!.position)!.data as { buildId: string };
    const built = { buildId, tag: 'switchyard-agent:new', hash: 'new', sizeBytes: 1, resolved: [], durationMs: 1, reused: false };
    expect(core.bus.dispatch(RecordImageBuilt.envelope('built', built)).status).toBe('accepted');
    await react();
    expect(runtime.stops).toEqual(['recorded-1']);
    expect(starts()).toEqual(['inbound', 'image-rebuilt']);
    expect(runtime.starts.map((spec) => spec.image)).toEqual(['img', 'switchyard-agent:new']);
  });

  it('wakes a requester with no container when it is told an approval was decided', async () => {
    await lifecycle.stopAll();
    await react();
    requestApproval();
    expect(core.bus.dispatch(RejectRequest.envelope('reject', decision, { actor: 'operator:alice' })).status).toBe('accepted');
    await react();
    expect(starts()).toEqual(['inbound', 'notice']);
  });

  it('passes an approved MCP server to the restarted agent in NANOCLAW_MCP_SERVERS, and records none of its env in the container events', async () => {
    const server = { name: 'calc', command: '/usr/bin/node', args: ['calc.js'], env: { CALC_TOKEN: 'secret-in-env-77' } };
    requestApproval('add_mcp_server', server);
    const approved = { approvalId: 'appr-1', payloadHash: payloadHash(server) };
    expect(core.bus.dispatch(ApproveRequest.envelope('approve', approved, { actor: 'operator:alice' })).status).toBe('accepted');
    await react();
    expect(starts()).toEqual(['inbound', 'approval-applied']);
    // The reference's contract: unset while the group has none.
    expect(runtime.starts[0]!.env).not.toHaveProperty('NANOCLAW_MCP_SERVERS');
    expect(JSON.parse(runtime.starts[1]!.env.NANOCLAW_MCP_SERVERS!)).toEqual({ calc: { command: '/usr/bin/node', args: ['calc.js'], env: { CALC_TOKEN: 'secret-in-env-77' } } });
    const containerEvents = [...core.store.readAll()].filter((event) => event.type.startsWith('Container'));
    expect(containerEvents.length).toBeGreaterThan(0);
    expect(JSON.stringify(containerEvents)).not.toContain('secret-in-env-77');
  });
});
