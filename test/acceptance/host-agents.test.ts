import { join } from 'node:path';
import { CreateAgentGroup } from '../../src/commands/agent-groups';
import { AddDestination } from '../../src/commands/destinations';
import { RegisterMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import { centralDatabasePath, openCore, openDataDir } from '../../src/core';
import type { RecordedEvent } from '../../src/events/define';
import { runCli } from '../support/cli';
import { FakePlatform, postInbound } from '../support/fake-platform';
import { startHost } from '../support/host-process';
import { useTempDir } from '../support/temp';
import { waitForEvents, waitUntil } from '../support/wait';

/** `switchyard start` running real agents: the echo runner as child processes of the host. */
describe('switchyard start with the process runtime and the echo agent (built CLI)', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  let platform: FakePlatform;

  beforeEach(async () => {
    platform = await FakePlatform.start();
    const core = openDataDir(dataDir());
    try {
      core.bus.dispatch(CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }));
      core.bus.dispatch(RegisterMessagingGroup.envelope('mg', { messagingGroupId: 'mg-family', channelType: 'webhook', platformId: 'fam', name: 'Family' }));
      core.bus.dispatch(WireChannel.envelope('wire', { messagingGroupId: 'mg-family', agentGroupId: 'ag-andy' }));
    } finally {
      core.close();
    }
  });
  afterEach(() => platform.close());

  const cli = (...args: string[]) => runCli(['--data-dir', dataDir(), ...args]);

  it('answers on the channel, drops and audits a send to an unknown name, fires a recurring task twice, and stops its agents on SIGTERM', async () => {
    const host = await startHost(dataDir(), platform.url, { SWITCHYARD_RUNTIME: 'process', SWITCHYARD_RUNNER_POLL_MS: '50', SWITCHYARD_SWEEP_INTERVAL_MS: '200' });
    const core = openCore(centralDatabasePath(dataDir()));
    try {
      expect(host.output()).toContain('agents on the process runtime');
      expect((await postInbound(host.url, { platformId: 'fam', messageId: 'm-1', content: { text: 'hello Andy' } })).status).toBe(202);
      const [answer] = await platform.waitFor(1);
      expect(answer).toEqual(expect.objectContaining({ platformId: 'fam', content: { text: 'echo: hello Andy' } }));
      const [started] = await waitForEvents(core.store, (e) => e.type === 'ContainerStarted');
      const { sessionId } = started!.data as { sessionId: string };

      await postInbound(host.url, { platformId: 'fam', messageId: 'm-2', content: { text: '@to:nowhere psst' } });
      await waitForEvents(core.store, (e) => e.type === 'OutboundDropped');
      const drops = cli('audit', '--outcome', 'dropped', '--jsonl').stdout.trim().split('\n').map((line) => JSON.parse(line));
      expect(drops).toEqual([expect.objectContaining({ direction: 'outbound', reason: 'unknown-destination', agent_group_id: 'ag-andy', session_id: sessionId })]);

      const scheduled = cli('tasks', 'schedule', '--session', sessionId, '--prompt', 'tick', '--every', '* * * * * *');
      expect(scheduled.status).toBe(0);
      expect(scheduled.stdout).toMatch(/scheduled task task-\S+ at /);
      const ticks = await platform.waitFor(3, 20_000);
      expect(ticks.slice(1, 3).map((d) => d.content)).toEqual([{ text: 'echo: tick' }, { text: 'echo: tick' }]);
      const occurrences = await waitForEvents(core.store, (e) => e.type === 'TaskScheduled', 2);
      expect((occurrences[1]!.data as { previousMessageId: string }).previousMessageId).toBe((occurrences[0]!.data as { messageId: string }).messageId);
      // One agent for the session all along: two messages and two ticks did not start a second.
      expect([...core.store.readAll({ type: 'ContainerStarting' })]).toHaveLength(1);
      // What the runner writes to stderr is kept by the host while it runs, for the operator to read.
      const logs = cli('sessions', 'logs', sessionId, '--lines', '500');
      expect(logs.status).toBe(0);
      expect(logs.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line).event)).toEqual(expect.arrayContaining(['RunnerStarted', 'MessageHandled']));
    } finally {
      host.child.kill('SIGTERM');
      expect((await host.done).status).toBe(0);
      const stopped = [...core.store.readAll({ type: 'ContainerStopped' })].map((e: RecordedEvent) => e.data as { reason: string; exitCode: number | null });
      expect(stopped).toEqual([expect.objectContaining({ reason: 'host-shutdown', exitCode: 0 })]);
      const shown = cli('sessions', 'show', String(core.views.sessions.forAgentGroup('ag-andy')[0]!.id)).stdout;
      expect(shown).toMatch(/last agent inc-\w+ stopped at \S+: host-shutdown, exit code 0/);
      expect(shown).toContain('RunnerStopped');
      core.close();
    }
  });

  it('sees an agent killed from outside, records how it ended, and wakes a new incarnation for the next message', async () => {
    const host = await startHost(dataDir(), platform.url, { SWITCHYARD_RUNTIME: 'process', SWITCHYARD_RUNNER_POLL_MS: '50' });
    const core = openCore(centralDatabasePath(dataDir()));
    try {
      await postInbound(host.url, { platformId: 'fam', messageId: 'm-1', content: { text: 'one' } });
      await platform.waitFor(1);
      const container = () => JSON.parse(cli('sessions', 'list', '--json').stdout)[0].container;
      const first = container();
      process.kill(Number(String(first.runtime_id).replace('process-', '')), 'SIGKILL');
      const [exit] = await waitForEvents(core.store, (e) => e.type === 'ContainerStopped');
      expect(exit!.data).toEqual(expect.objectContaining({ incarnationId: first.incarnation_id, reason: 'crashed', exitCode: null, signal: 'SIGKILL' }));
      expect(cli('sessions', 'list').stdout).toContain('stopped (crashed)');

      await postInbound(host.url, { platformId: 'fam', messageId: 'm-2', content: { text: 'two' } });
      const delivered = await platform.waitFor(2);
      expect(delivered[1]!.content).toEqual({ text: 'echo: two' });
      expect(container().incarnation_id).not.toBe(first.incarnation_id);
      expect(container().starts).toBe(2);

      // The operator stops it from another process; the host carries it out and records why.
      const stop = cli('sessions', 'stop', container().session_id);
      expect(stop.stdout).toContain('asked the agent of');
      await waitForEvents(core.store, (e) => e.type === 'ContainerStopped' && (e.data as { reason: string }).reason === 'operator');
      expect(container()).toEqual(expect.objectContaining({ status: 'stopped', stop_reason: 'operator', exit_code: 0 }));
      expect(cli('sessions', 'stop', container().session_id).stderr).toContain('not-running');
      // Both incarnations, each with why it ended: the containers view keeps only the last, the log keeps all.
      const incarnations = JSON.parse(cli('sessions', 'show', container().session_id, '--json').stdout).incarnations;
      expect(incarnations.map((i: { stopReason: string; signal: string | null }) => [i.stopReason, i.signal])).toEqual([['crashed', 'SIGKILL'], ['operator', null]]);
      expect(cli('sessions', 'show', container().session_id).stdout).toMatch(/Incarnations \(2\):[\s\S]*crashed\s+signal SIGKILL.*\n.*operator\s+exit 0/);
    } finally {
      host.child.kill('SIGTERM');
      await host.done;
      core.close();
    }
  });

  it('after the host is killed, a restart ends the orphaned agent, records it as reconciled, and answers with a new one', async () => {
    const env = { SWITCHYARD_RUNTIME: 'process', SWITCHYARD_RUNNER_POLL_MS: '50' };
    let host = await startHost(dataDir(), platform.url, env);
    const core = openCore(centralDatabasePath(dataDir()));
    try {
      await postInbound(host.url, { platformId: 'fam', messageId: 'm-1', content: { text: 'before' } });
      await platform.waitFor(1);
      const [started] = await waitForEvents(core.store, (e) => e.type === 'ContainerStarted');
      const orphanPid = Number((started!.data as { runtimeId: string }).runtimeId.replace('process-', ''));
      // Killed once the answer is on record: a kill mid-delivery resends it (at least once, same idempotency key).
      await waitForEvents(core.store, (e) => e.type === 'DeliverySucceeded');
      host.child.kill('SIGKILL');
      await host.done;
      expect(() => process.kill(orphanPid, 0)).not.toThrow();

      host = await startHost(dataDir(), platform.url, env);
      const [reconciled] = await waitForEvents(core.store, (e) => e.type === 'ContainerStopped');
      expect(reconciled!.data).toEqual(expect.objectContaining({ incarnationId: (started!.data as { incarnationId: string }).incarnationId, reason: 'reconciled' }));
      await waitUntil(() => {
        try {
          process.kill(orphanPid, 0);
          return false;
        } catch {
          return true;
        }
      }, 'the orphaned runner to be ended');

      await postInbound(host.url, { platformId: 'fam', messageId: 'm-2', content: { text: 'after' } });
      const delivered = await platform.waitFor(2);
      expect(delivered[1]!.content).toEqual({ text: 'echo: after' });
      expect([...core.store.readAll({ type: 'ContainerStarting' })]).toHaveLength(2);
    } finally {
      host.child.kill('SIGTERM');
      await host.done;
      core.close();
    }
  });

  it('stops the chain at the hop limit: the answer past it is dropped loop-limit, audited, and status flags the session', async () => {
    // Two agents granted to each other, as `create_agent` grants them: each echo agent answers the other.
    const setup = openDataDir(dataDir());
    try {
      setup.bus.dispatch(CreateAgentGroup.envelope('ag-b', { agentGroupId: 'ag-bob', name: 'Bob', folder: 'bob' }));
      setup.bus.dispatch(AddDestination.envelope('d-ab', { agentGroupId: 'ag-andy', localName: 'bob', targetType: 'agent', targetId: 'ag-bob' }));
      setup.bus.dispatch(AddDestination.envelope('d-ba', { agentGroupId: 'ag-bob', localName: 'andy', targetType: 'agent', targetId: 'ag-andy' }));
    } finally {
      setup.close();
    }
    expect(cli('groups', 'update', 'ag-andy', '--max-hops', '4').status).toBe(0);
    const host = await startHost(dataDir(), platform.url, { SWITCHYARD_RUNTIME: 'process', SWITCHYARD_RUNNER_POLL_MS: '50' });
    const core = openCore(centralDatabasePath(dataDir()));
    try {
      await postInbound(host.url, { platformId: 'fam', messageId: 'm-1', content: { text: '@to:bob ping' } });
      const [drop] = await waitForEvents(core.store, (e) => e.type === 'OutboundDropped');
      const { sessionId, reason, chain } = drop!.data as { sessionId: string; reason: string; chain: string[] };
      expect(reason).toBe('loop-limit');

      // andy → bob (hop 1), bob → andy (2), andy → bob (3), bob → andy (4): andy's answer to hop 4 is cut.
      const delivered = [...core.store.readAll({ type: 'AgentMessageDelivered' })].map((e) => e.data as { messageId: string; hops: number });
      expect(delivered.map((d) => d.hops)).toEqual([1, 2, 3, 4]);
      // The evidence: the chat message that started it (hop 0), then every agent message.
      const [origin] = [...core.store.readAll({ type: 'InboundRouted' })].map((e) => (e.data as { messageId: string }).messageId);
      expect(chain).toEqual([origin, ...delivered.map((d) => d.messageId)]);
      // The agent is told, as a notice into its own session.
      await waitForEvents(core.store, (e) => e.type === 'AgentNotified' && (e.data as { sessionId: string }).sessionId === sessionId);

      const drops = cli('audit', '--outcome', 'dropped', '--jsonl').stdout.trim().split('\n').map((line) => JSON.parse(line));
      expect(drops).toEqual([expect.objectContaining({ direction: 'outbound', reason: 'loop-limit', agent_group_id: 'ag-andy', session_id: sessionId })]);
      const status = JSON.parse(cli('status', '--json').stdout) as { limited: unknown[] };
      expect(status.limited).toEqual([expect.objectContaining({ sessionId, agentGroupId: 'ag-andy', reason: 'loop-limit', count: 1 })]);
      expect(cli('status').stdout).toContain(`loop-limit ${sessionId}`);
    } finally {
      host.child.kill('SIGTERM');
      await host.done;
      core.close();
    }
    // The chains are a read model like any other: a rebuild from the log gives the same rows.
    const verified = JSON.parse(cli('replay', '--verify', '--json').stdout) as { equal: boolean; tables: { table: string }[] };
    expect(verified.equal).toBe(true);
    expect(verified.tables.map((t) => t.table)).toContain('agent_message_chains');
  });
});
