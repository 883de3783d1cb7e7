import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventStore, WrongExpectedVersionError } from '../../src/events/store';
import { startFixture, type Fixture } from '../fixtures/child';
import { testEvents, testMetadata, testRegistry } from '../fixtures/test-events';

const COMMANDS_PER_WRITER = 400;
const WRITERS = ['w1', 'w2'];
/**
 * Each writer pauses this long between commands (outside its transactions). Without it, a
 * writer in a tight loop retakes the lock the moment it commits and the other one, backing
 * off in SQLite's busy handler, mostly runs after it; with it they interleave hundreds of times.
 */
const PAUSE_MS = '0.5';

describe('concurrent writers on one file', () => {
  let dir: string;
  let path: string;
  const children: Fixture[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'switchyard-concurrency-'));
    path = join(dir, 'events.db');
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map((child) => child.kill()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('given two processes appending at once to shared streams (any) and to their own (exact), when both are done, then positions and stream versions have no gap or duplicate and every event is there exactly once', async () => {
    // Create and migrate the file first: two processes opening a brand-new file at the
    // same time can both try to apply the same migration (see test/db/migrate.test.ts).
    EventStore.open(path, testRegistry).close();

    const writers = WRITERS.map((writer) => {
      const child = startFixture('append-concurrent', [path, writer, String(COMMANDS_PER_WRITER), PAUSE_MS]);
      children.push(child);
      return child;
    });
    await Promise.all(writers.map((child) => child.line(/^ready$/)));
    for (const child of writers) child.process.stdin.end('go\n');
    for (const child of writers) {
      const exit = await child.exited;
      expect({ exit, stderr: child.stderr() }).toEqual({ exit: { code: 0, signal: null }, stderr: '' });
      expect(child.stdout()).toContain(`done ${COMMANDS_PER_WRITER}`);
    }

    const store = EventStore.open(path, testRegistry);
    try {
      const events = [...store.readAll({ batchSize: 256 })];
      // Each writer: even commands append 2 events to a shared stream, odd ones 1 to its own.
      const expectedCount = WRITERS.length * (COMMANDS_PER_WRITER / 2) * 3;
      expect(events.map((event) => event.position)).toEqual(Array.from({ length: expectedCount }, (_, i) => i + 1));
      expect(new Set(events.map((event) => event.eventId)).size).toBe(expectedCount);

      const versions = new Map<string, number[]>();
      for (const event of events) {
        if (!versions.has(event.stream)) versions.set(event.stream, []);
        versions.get(event.stream)!.push(event.streamVersion);
      }
      expect([...versions.keys()].sort()).toEqual(['own-w1', 'own-w2', 'shared-0', 'shared-1', 'shared-2']);
      for (const [stream, list] of versions) {
        expect({ stream, versions: list }).toEqual({ stream, versions: Array.from({ length: list.length }, (_, i) => i + 1) });
      }
      const raw = store.db
        .prepare('SELECT count(*) AS rows, count(DISTINCT stream || char(0) || stream_version) AS pairs FROM events')
        .get();
      expect(raw).toEqual({ rows: expectedCount, pairs: expectedCount });

      const key = (command: string, index: number, stream: string) => `${command}#${index}@${stream}`;
      const expected: string[] = [];
      for (const writer of WRITERS) {
        for (let n = 0; n < COMMANDS_PER_WRITER; n++) {
          const command = `${writer}-${n}`;
          if (n % 2 === 0) expected.push(key(command, 0, `shared-${n % 3}`), key(command, 1, `shared-${n % 3}`));
          else expected.push(key(command, 0, `own-${writer}`));
        }
      }
      const found = events.map((event) => {
        const data = event.data as { command: string; index: number };
        expect(data.command).toBe(event.metadata.commandId);
        return key(data.command, data.index, event.stream);
      });
      expect([...found].sort()).toEqual([...expected].sort());

      // Each writer's commands landed in the order it made them.
      for (const writer of WRITERS) {
        const order = events
          .filter((event) => event.metadata.commandId.startsWith(`${writer}-`))
          .map((event) => Number(event.metadata.commandId.slice(writer.length + 1)));
        expect(order).toEqual([...order].sort((a, b) => a - b));
      }
    } finally {
      store.close();
    }
  });

  describe('in process, two store instances on the same file', () => {
    let first: EventStore;
    let second: EventStore;
    beforeEach(() => {
      first = EventStore.open(path, testRegistry);
      second = EventStore.open(path, testRegistry);
    });
    afterEach(() => {
      first.close();
      second.close();
    });

    const appendWith = (store: EventStore, commandId: string, expected: Parameters<EventStore['append']>[1], count = 1) =>
      store.append('account-1', expected, testEvents(commandId, count), testMetadata(commandId));
    const attempt = (fn: () => unknown): unknown => {
      try {
        fn();
      } catch (error) {
        return error;
      }
      throw new Error('expected the append to fail');
    };

    it('given both read version 0, when both append with exact 0, then the second gets WrongExpectedVersionError with the actual version and can retry with it', () => {
      const seenByFirst = first.streamVersion('account-1');
      const seenBySecond = second.streamVersion('account-1');
      expect([seenByFirst, seenBySecond]).toEqual([0, 0]);

      appendWith(first, 'first', seenByFirst, 2);
      const error = attempt(() => appendWith(second, 'second', seenBySecond));
      expect(error).toBeInstanceOf(WrongExpectedVersionError);
      expect(error).toMatchObject({ stream: 'account-1', expected: 0, actual: 2 });
      expect((error as Error).message).toBe('stream account-1: expected version 0, actual version 2');

      const [retried] = appendWith(second, 'second', (error as WrongExpectedVersionError).actual);
      expect(retried).toMatchObject({ position: 3, streamVersion: 3 });
      expect(first.readStream('account-1').map((event) => event.metadata.commandId)).toEqual(['first', 'first', 'second']);
    });

    it('given both read version 3, when both append with exact 3, then the loser learns the winner’s version', () => {
      appendWith(first, 'seed', 'no-stream', 3);
      const seenByFirst = first.streamVersion('account-1');
      const seenBySecond = second.streamVersion('account-1');
      expect([seenByFirst, seenBySecond]).toEqual([3, 3]);

      appendWith(second, 'second', seenBySecond, 1);
      const error = attempt(() => appendWith(first, 'first', seenByFirst, 4));
      expect(error).toMatchObject({ name: 'WrongExpectedVersionError', expected: 3, actual: 4 });
      expect(first.streamVersion('account-1')).toBe(4);
      expect(second.lastPosition()).toBe(4);
    });

    it('given both believe the stream is new, when both append with no-stream, then the second gets WrongExpectedVersionError with the actual version', () => {
      appendWith(first, 'first', 'no-stream', 2);
      const error = attempt(() => appendWith(second, 'second', 'no-stream'));
      expect(error).toMatchObject({ name: 'WrongExpectedVersionError', expected: 'no-stream', actual: 2 });
      expect(second.readStream('account-1')).toHaveLength(2);
    });
  });
});
