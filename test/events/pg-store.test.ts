import { Client } from 'pg';
import { firstValueFrom, take, toArray, timeout } from 'rxjs';
import { LOG_START, type LoggedEvent } from '../../src/events/log';
import { PostgresEventStore } from '../../src/events/pg-store';
import { deriveEventId, DuplicateEventError, WrongExpectedVersionError, type ExpectedVersion } from '../../src/events/store';
import { testEvents, testMetadata, testRegistry } from '../fixtures/test-events';
import { describeWithPostgres, postgresSuiteMode, usePostgres } from '../support/postgres';

/** How long a wait may take before the test fails with what it got (a deadline, not a delay). */
const DEADLINE_MS = 10_000;
/** Long enough that a test relying on NOTIFY is never rescued by a poll. */
const NO_POLL = 600_000;

describe('PostgreSQL suites without the server binaries', () => {
  it('fail in CI saying why and how CI provides them, and skip with a warning elsewhere', () => {
    const missing = 'the PostgreSQL server binaries are not in /usr/lib/postgresql/15/bin (apt-get install postgresql-15)';
    expect(postgresSuiteMode(missing, { CI: 'true' })).toEqual({ fail: `PostgreSQL tests cannot run in CI (CI=true): ${missing}. .ci/run installs postgresql-15.` });
    expect(postgresSuiteMode(missing, {})).toEqual({ skip: `PostgreSQL tests SKIPPED: ${missing} (.ci/run installs postgresql-15)` });
    expect(postgresSuiteMode(undefined, { CI: 'true' })).toEqual({ run: true });
  });
});

