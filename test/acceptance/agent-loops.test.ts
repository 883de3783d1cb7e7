import { join } from 'node:path';
import { CreateAgentGroup } from '../../src/commands/agent-groups';
import { AddDestination } from '../../src/commands/destinations';
import { RegisterMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import { centralDatabasePath, openCore, openDataDir } from '../../src/core';
import { runCli } from '../support/cli';
import { FakePlatform, postInbound } from '../support/fake-platform';
import { startHost } from '../support/host-process';
import { useTempDir } from '../support/temp';
import { waitForEvents } from '../support/wait';

/** Two echo agents granted to each other, as `create_agent` grants them: each answers the other. */
describe('two agents that answer each other (built CLI, process runtime, echo agents)', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  let platform: FakePlatform;

  beforeEach(async () => {
    platform = await FakePlatform.start();
    const core = openDataDir(dataDir());
    try {
      core.bus.dispatch(CreateAgentGroup.envelope('ag-a', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }));
      core.bus.dispatch(CreateAgentGroup.envelope('ag-b', { agentGroupId: 'ag-bob', name: 'Bob', folder: 'bob' }));
      core.bus.dispatch(RegisterMessagingGroup.envelope('mg', { messagingGroupId: 'mg-family', channelType: 'webhook', platformId: 'fam', name: 'Family' }));
      core.bus.dispatch(WireChannel.envelope('wire', { messagingGroupId: 'mg-family', agentGroupId: 'ag-andy' }));
      core.bus.dispatch(AddDestination.envelope('d-ab', { agentGroupId: 'ag-andy', localName: 'bob', targetType: 'agent', targetId: 'ag-bob' }));
      core.bus.dispatch(AddDestination.envelope('d-ba', { agentGroupId: 'ag-bob', localName: 'andy', targetType: 'agent', targetId: 'ag-andy' }));
    } finally {
      core.close();
    }
  });
  afterEach(() => platform.close());

  const cli = (...args: string[]) => runCli(['--data-dir', dataDir(), ...args]);

  it('stops the chain at the hop limit: the answer past it is dropped loop-limit, audited, and status flags the session', async () => {
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

      const drops = cli('audit', '--outcome', 'dropped', '--json').stdout.trim().split('\n').map((line) => JSON.parse(line));
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
