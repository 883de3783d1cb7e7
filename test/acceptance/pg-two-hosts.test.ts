import { join } from 'node:path';
import { runCli } from '../support/cli';
import { FakePlatform, postInbound } from '../support/fake-platform';
import { startHost } from '../support/host-process';
import { everyMessageDelivered, killAgentsOf, LOADED_MACHINE_MS, newDatabase, postgresRows, queryRows, replicaRows, wireAndy } from '../support/pg-hosts';
import { describeWithPostgres, usePostgres } from '../support/postgres';
import { useTempDir } from '../support/temp';
import { waitUntil } from '../support/wait';

const AGENTS = { SWITCHYARD_RUNTIME: 'process', SWITCHYARD_RUNNER_POLL_MS: '50' };
const CHATS = ['c1', 'c2', 'c3', 'c4'];

type Host = Awaited<ReturnType<typeof startHost>>;

/** Streams whose versions are not 1..n, and whether positions are 1..n: one writer at a time leaves neither gaps nor clashes. */
async function gaps(url: string): Promise<{ streamsWithGaps: unknown[]; positionsContiguous: boolean }> {
  const streamsWithGaps = await queryRows(url, 'SELECT stream FROM events GROUP BY stream HAVING count(*) <> max(stream_version) OR min(stream_version) <> 1');
  const [[count, max]] = (await queryRows(url, 'SELECT count(*)::int, coalesce(max(position), 0)::int FROM events')) as [[number, number]];
  return { streamsWithGaps, positionsContiguous: count === max };
}