describeWithPostgres('PostgresEventStore', () => {
  const server = usePostgres();
  let store: PostgresEventStore;
  let url: string;
  const clients: Client[] = [];
  let databases = 0;

  beforeEach(async () => {
    // A database per test: each starts from an empty log on the one server.
    const database = `log_${++databases}`;
    const admin = await connect(server().connectionString);
    await admin.query(`CREATE DATABASE ${database}`);
    url = server().databaseUrl(database);
    store = await PostgresEventStore.open(url, testRegistry);
  });
  afterEach(async () => {
    await store.close();
    await Promise.all(clients.splice(0).map((client) => client.end()));
  });

  async function connect(connectionString = url): Promise<Client> {
    const client = new Client({ connectionString });
    await client.connect();
    clients.push(client);
    return client;
  }

  const appendTest = (stream: string, commandId: string, count = 1, expected: ExpectedVersion = 'any') =>
    store.append(stream, expected, testEvents(commandId, count), testMetadata(commandId));

  /**
   * A writer that takes a position and holds its transaction open: what another host's
   * append looks like between its INSERT and its COMMIT.
   */
  async function openWriter(stream: string) {
    const client = await connect();
    await client.query('BEGIN');
    const data = JSON.stringify({ command: stream, index: 0 });
    const { rows } = await client.query<{ position: string }>(
      `INSERT INTO events (event_id, stream, stream_version, type, schema_version, data, metadata)
       VALUES ($1, $2, 1, 'TestAppended', 1, $3, $4) RETURNING position`,
      [deriveEventId(stream, stream, 0), stream, data, JSON.stringify(testMetadata(stream))],
    );
    // As append does: the hint goes out if and when this transaction commits.
    await client.query("SELECT pg_notify('switchyard_events', '')");
    return { position: Number(rows[0]!.position), commit: () => client.query('COMMIT'), rollback: () => client.query('ROLLBACK') };
  }

  async function readEverything(after = LOG_START): Promise<LoggedEvent[]> {
    return store.readCommitted(after, 1000);
  }

  /** The first `count` events a new subscriber receives. Polls never run: after the catch-up, only NOTIFY wakes it. */
  const collect = (count: number, after = LOG_START, pollIntervalMs = NO_POLL) => ({
    done: firstValueFrom(store.subscribe({ after, pollIntervalMs }).pipe(take(count), toArray(), timeout(DEADLINE_MS))),
  });

  describe('append', () => {
    it('given appends to interleaved streams, when read back, then positions, versions and data are as on SQLite', async () => {
      const first = await appendTest('stream-a', 'cmd-1', 2);
      const second = await appendTest('stream-b', 'cmd-2', 1);
      const third = await appendTest('stream-a', 'cmd-3', 1);
      expect([...first, ...second, ...third].map((e) => [e.position, e.stream, e.streamVersion])).toEqual([
        [1, 'stream-a', 1],
        [2, 'stream-a', 2],
        [3, 'stream-b', 1],
        [4, 'stream-a', 3],
      ]);
      expect(first[1]!.eventId).toBe(deriveEventId('cmd-1', 'stream-a', 1));
      expect((await readEverything()).map(({ checkpoint: _checkpoint, ...event }) => event)).toEqual([...first, ...second, ...third]);
      expect((await store.readStream('stream-a')).map((e) => e.position)).toEqual([1, 2, 4]);
      expect(await store.streamVersion('stream-a')).toBe(3);
      expect(await store.streamVersion('no-such-stream')).toBe(0);
      expect(await store.lastPosition()).toBe(4);
    });

    it.each<[string, number, ExpectedVersion]>([
      ['any on an empty stream', 0, 'any'],
      ['no-stream on an empty stream', 0, 'no-stream'],
      ['exists on a stream with events', 2, 'exists'],
      ['the exact version', 2, 2],
    ])('given %s, when appending, then it passes', async (_name, version, expected) => {
      if (version > 0) await appendTest('stream-x', 'cmd-old', version);
      const recorded = await appendTest('stream-x', 'cmd-new', 2, expected);
      expect(recorded.map((e) => e.streamVersion)).toEqual([version + 1, version + 2]);
    });

    it.each<[string, number, ExpectedVersion]>([
      ['no-stream on a stream with events', 2, 'no-stream'],
      ['exists on an empty stream', 0, 'exists'],
      ['a stale version', 2, 1],
      ['a version ahead', 2, 5],
    ])('given %s, when appending, then WrongExpectedVersionError reports the actual version and nothing is appended', async (_name, version, expected) => {
      if (version > 0) await appendTest('stream-x', 'cmd-old', version);
      const error = await appendTest('stream-x', 'cmd-new', 2, expected).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(WrongExpectedVersionError);
      expect(error).toMatchObject({ stream: 'stream-x', expected, actual: version, message: `stream stream-x: expected version ${String(expected)}, actual version ${version}` });
      expect(await store.streamVersion('stream-x')).toBe(version);
    });

    it('given two writers appending to one stream at the same expected version, when both run at once, then one wins and the other gets the version that won', async () => {
      const results = await Promise.allSettled([appendTest('stream-x', 'cmd-a', 1, 0), appendTest('stream-x', 'cmd-b', 1, 0)]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(rejected.reason).toBeInstanceOf(WrongExpectedVersionError);
      expect(rejected.reason).toMatchObject({ expected: 0, actual: 1 });
      expect(await store.streamVersion('stream-x')).toBe(1);
    });

    it('given a command appended to a stream, when the same command id appends to it again, then DuplicateEventError and nothing is appended', async () => {
      await appendTest('stream-a', 'cmd-1', 2);
      // With `any` the version check passes: the event id derived from the command catches the repeat.
      const error = await store.append('stream-a', 'any', testEvents('cmd-1', 1), testMetadata('cmd-1')).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(DuplicateEventError);
      expect(error).toMatchObject({ commandId: 'cmd-1', eventId: deriveEventId('cmd-1', 'stream-a', 0) });
      expect(await store.lastPosition()).toBe(2);
    });

    it('given data that breaks its schema, when appending, then the error names the field and nothing is appended', async () => {
      const error = await store.append('stream-a', 'any', [{ type: 'TestAppended', data: { command: 'c', index: -1 } }], testMetadata('cmd-1')).catch((caught: unknown) => caught);
      expect(String(error)).toMatch(/index/);
      expect(await store.lastPosition()).toBe(0);
    });
  });

  it('given events in the log, when anything tries UPDATE, DELETE or TRUNCATE, then the trigger refuses it', async () => {
    await appendTest('stream-a', 'cmd-1');
    const client = await connect();
    await expect(client.query("UPDATE events SET data = '{}'")).rejects.toThrow('events are append-only: UPDATE is refused');
    await expect(client.query('DELETE FROM events')).rejects.toThrow('events are append-only: DELETE is refused');
    await expect(client.query('TRUNCATE events')).rejects.toThrow('events are append-only: TRUNCATE is refused');
    expect(await store.lastPosition()).toBe(1);
  });

  describe('reading in commit order', () => {
    it('given writer A holds position N and B commits N+1 first, when a reader polls in between and again after A commits, then it reads N+1 only with N, never skipping N', async () => {
      const a = await openWriter('stream-a');
      const [b] = await appendTest('stream-b', 'cmd-b');
      expect(b!.position).toBe(a.position + 1);

      // A position-only reader would take N+1 here and checkpoint past N for ever.
      const between = await readEverything();
      expect(between).toEqual([]);

      await a.commit();
      const after = await readEverything();
      expect(after.map((e) => e.position)).toEqual([a.position, b!.position]);
      // Resuming from the last checkpoint finds nothing twice.
      expect(await readEverything(after[1]!.checkpoint)).toEqual([]);
    });

    it('given a reader that has already passed events, when an older transaction commits a lower position, then the reader still gets it after its checkpoint', async () => {
      const [first] = await appendTest('stream-0', 'cmd-0');
      const seen = await readEverything();
      expect(seen.map((e) => e.position)).toEqual([first!.position]);
      const a = await openWriter('stream-a');
      const [b] = await appendTest('stream-b', 'cmd-b');
      await a.commit();
      const next = await readEverything(seen[0]!.checkpoint);
      expect(next.map((e) => e.position)).toEqual([a.position, b!.position]);
    });

    it('given transaction ids that cross a power of ten (999 → 1000), when read one event at a time, then the order is numeric and nothing is skipped', async () => {
      const client = await connect();
      const current = Number((await client.query<{ id: string }>('SELECT pg_current_xact_id()::text AS id')).rows[0]!.id);
      const boundary = 10 ** Math.ceil(Math.log10(current + 3));
      // Each loop round commits, so each burns one transaction id: the appends below straddle the boundary.
      await client.query(`DO $$ BEGIN FOR i IN 1..${boundary - current - 3} LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$`);
      for (let i = 0; i < 4; i++) await appendTest(`stream-${i}`, `cmd-${i}`);
      const transactions: string[] = [];
      let checkpoint = LOG_START;
      for (let batch = await store.readCommitted(checkpoint, 1); batch.length > 0; batch = await store.readCommitted(checkpoint, 1)) {
        checkpoint = batch[0]!.checkpoint;
        transactions.push(checkpoint.transactionId);
      }
      expect(transactions).toHaveLength(4);
      expect(transactions.map(Number)).toEqual([...transactions.map(Number)].sort((a, b) => a - b));
      expect(transactions.some((id) => Number(id) < boundary) && transactions.some((id) => Number(id) >= boundary)).toBe(true);
    });

    it('given a transaction that takes a position and rolls back, when reading, then the gap is passed without waiting', async () => {
      const a = await openWriter('stream-a');
      await a.rollback();
      const [b] = await appendTest('stream-b', 'cmd-b');
      expect(b!.position).toBe(a.position + 1);
      expect((await readEverything()).map((e) => e.position)).toEqual([b!.position]);
    });

    it('given a log in batches, when read a batch at a time from each checkpoint, then every event comes once in order', async () => {
      for (let i = 0; i < 5; i++) await appendTest(`stream-${i}`, `cmd-${i}`, 3);
      const positions: number[] = [];
      let checkpoint = LOG_START;
      for (;;) {
        const batch = await store.readCommitted(checkpoint, 4);
        if (batch.length === 0) break;
        positions.push(...batch.map((e) => e.position));
        checkpoint = batch[batch.length - 1]!.checkpoint;
      }
      expect(positions).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    });
  });

  describe('subscribe', () => {
    it('given events in the log, when subscribing and more commit, then it catches up and goes live with no gap or duplicate', async () => {
      await appendTest('stream-a', 'cmd-1', 3);
      const { done } = collect(6);
      await appendTest('stream-b', 'cmd-2', 2);
      await appendTest('stream-a', 'cmd-3', 1);
      const received = await done;
      expect(received.map((e) => e.position)).toEqual([1, 2, 3, 4, 5, 6]);
    });

    it('given a live subscriber, when writers commit out of order, then it receives the held event before the one that committed first', async () => {
      await appendTest('stream-0', 'cmd-0');
      const { done } = collect(3);
      const a = await openWriter('stream-a');
      await appendTest('stream-b', 'cmd-b');
      await a.commit();
      const received = await done;
      expect(received.map((e) => e.stream)).toEqual(['stream-0', 'stream-a', 'stream-b']);
    });

    it('given an older transaction that appends nothing, when it ends and no NOTIFY says so, then polling delivers what it held back', async () => {
      const other = await connect();
      await other.query('BEGIN');
      await other.query('SELECT pg_current_xact_id()');
      await appendTest('stream-a', 'cmd-1');
      expect(await readEverything()).toEqual([]);
      const { done } = collect(1, LOG_START, 20);
      await other.query('COMMIT');
      expect((await done).map((e) => e.position)).toEqual([1]);
    });

    it('given a checkpoint, when subscribing after it, then only later events arrive', async () => {
      await appendTest('stream-a', 'cmd-1', 3);
      const [, second] = await readEverything();
      const received = await collect(1, second!.checkpoint).done;
      expect(received.map((e) => e.position)).toEqual([3]);
    });
  });
});
