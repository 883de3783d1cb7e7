import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sessionDir } from '../../src/adapters/session-db';
import { CreateAgentGroup } from '../../src/commands/agent-groups';
import { RegisterMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import { centralDatabasePath, openCore, openDataDir } from '../../src/core';
import { runCli } from '../support/cli';
import { writeOutbound } from '../support/container';
import { FakePlatform, postInbound } from '../support/fake-platform';
import { startHost } from '../support/host-process';
import { useTempDir } from '../support/temp';
import { waitForEvents, waitUntil } from '../support/wait';

function seed(dataDir: string): void {
  const core = openDataDir(dataDir);
  try {
    core.bus.dispatch(CreateAgentGroup.envelope('ag', { agentGroupId: 'ag-andy', name: 'Andy', folder: 'andy' }));
    core.bus.dispatch(RegisterMessagingGroup.envelope('mg', { messagingGroupId: 'mg-family', channelType: 'webhook', platformId: 'fam', name: 'Family' }));
    core.bus.dispatch(WireChannel.envelope('wire', { messagingGroupId: 'mg-family', agentGroupId: 'ag-andy' }));
  } finally {
    core.close();
  }
}

describe('a host SIGKILLed during the last delivery attempt (built CLI, webhook channel on loopback)', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  let platform: FakePlatform;
  beforeEach(async () => {
    platform = await FakePlatform.start();
    seed(dataDir());
  });
  afterEach(() => platform.close());

  it('fails the row on restart, with the unknown outcome as evidence, and tells the sender; nothing is sent a fourth time', async () => {
    let host = await startHost(dataDir(), platform.url);
    expect((await postInbound(host.url, { platformId: 'fam', messageId: 'm-1', content: { text: 'hello Andy' } })).status).toBe(202);
    const core = openCore(centralDatabasePath(dataDir()));
    try {
      const [routed] = await waitForEvents(core.store, (e) => e.type === 'InboundRouted');
      const { sessionId } = routed!.data as { sessionId: string };
      const checkpoint = core.store.db.prepare("SELECT position FROM checkpoints WHERE consumer = 'session-folder'").pluck();
      await waitUntil(() => ((checkpoint.get() as number | undefined) ?? 0) >= routed!.position, 'the session folder');
      const dir = sessionDir(dataDir(), 'ag-andy', sessionId);

      // Two refusals, then the third attempt hangs: the host dies while it waits.
      platform.failNext(2, 503);
      platform.stallNext(1);
      writeOutbound(dir, [{ id: 'r-last', channelType: 'webhook', platformId: 'fam', content: { text: 'are you there?' } }]);
      const deliveries = () => platform.requests.filter((request) => request.path === '/deliver').length;
      await waitUntil(() => deliveries() === 3, 'the third delivery attempt to reach the platform');
      host.child.kill('SIGKILL');
      await host.done;
      const audit = () => runCli(['--data-dir', dataDir(), 'audit', '--direction', 'outbound', '--json']).stdout.trim().split('\n').map((line) => JSON.parse(line));
      expect(audit().map((row) => [row.message_id, row.outcome, row.attempts])).toEqual([['r-last', 'routed', 3]]);

      host = await startHost(dataDir(), platform.url);
      const [failed] = await waitForEvents(core.store, (e) => e.type === 'DeliveryFailed' && (e.data as { final: boolean }).final);
      expect(failed!.data).toEqual({ sessionId, outboundId: 'r-last', attempt: 3, errorClass: 'AttemptInterrupted', error: expect.stringContaining('unknown'), final: true });

      expect(audit().map((row) => [row.message_id, row.outcome, row.attempts, row.reason])).toEqual([['r-last', 'failed', 3, expect.stringContaining('AttemptInterrupted')]]);

      const notice = () => {
        const db = new Database(join(dir, 'inbound.db'), { readonly: true });
        try {
          return db.prepare("SELECT content FROM messages_in WHERE id = 'sys-failed-r-last'").pluck().get() as string | undefined;
        } finally {
          db.close();
        }
      };
      await waitUntil(() => notice() !== undefined, 'the delivery_failed notice in inbound.db');
      expect(JSON.parse(notice()!)).toMatchObject({ type: 'delivery_failed', messageOutId: 'r-last', errorClass: 'AttemptInterrupted' });
      expect(deliveries()).toBe(3);
    } finally {
      core.close();
      host.child.kill('SIGTERM');
      await host.done;
    }
  });
});
