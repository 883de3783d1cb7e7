import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sessionDir } from '../../src/adapters/session-db';
import { CreateAgentGroup } from '../../src/commands/agent-groups';
import { RemoveDestination } from '../../src/commands/destinations';
import { RegisterMessagingGroup, WireChannel } from '../../src/commands/messaging-groups';
import { openCore, openDataDir, centralDatabasePath } from '../../src/core';
import type { RecordedEvent } from '../../src/events/define';
import { runCli } from '../support/cli';
import { writeOutbound } from '../support/container';
import { FakePlatform, postInbound } from '../support/fake-platform';
import { startHost } from '../support/host-process';
import { useTempDir } from '../support/temp';
import { waitForEvents, waitUntil } from '../support/wait';

/** An agent wired to one webhook chat, `family` in its map. */
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

const finalOutcome = (outboundIds: Set<string>) => (event: RecordedEvent) =>
  outboundIds.has((event.data as { outboundId?: string }).outboundId ?? '') &&
  (event.type === 'OutboundDropped' || event.type === 'DeliverySucceeded' || (event.type === 'DeliveryFailed' && (event.data as { final: boolean }).final));

describe('switchyard start (built CLI, webhook channel on loopback)', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  let platform: FakePlatform;
  beforeEach(async () => {
    platform = await FakePlatform.start();
    seed(dataDir());
  });
  afterEach(() => platform.close());

  /** The inbound message opens the session; returns it with a reader of the log. */
  async function openSession(url: string) {
    const reply = await postInbound(url, { platformId: 'fam', messageId: 'm-1', content: { text: 'hello Andy' } });
    expect(reply.status).toBe(202);
    const core = openCore(centralDatabasePath(dataDir()));
    const [routed] = await waitForEvents(core.store, (e) => e.type === 'InboundRouted');
    const { sessionId } = routed!.data as { sessionId: string };
    // The container starts once the host has made the folder: so does this test's writer.
    const checkpoint = core.store.db.prepare("SELECT position FROM checkpoints WHERE consumer = 'session-folder'").pluck();
    await waitUntil(() => ((checkpoint.get() as number | undefined) ?? 0) >= routed!.position, 'the session folder');
    return { core, sessionId, dir: sessionDir(dataDir(), 'ag-andy', sessionId) };
  }

  it('delivers what the ACL allows, retries then fails what the platform refuses, drops the rest; audit and explain show each', async () => {
    const host = await startHost(dataDir(), platform.url, { SWITCHYARD_LOG_LEVEL: 'info' });
    const { core, dir } = await openSession(host.url);
    try {
      // What the log cannot say, status reads from the running host: since when, and where its channels listen.
      const running = JSON.parse(runCli(['--data-dir', dataDir(), 'status', '--json']).stdout).host;
      expect(running).toMatchObject({ running: true, runtime: 'external', startedAt: expect.any(String), channels: [{ channelType: 'webhook', url: host.url, connected: true }] });
      expect(runCli(['--data-dir', dataDir(), 'status']).stdout).toMatch(new RegExp(`up \\d+m since .*\\n\\s+webhook connected\\s+${host.url.replace(/[.]/g, '\\.')}`));
      await waitUntil(() => platform.typing.length > 0, 'the typing indicator');
      expect(platform.typing).toEqual([{ platformId: 'fam', threadId: null, typing: true }]);
      writeOutbound(dir, [{ id: 'r-ok', channelType: 'webhook', platformId: 'fam', threadId: 't-9', content: { text: 'hi family' } }]);
      const [delivered] = await platform.waitFor(1);
      expect(delivered).toMatchObject({ platformId: 'fam', threadId: 't-9', kind: 'chat', content: { text: 'hi family' }, idempotencyKey: expect.stringMatching(/:r-ok$/) });

      platform.failNext(3, 503);
      writeOutbound(dir, [
        { id: 'r-fail', channelType: 'webhook', platformId: 'fam', content: { text: 'will fail' } },
        { id: 'r-denied', channelType: 'webhook', platformId: 'strangers', content: { text: 'not mine' } },
      ]);
      await waitForEvents(core.store, finalOutcome(new Set(['r-fail', 'r-denied'])), 2);

      const audit = runCli(['--data-dir', dataDir(), 'audit', '--direction', 'outbound', '--jsonl']).stdout.trim().split('\n').map((line) => JSON.parse(line));
      expect(audit.map((row) => [row.message_id, row.outcome, row.attempts, row.reason])).toEqual([
        ['r-ok', 'delivered', 1, null],
        ['r-fail', 'failed', 3, expect.stringContaining('HttpError')],
        ['r-denied', 'dropped', 0, 'unknown-destination'],
      ]);
      const explain = runCli(['--data-dir', dataDir(), 'explain', 'r-fail']).stdout;
      expect(explain.match(/DeliveryAttempted/g)).toHaveLength(3);
      expect(explain).toMatch(/attempt 3 failed: HttpError: .*503.*\(final\)/);

      // Revoked while the session runs: the next row to it is dropped, and explain says by whom.
      core.bus.dispatch(RemoveDestination.envelope('revoke-family', { agentGroupId: 'ag-andy', localName: 'family' }, { actor: 'operator:carol' }));
      writeOutbound(dir, [{ id: 'r-after-revoke', channelType: 'webhook', platformId: 'fam', content: { text: 'still there?' } }]);
      await waitForEvents(core.store, finalOutcome(new Set(['r-after-revoke'])));
      const why = runCli(['--data-dir', dataDir(), 'explain', 'r-after-revoke']).stdout;
      expect(why).toContain('dropped: not-permitted');
      expect(why).toMatch(/revoked: destination "family" by operator:carol at #\d+/);
      expect(platform.received).toHaveLength(1);
      // The row delivered before the revocation would be dropped today.
      expect(runCli(['--data-dir', dataDir(), 'explain', 'r-ok']).stdout).toMatch(
        /re-run against the ACL as of #\d+: routed by "family" \(the recorded answer\)\n\s+re-run against today's state: dropped: not-permitted \(would differ now\)/,
      );
    } finally {
      core.close();
      host.child.kill('SIGTERM');
    }
    const ended = await host.done;
    expect(ended.status).toBe(0);
    expect(JSON.parse(runCli(['--data-dir', dataDir(), 'status', '--json']).stdout).host).toEqual({ running: false });
    // An operator tailing the host's log sees each decision at info, by a stable event field, each key once.
    const logLines = ended.stderr.split('\n').filter((line) => line.startsWith('{'));
    for (const line of logLines) expect(line.match(/"component":/g)?.length ?? 0).toBeLessThanOrEqual(1);
    const logged = logLines.map((line) => JSON.parse(line) as { level: number; event?: string; reason?: string; outboundId?: string });
    expect(logged).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 30, event: 'InboundRouted' }),
        expect.objectContaining({ level: 30, event: 'DeliverySucceeded', outboundId: 'r-ok' }),
        expect.objectContaining({ level: 30, event: 'OutboundDropped', outboundId: 'r-denied' }),
      ]),
    );
  });

  it('a bridge that goes down fails a row after --delivery-attempts; `deliveries retry` through the CLI gets it delivered under the same idempotency key', async () => {
    const host = await startHost(dataDir(), platform.url, {}, ['--delivery-attempts', '2', '--delivery-backoff-ms', '10']);
    const { core, sessionId, dir } = await openSession(host.url);
    const cli = (...args: string[]) => runCli(['--data-dir', dataDir(), 'deliveries', ...args]);
    try {
      // Attempt 1 is answered 503 by a bridge that then stops listening: attempt 2 is refused, and was the last.
      platform.failThenGoDown(503);
      writeOutbound(dir, [
        { id: 'r-down', channelType: 'webhook', platformId: 'fam', content: { text: 'anyone there?' } },
        { id: 'r-down-2', channelType: 'webhook', platformId: 'fam', content: { text: 'hello?' } },
      ]);
      await waitForEvents(core.store, finalOutcome(new Set(['r-down', 'r-down-2'])), 2);
      const failedRow = (messageId: string) =>
        expect.objectContaining({ messageId, sessionId, channelType: 'webhook', platformId: 'fam', status: 'failed', attempts: 2, lastError: expect.stringMatching(/^NetworkError: .*ECONNREFUSED/) });
      expect(JSON.parse(cli('list', '--failed', '--json').stdout)).toEqual([failedRow('r-down'), failedRow('r-down-2')]);
      expect(cli('retry', 'r-nowhere')).toMatchObject({ status: 1, stderr: expect.stringContaining('no message r-nowhere in the log') });
      expect(cli('retry', 'm-1')).toMatchObject({ status: 1, stderr: expect.stringContaining('is an inbound message') });

      await platform.up();
      const retried = cli('retry', 'r-down', '--actor', 'bob');
      expect(retried).toMatchObject({ status: 0, stdout: expect.stringContaining('retry of r-down') });
      // The running host picks the retry up from the log.
      const [delivered] = await waitForEvents(core.store, (event) => event.type === 'DeliverySucceeded' && (event.data as { outboundId: string }).outboundId === 'r-down');
      expect(delivered!.data).toMatchObject({ attempt: 3 });
      // What is still failed, all at once.
      expect(cli('retry', '--failed')).toMatchObject({ status: 0, stdout: expect.stringContaining('retry of r-down-2') });
      await waitForEvents(core.store, (event) => event.type === 'DeliverySucceeded' && (event.data as { outboundId: string }).outboundId === 'r-down-2');
      const keys = platform.requests.filter((request) => request.path === '/deliver').map((request) => (request.body as { idempotencyKey: string }).idempotencyKey);
      expect(keys.filter((key) => key.endsWith(':r-down'))).toEqual([`${sessionId}:r-down`, `${sessionId}:r-down`]);

      expect(cli('retry', 'r-down')).toMatchObject({ status: 1, stderr: expect.stringContaining('already-delivered') });
      expect(cli('list').stdout).toMatch(/r-down\s+\S+\s+webhook\s+fam\s+delivered\s+3\s+NetworkError/);
      expect(cli('list', '--failed').stdout).toContain('no failed deliveries');
      expect(runCli(['--data-dir', dataDir(), 'explain', 'r-down']).stdout).toMatch(/retry requested by operator:bob: a new series of attempts after 2/);
    } finally {
      core.close();
      host.child.kill('SIGTERM');
    }
    // Each failed attempt is a warning with its error, under a stable event name.
    const logged = (await host.done).stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logged.filter((line) => line.event === 'DeliveryFailed' && line.outboundId === 'r-down').map((line) => [line.level, line.errorClass, line.attempt])).toEqual([
      [40, 'HttpError', 1],
      [40, 'NetworkError', 2],
    ]);
  });

  it('a host killed mid-delivery of 200 rows, restarted, delivers each row once and skips none', async () => {
    // 200 rows at once is over the default 60 a minute: this agent group is allowed the burst.
    expect(runCli(['--data-dir', dataDir(), 'groups', 'update', 'ag-andy', '--max-rate', '1000']).status).toBe(0);
    let host = await startHost(dataDir(), platform.url);
    const { core, dir } = await openSession(host.url);
    try {
      const ids = Array.from({ length: 200 }, (_, i) => `row-${i}`);
      writeOutbound(dir, ids.map((id) => ({ id, channelType: 'webhook', platformId: 'fam', content: { text: id } })));
      await platform.waitFor(60);
      host.child.kill('SIGKILL');
      await host.done;
      const beforeRestart = platform.received.length;
      expect(beforeRestart).toBeLessThan(200);

      host = await startHost(dataDir(), platform.url);
      const outcomes = await waitForEvents(core.store, finalOutcome(new Set(ids)), 200, 30_000);
      // Exactly one outcome per row in the log, and every one a delivery.
      expect(new Set(outcomes.map((e) => (e.data as { outboundId: string }).outboundId)).size).toBe(200);
      expect(outcomes.every((e) => e.type === 'DeliverySucceeded')).toBe(true);
      // The platform saw every row; a row re-sent after the crash carried the same key.
      const keys = platform.received.map((body) => body.idempotencyKey!);
      expect(new Set(keys).size).toBe(200);
      expect(new Set(keys.map((key) => key.split(':').pop()))).toEqual(new Set(ids));
      expect(platform.received.length - 200).toBeLessThanOrEqual(20);
    } finally {
      core.close();
      host.child.kill('SIGTERM');
      await host.done;
    }
  });

  it('a host SIGKILLed during the last attempt fails the row on restart (outcome unknown), tells the sender, and sends nothing a fourth time', async () => {
    let host = await startHost(dataDir(), platform.url);
    const { core, sessionId, dir } = await openSession(host.url);
    try {
      // Two refusals, then the third attempt hangs: the host dies while it waits.
      platform.failNext(2, 503);
      platform.stallNext(1);
      writeOutbound(dir, [{ id: 'r-last', channelType: 'webhook', platformId: 'fam', content: { text: 'are you there?' } }]);
      const deliveries = () => platform.requests.filter((request) => request.path === '/deliver').length;
      await waitUntil(() => deliveries() === 3, 'the third delivery attempt to reach the platform');
      host.child.kill('SIGKILL');
      await host.done;
      const audit = () => runCli(['--data-dir', dataDir(), 'audit', '--direction', 'outbound', '--jsonl']).stdout.trim().split('\n').map((line) => JSON.parse(line));
      expect(audit().map((row) => [row.message_id, row.outcome, row.attempts])).toEqual([['r-last', 'routed', 3]]);

      host = await startHost(dataDir(), platform.url);
      const [failed] = await waitForEvents(core.store, finalOutcome(new Set(['r-last'])));
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
