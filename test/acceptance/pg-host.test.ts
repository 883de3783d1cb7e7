import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { centralDatabasePath, openCore } from '../../src/core';
import { runCli } from '../support/cli';
import { FakePlatform, postInbound } from '../support/fake-platform';
import { startHost } from '../support/host-process';
import { describeWithPostgres, usePostgres } from '../support/postgres';
import { killAgentsOf, LOADED_MACHINE_MS, newDatabase, postgresRows, queryRows, replicaRows, wireAndy } from '../support/pg-hosts';
import { useTempDir } from '../support/temp';
import { AGENT_ANSWER_MS, waitForEvents, waitUntil } from '../support/wait';

const AGENTS = { SWITCHYARD_RUNTIME: 'process', SWITCHYARD_RUNNER_POLL_MS: '50' };

describeWithPostgres('switchyard start --store postgres:// (built): the log on PostgreSQL, the data directory its replica', () => {
  const server = usePostgres();
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');
  let platform: FakePlatform;

  beforeEach(async () => {
    platform = await FakePlatform.start();
  });
  afterEach(() => platform.close());

  it('routes a webhook message to the echo agent and delivers its answer, and the replica equals the PostgreSQL log (store verify)', async () => {
    const url = await newDatabase(server());
    wireAndy(dataDir(), url, ['fam']);
    const host = await startHost(dataDir(), platform.url, AGENTS, ['--store', url]);
    const core = openCore(centralDatabasePath(dataDir()), { readonly: true });
    try {
      expect((await postInbound(host.url, { platformId: 'fam', messageId: 'm-1', content: { text: 'hello Andy' } })).status).toBe(202);
      const [answer] = await platform.waitFor(1);
      expect(answer).toEqual(expect.objectContaining({ platformId: 'fam', content: { text: 'echo: hello Andy' } }));
      await waitForEvents(core.store, (e) => e.type === 'DeliverySucceeded');
      const sessionId = core.views.sessions.forAgentGroup('ag-andy')[0]!.id;
      // status says where the log is, never with a password, and which sessions this host runs.
      const status = () => JSON.parse(runCli(['--data-dir', dataDir(), 'status', '--json']).stdout) as { store: string; leases: string[] };
      await waitUntil(() => status().leases.includes(`session:${sessionId}`), 'the session lease in status');
      expect(status().store).toBe(url);
    } finally {
      host.child.kill('SIGTERM');
      expect((await host.done).status).toBe(0);
      core.close();
    }
    const withPassword = url.replace('postgres@', 'postgres:hunter2@');
    expect(JSON.parse(runCli(['--data-dir', dataDir(), 'status', '--json'], { SWITCHYARD_STORE: withPassword }).stdout)).toMatchObject({ store: url.replace('postgres@', 'postgres:***@'), leases: [] });
    const rows = await postgresRows(url);
    expect(rows.map((row) => row[4])).toEqual(expect.arrayContaining(['AgentGroupCreated', 'InboundRouted', 'OutboundRouted', 'DeliverySucceeded']));
    expect(replicaRows(dataDir())).toEqual(rows);
    const verified = runCli(['--data-dir', dataDir(), 'store', 'verify', '--json'], { SWITCHYARD_STORE: url });
    expect(verified.status).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ equal: true, replica: { events: rows.length }, postgres: { events: rows.length } });
    expect(verified.stdout + verified.stderr).not.toContain(url);
    // replay --verify works on the replica as on any SQLite log.
    expect(runCli(['--data-dir', dataDir(), 'replay', '--verify']).status).toBe(0);
  }, LOADED_MACHINE_MS);

  it('a host killed between the PostgreSQL commit and its own loses nothing and sends nothing twice after a restart', async () => {
    const url = await newDatabase(server());
    wireAndy(dataDir(), url, ['fam']);
    // The agent's answer is routed in PostgreSQL, then the host dies before its file has it.
    const killed = await startHost(dataDir(), platform.url, { ...AGENTS, SWITCHYARD_TEST_KILL_AFTER_PG_COMMIT: 'OutboundRouted' }, ['--store', url]);
    expect((await postInbound(killed.url, { platformId: 'fam', messageId: 'm-1', content: { text: 'before the crash' } })).status).toBe(202);
    expect((await killed.done).status).toBeNull();
    const routedInPostgres = (await postgresRows(url)).filter((row) => row[4] === 'OutboundRouted');
    expect(routedInPostgres).toHaveLength(1);
    expect(replicaRows(dataDir()).filter((row) => row[4] === 'OutboundRouted')).toHaveLength(0);

    const host = await startHost(dataDir(), platform.url, AGENTS, ['--store', url]);
    const core = openCore(centralDatabasePath(dataDir()), { readonly: true });
    try {
      // The platform sends the message again: the restarted host knows it (200, a repeat), it is not routed twice.
      expect((await postInbound(host.url, { platformId: 'fam', messageId: 'm-1', content: { text: 'before the crash' } })).status).toBe(200);
      await waitForEvents(core.store, (e) => e.type === 'DeliverySucceeded');
      expect(platform.received.map((d) => d.content)).toEqual([{ text: 'echo: before the crash' }]);
    } finally {
      host.child.kill('SIGTERM');
      expect((await host.done).status).toBe(0);
      core.close();
    }
    const rows = await postgresRows(url);
    expect(replicaRows(dataDir())).toEqual(rows);
    const count = (type: string) => rows.filter((row) => row[4] === type).length;
    expect([count('InboundRouted'), count('OutboundRouted'), count('DeliverySucceeded')]).toEqual([1, 1, 1]);
    // Positions contiguous: one writer at a time, each after the last.
    expect(rows.map((row) => row[0])).toEqual(rows.map((_, i) => i + 1));
  }, LOADED_MACHINE_MS);

  it('a session is leased to the host whose commit opened it, in that commit: killed right after it, no other host runs the session before the lease expires', async () => {
    const url = await newDatabase(server());
    wireAndy(dataDir(), url, ['fam']);
    const opener = await startHost(dataDir(), platform.url, { ...AGENTS, SWITCHYARD_TEST_KILL_AFTER_PG_COMMIT: 'SessionOpened' }, ['--store', url]);
    // Its answer never comes: the host dies inside the request.
    await postInbound(opener.url, { platformId: 'fam', messageId: 'm-1', content: { text: 'opened, then the host died' } }).catch(() => undefined);
    expect((await opener.done).status).toBeNull();
    const openerHolder = `:${readFileSync(join(dataDir(), 'install-id'), 'utf8').trim()}`;
    const [[sessionId]] = (await queryRows(url, "SELECT data::json->>'sessionId' FROM events WHERE type = 'SessionOpened'")) as [[string]];
    const [[holder, secondsLeft]] = (await queryRows(url, `SELECT holder, extract(epoch FROM expires_at - now())::float FROM leases WHERE name = 'session:${sessionId}'`)) as [[string, number]];
    expect(holder.endsWith(openerHolder)).toBe(true);
    expect(secondsLeft).toBeGreaterThan(0);

    // Once that lease expires, another host takes the session over and answers the message.
    const other = await startHost(join(tempDir(), 'other'), platform.url, AGENTS, ['--store', url]);
    try {
      const [answer] = await platform.waitFor(1, AGENT_ANSWER_MS);
      expect(answer).toEqual(expect.objectContaining({ platformId: 'fam', content: { text: 'echo: opened, then the host died' } }));
    } finally {
      other.child.kill('SIGTERM');
      expect((await other.done).status).toBe(0);
      await killAgentsOf(await queryRows(url, "SELECT data::json->>'runtimeId' FROM events WHERE type = 'ContainerStarted'"));
    }
  }, LOADED_MACHINE_MS);

  it('refuses a --store that is not a PostgreSQL URL, and one it cannot reach, in one line that shows no password', () => {
    const start = (store: string) => runCli(['--data-dir', dataDir(), 'start', '--store', store, '--webhook-port', '0', '--webhook-deliver-url', platform.url], { SWITCHYARD_RUNTIME: 'external' });
    const wrongKind = start('mysql://root:hunter2@db/x');
    expect(wrongKind.status).not.toBe(0);
    expect(wrongKind.stderr).toContain('store (flag --store or SWITCHYARD_STORE): expected a PostgreSQL connection string');
    const unreachable = start(`postgresql://postgres:hunter2@/nowhere?host=${encodeURIComponent(join(tempDir(), 'no-server'))}`);
    expect(unreachable.status).toBe(1);
    expect(unreachable.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^switchyard: could not start the host: PostgreSQL: connect ENOENT/)]);
    for (const output of [wrongKind, unreachable]) expect(output.stdout + output.stderr).not.toContain('hunter2');
  }, LOADED_MACHINE_MS);
});