describeWithPostgres('two hosts on one PostgreSQL database (built CLI), each with its own data directory and webhook port', () => {
  const server = usePostgres();
  const dirA = () => join(tempDir(), 'a');
  const dirB = () => join(tempDir(), 'b');
  let platformA: FakePlatform;
  let platformB: FakePlatform;
  const hosts: Host[] = [];
  /** The database of the test running: its log names every agent the hosts started. */
  let database: string | undefined;

  beforeEach(async () => {
    platformA = await FakePlatform.start();
    platformB = await FakePlatform.start();
  });
  afterEach(async () => {
    for (const host of hosts.splice(0)) if (host.child.exitCode === null && host.child.signalCode === null) host.child.kill('SIGKILL');
    // A host SIGKILLed (by the test, or here after a failure) leaves its agents running.
    if (database) await killAgentsOf(await queryRows(database, "SELECT data::json->>'runtimeId' FROM events WHERE type = 'ContainerStarted'"));
    database = undefined;
    await platformA.close();
    await platformB.close();
  });
  // After the hooks above: jest runs afterEach hooks in the order declared, and the agents must be gone before their folders are.
  const tempDir = useTempDir();

  async function startBoth(url: string): Promise<[Host, Host]> {
    database = url;
    const a = await startHost(dirA(), platformA.url, AGENTS, ['--store', url]);
    hosts.push(a);
    const b = await startHost(dirB(), platformB.url, AGENTS, ['--store', url]);
    hosts.push(b);
    return [a, b];
  }

  /** Posts a message to the host, or, when that host does not answer, to the other one: as a platform retrying elsewhere. */
  async function post(to: Host, otherwise: Host, chat: string, id: string): Promise<void> {
    const body = { platformId: chat, messageId: id, content: { text: id } };
    const status = await postInbound(to.url, body).then(
      (response) => response.status,
      () => undefined,
    );
    if (status === 202 || status === 200) return;
    const retried = await postInbound(otherwise.url, body);
    if (retried.status !== 202 && retried.status !== 200) throw new Error(`message ${id} was refused by both hosts: ${retried.status}`);
  }

  /** Posts as post() does, keeping each message id sent. */
  function posting() {
    const ids: string[] = [];
    const send = (to: Host, otherwise: Host, chat: string, id: string) => {
      ids.push(id);
      return post(to, otherwise, chat, id);
    };
    return { ids, send };
  }

  async function stop(host: Host): Promise<void> {
    host.child.kill('SIGTERM');
    expect((await host.done).status).toBe(0);
  }

  it('both route and deliver; messages for the same sessions decided on both at once are each routed, answered and delivered once, stream versions contiguous', async () => {
    const url = await newDatabase(server());
    wireAndy(dirA(), url, CHATS);
    const [a, b] = await startBoth(url);
    const { ids, send } = posting();
    // Each chat's session is opened on one host, then both hosts decide on every session at once.
    await Promise.all(CHATS.map((chat, i) => (i % 2 === 0 ? send(a, b, chat, `${chat}-first`) : send(b, a, chat, `${chat}-first`))));
    for (let round = 0; round < 5; round++) {
      await Promise.all(CHATS.flatMap((chat) => [send(a, b, chat, `${chat}-${round}-a`), send(b, a, chat, `${chat}-${round}-b`)]));
    }
    const outcomes = await everyMessageDelivered(url, ids.length);
    await stop(a);
    await stop(b);

    expect([...outcomes.keys()].sort()).toEqual([...ids].sort());
    expect([...outcomes.values()].every((o) => o.routed === 1 && o.answers === 1 && o.delivered === 1)).toBe(true);
    // Each host ran sessions of its own and delivered their answers.
    expect(platformA.received.length).toBeGreaterThan(0);
    expect(platformB.received.length).toBeGreaterThan(0);
    expect(await gaps(url)).toEqual({ streamsWithGaps: [], positionsContiguous: true });
    const rows = await postgresRows(url);
    for (const dir of [dirA(), dirB()]) {
      const replica = replicaRows(dir);
      expect(replica).toEqual(rows.slice(0, replica.length));
      // Projections of events pulled from the other host equal a rebuild from the replicated log.
      expect(runCli(['--data-dir', dir, 'replay', '--verify']).status).toBe(0);
    }
  }, LOADED_MACHINE_MS);

  it('one host SIGKILLed under load: the other takes its sessions over, and every accepted message is routed, answered and delivered once', async () => {
    const url = await newDatabase(server());
    wireAndy(dirA(), url, CHATS);
    const [a, b] = await startBoth(url);
    const { ids, send } = posting();
    // c1 and c3 open on A, c2 and c4 on B: A has sessions of its own to lose.
    await Promise.all(CHATS.map((chat, i) => (i % 2 === 0 ? send(a, b, chat, `${chat}-first`) : send(b, a, chat, `${chat}-first`))));
    await everyMessageDelivered(url, CHATS.length);
    const load: Promise<void>[] = [];
    for (let round = 0; round < 8; round++) {
      load.push(...CHATS.flatMap((chat) => [send(a, b, chat, `${chat}-${round}-a`), send(b, a, chat, `${chat}-${round}-b`)]));
      // Killed in the middle of the load, with messages in flight to it and agents answering on it.
      if (round === 3) a.child.kill('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await Promise.all(load);
    const outcomes = await everyMessageDelivered(url, ids.length);
    await stop(b);

    const counts = [...outcomes.values()];
    const summary = {
      accepted: ids.length,
      routedOnce: counts.filter((o) => o.routed === 1).length,
      answeredOnce: counts.filter((o) => o.answers === 1).length,
      deliveredOnce: counts.filter((o) => o.delivered === 1).length,
      platformDeliveries: platformA.received.length + platformB.received.length,
      distinctIdempotencyKeys: new Set([...platformA.received, ...platformB.received].map((d) => d.idempotencyKey)).size,
    };
    // The report quotes these.
    console.log(`issue 17 counts: ${JSON.stringify(summary)}`);
    expect([...outcomes.keys()].sort()).toEqual([...ids].sort());
    expect(summary).toMatchObject({ routedOnce: ids.length, answeredOnce: ids.length, deliveredOnce: ids.length, distinctIdempotencyKeys: ids.length });
    expect(await gaps(url)).toEqual({ streamsWithGaps: [], positionsContiguous: true });
    const taken = (await queryRows(url, "SELECT count(*)::int FROM events WHERE type = 'ContainerStopped' AND data::json->>'reason' = 'reconciled'")) as [[number]];
    expect(taken[0][0]).toBeGreaterThan(0);
  }, LOADED_MACHINE_MS);
});
