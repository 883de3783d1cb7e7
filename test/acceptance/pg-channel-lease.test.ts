import { join } from 'node:path';
import { runCli, startCli } from '../support/cli';
import { FakeTelegram } from '../support/fake-telegram';
import { everyMessageDelivered, killAgentsOf, LOADED_MACHINE_MS, newDatabase, queryRows, wireAndy } from '../support/pg-hosts';
import { describeWithPostgres, usePostgres } from '../support/postgres';
import { useTempDir } from '../support/temp';
import { waitUntil } from '../support/wait';

type Host = ReturnType<typeof startCli>;

describeWithPostgres('a channel with one connection per bot (Telegram long polling), two hosts on one PostgreSQL database (built CLI)', () => {
  const server = usePostgres();
  let telegram: FakeTelegram;
  const hosts: Host[] = [];
  let database: string | undefined;

  beforeEach(async () => {
    telegram = await FakeTelegram.start();
  });
  afterEach(async () => {
    for (const host of hosts.splice(0)) if (host.child.exitCode === null && host.child.signalCode === null) host.child.kill('SIGKILL');
    if (database) await killAgentsOf(await queryRows(database, "SELECT data::json->>'runtimeId' FROM events WHERE type = 'ContainerStarted'"));
    database = undefined;
    await telegram.close();
  });
  const tempDir = useTempDir();
  const family = { id: -1001, type: 'supergroup' as const, title: 'Family' };

  function start(dataDir: string, url: string): Host {
    const host = startCli(['--data-dir', dataDir, 'start', '--channels', 'telegram', '--store', url], {
      ...telegram.hostEnv(),
      SWITCHYARD_RUNTIME: 'process',
      SWITCHYARD_RUNNER_POLL_MS: '50',
      SWITCHYARD_POLL_INTERVAL_MS: '20',
      SWITCHYARD_LOG_LEVEL: 'warn',
    });
    hosts.push(host);
    return host;
  }
  const leasesOf = (dataDir: string) => (JSON.parse(runCli(['--data-dir', dataDir, 'status', '--json']).stdout) as { leases?: string[] }).leases ?? [];
  const answers = () => telegram.callsOf('sendMessage').map((call) => call.params.text);

  it('only the host holding the lease polls; when it is SIGKILLed the other polls, and every message is answered once', async () => {
    const url = await newDatabase(server());
    database = url;
    const dirs = [join(tempDir(), 'a'), join(tempDir(), 'b')];
    wireAndy(dirs[0]!, url, ['telegram:-1001'], 'telegram');
    const both = [start(dirs[0]!, url), start(dirs[1]!, url)];
    await Promise.all(both.map((host) => host.lines(1)));
    await waitUntil(() => dirs.filter((dir) => leasesOf(dir).includes('channel:telegram')).length === 1, 'one host to hold the telegram lease');
    const holder = dirs.findIndex((dir) => leasesOf(dir).includes('channel:telegram'));

    telegram.offerMessage({ chat: family, text: 'first' });
    // Killed once the answer's delivery is in the log: a kill between the platform's answer and that record is another test's (pg-two-hosts).
    await everyMessageDelivered(url, 1);
    both[holder]!.child.kill('SIGKILL');
    await both[holder]!.done;
    // The survivor's lease tick takes the channel once the dead host's lease expires (5 s).
    await waitUntil(() => leasesOf(dirs[1 - holder]!).includes('channel:telegram'), 'the other host to take the telegram lease', 30_000);
    telegram.offerMessage({ chat: family, text: 'second' });
    await everyMessageDelivered(url, 2);
    await telegram.waitForCalls('sendMessage', 2, 60_000);

    expect(answers().sort()).toEqual(['echo: first', 'echo: second']);
    // Two pollers of one bot at once would have ended each other's long polls.
    expect(telegram.conflicts).toBe(0);
    const survivor = both[1 - holder]!;
    survivor.child.kill('SIGTERM');
    expect((await survivor.done).status).toBe(0);
  }, LOADED_MACHINE_MS);
});
