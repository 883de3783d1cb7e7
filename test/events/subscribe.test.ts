import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { take, type Observable, type Subscription } from 'rxjs';
import type { RecordedEvent } from '../../src/events/define';
import { EventStore } from '../../src/events/store';
import { startFixture, type Fixture } from '../fixtures/child';
import { testEvents, testMetadata, testRegistry } from '../fixtures/test-events';

/** Long enough that a test relying on commit notifications is never rescued by a poll. */
const NO_POLL = 600_000;
/** How long a wait may take before the test fails with what it got (a deadline, not a delay). */
const DEADLINE_MS = 10_000;

interface Collector {
  readonly events: RecordedEvent[];
  readonly subscription: Subscription;
  /** Resolves once `count` events have arrived; rejects with what arrived if the deadline passes. */
  until(count: number): Promise<void>;
}

describe('EventStore.subscribe', () => {
  let dir: string;
  let path: string;
  let store: EventStore;
  const subscriptions: Subscription[] = [];
  const children: Fixture[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'switchyard-subscribe-'));
    path = join(dir, 'events.db');
    store = EventStore.open(path, testRegistry);
  });
  afterEach(async () => {
    subscriptions.splice(0).forEach((subscription) => subscription.unsubscribe());
    await Promise.all(children.splice(0).map((child) => child.kill()));
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const append = (stream: string, commandId: string, count = 1) =>
    store.append(stream, 'any', testEvents(commandId, count), testMetadata(commandId));
  const positionsOf = (events: readonly RecordedEvent[]) => events.map((event) => event.position);
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  function collect(observable: Observable<RecordedEvent>, onEvent?: (event: RecordedEvent) => void): Collector {
    const events: RecordedEvent[] = [];
    const waiters = new Set<() => void>();
    let failure: unknown;
    const subscription = observable.subscribe({
      next: (event) => {
        events.push(event);
        onEvent?.(event);
        waiters.forEach((waiter) => waiter());
      },
      error: (error) => {
        failure = error;
        waiters.forEach((waiter) => waiter());
      },
    });
    subscriptions.push(subscription);
    return {
      events,
      subscription,
      until(count) {
        return new Promise<void>((resolve, reject) => {
          const deadline = setTimeout(() => {
            waiters.delete(check);
            reject(new Error(`expected ${count} events within ${DEADLINE_MS} ms, got positions [${positionsOf(events).join(', ')}]`));
          }, DEADLINE_MS);
          const check = () => {
            if (failure !== undefined || events.length >= count) {
              clearTimeout(deadline);
              waiters.delete(check);
              if (failure !== undefined) reject(failure);
              else resolve();
            }
          };
          waiters.add(check);
          check();
        });
      },
    };
  }

  describe('catch-up then live', () => {
    it('given a log of 3000 events, when the observer appends while it is still catching up (batchSize 50), then every event arrives exactly once, in order, with no gap at the seam', () => {
      store.transaction(() => {
        for (let i = 0; i < 600; i++) append(`seed-${i % 7}`, `seed-${i}`, 5);
      });
      expect(store.lastPosition()).toBe(3000);

      let appendedDuringCatchUp = 0;
      let catchingUp = true;
      const appendFrom = (event: RecordedEvent) => {
        // Mid-batch, at a batch boundary, on the last seeded event (the seam), and on
        // events appended by earlier handler calls, while the initial drain still runs.
        if (catchingUp && [7, 50, 51, 1234, 2999, 3000, 3002, 3004].includes(event.position)) {
          append('during', `during-${event.position}`, 2);
          appendedDuringCatchUp += 2;
        }
      };
      const collector = collect(store.subscribe({ batchSize: 50, pollIntervalMs: NO_POLL }), appendFrom);
      catchingUp = false;

      // subscribe() catches up synchronously: everything committed so far, including
      // what the observer appended meanwhile, has been delivered by now.
      expect(appendedDuringCatchUp).toBe(16);
      expect(positionsOf(collector.events)).toEqual(range(1, 3016));

      // Live: each commit notifies the subscriber, in process, at once.
      append('live', 'live-1', 3);
      store.transaction(() => {
        append('live', 'live-2', 1);
        append('other', 'live-2', 1);
      });
      expect(positionsOf(collector.events)).toEqual(range(1, 3021));
      expect(new Set(collector.events.map((event) => event.eventId)).size).toBe(3021);
      expect(collector.events.slice(3016).map((event) => event.metadata.commandId)).toEqual(['live-1', 'live-1', 'live-1', 'live-2', 'live-2']);
    });

    it('given a live subscriber that appends from inside next(), when a commit arrives, then its own appends are delivered after it, once each', () => {
      append('seed', 'seed', 3);
      let followUps = 0;
      const collector = collect(store.subscribe({ batchSize: 2, pollIntervalMs: NO_POLL }), (event) => {
        if (event.metadata.commandId.startsWith('live') && followUps < 5) {
          followUps += 1;
          append('follow-up', `follow-up-${followUps}`, 1);
        }
      });
      append('live', 'live', 2);
      expect(positionsOf(collector.events)).toEqual(range(1, 5 + 2));
      expect(collector.events.map((event) => event.metadata.commandId)).toEqual(['seed', 'seed', 'seed', 'live', 'live', 'follow-up-1', 'follow-up-2']);
    });

    it('given a start position, when subscribing, then only later events come, then live ones', () => {
      for (let i = 1; i <= 10; i++) append('seed', `seed-${i}`);
      const collector = collect(store.subscribe({ after: 7, batchSize: 2, pollIntervalMs: NO_POLL }));
      expect(positionsOf(collector.events)).toEqual([8, 9, 10]);
      append('live', 'live');
      expect(positionsOf(collector.events)).toEqual([8, 9, 10, 11]);
    });

    it('given two subscribers, when one of them appends from its handler, then both see every event once and in order', () => {
      append('seed', 'seed', 2);
      let appended = false;
      const appender = collect(store.subscribe({ batchSize: 1, pollIntervalMs: NO_POLL }), (event) => {
        if (event.position === 3 && !appended) {
          appended = true;
          append('reaction', 'reaction', 2);
        }
      });
      const watcher = collect(store.subscribe({ batchSize: 1, pollIntervalMs: NO_POLL }));
      append('live', 'live');
      expect(positionsOf(appender.events)).toEqual([1, 2, 3, 4, 5]);
      expect(positionsOf(watcher.events)).toEqual([1, 2, 3, 4, 5]);
    });
  });

  describe('other processes', () => {
    it('given a live subscriber, when another process appends, then polling delivers its events in order', async () => {
      append('seed', 'seed', 2);
      const collector = collect(store.subscribe({ batchSize: 2, pollIntervalMs: 10 }));
      expect(positionsOf(collector.events)).toEqual([1, 2]);

      const child = startFixture('append-once', [path, 'from-child', '5']);
      children.push(child);
      await expect(child.line(/^appended /)).resolves.toBe('appended 3..7');
      await expect(child.exited).resolves.toEqual({ code: 0, signal: null });
      await collector.until(7);
      expect(positionsOf(collector.events)).toEqual(range(1, 7));
      expect(collector.events.slice(2).map((event) => [event.metadata.commandId, event.data])).toEqual(
        range(0, 4).map((index) => ['from-child', { command: 'from-child', index }]),
      );

      // Local appends after the foreign ones keep the order.
      append('seed', 'local-after');
      expect(positionsOf(collector.events)).toEqual(range(1, 8));
    });

    it('given another process appending while the subscriber catches up, when both are done, then nothing is missed or repeated', async () => {
      store.transaction(() => {
        for (let i = 0; i < 200; i++) append('seed', `seed-${i}`, 5);
      });
      // 100 commands (50 of 2 events to shared streams, 50 of 1 to its own), 0.5 ms apart.
      const child = startFixture('append-concurrent', [path, 'racer', '100', '0.5']);
      children.push(child);
      await child.line(/^ready$/);
      child.process.stdin.end('go\n');
      const collector = collect(store.subscribe({ batchSize: 7, pollIntervalMs: 5 }));
      await expect(child.exited).resolves.toEqual({ code: 0, signal: null });
      await collector.until(1150);
      expect(positionsOf(collector.events)).toEqual(range(1, 1150));
      expect(collector.events.filter((event) => event.metadata.commandId.startsWith('racer-'))).toHaveLength(150);
    });
  });

  describe('rolled-back transactions', () => {
    it('given a live subscriber, when a transaction appends then fails, then its events are never emitted', async () => {
      append('seed', 'seed');
      const collector = collect(store.subscribe({ pollIntervalMs: 10 }));
      expect(() =>
        store.transaction(() => {
          append('doomed', 'doomed', 3);
          throw new Error('rolled back');
        }),
      ).toThrow('rolled back');
      expect(positionsOf(collector.events)).toEqual([1]);

      // The next committed event takes the freed position: the subscriber resumes after
      // position 1 and gets it, not the rolled-back ones.
      append('kept', 'kept');
      await collector.until(2);
      expect(collector.events.map((event) => [event.position, event.metadata.commandId])).toEqual([
        [1, 'seed'],
        [2, 'kept'],
      ]);
    });

    it('given a live subscriber, when a nested transaction rolls back inside a committed one, then only the committed events are emitted', () => {
      const collector = collect(store.subscribe({ pollIntervalMs: NO_POLL }));
      store.transaction(() => {
        append('outer', 'outer-1');
        try {
          store.transaction(() => {
            append('inner', 'inner', 2);
            throw new Error('inner fails');
          });
        } catch {
          // only the savepoint rolls back
        }
        append('outer', 'outer-2');
        // Nothing is emitted before the outermost commit.
        expect(collector.events).toEqual([]);
      });
      expect(collector.events.map((event) => [event.position, event.metadata.commandId])).toEqual([
        [1, 'outer-1'],
        [2, 'outer-2'],
      ]);
    });

    it('given a transaction that has appended but not committed, when a subscription starts inside it and it then rolls back, then the uncommitted events are never emitted', () => {
      append('seed', 'seed');
      let collector: Collector | undefined;
      expect(() =>
        store.transaction(() => {
          append('doomed', 'doomed', 2);
          collector = collect(store.subscribe({ pollIntervalMs: NO_POLL }));
          throw new Error('rolled back');
        }),
      ).toThrow('rolled back');
      append('kept', 'kept');
      expect(collector!.events.map((event) => [event.position, event.metadata.commandId])).toEqual([
        [1, 'seed'],
        [2, 'kept'],
      ]);
    });
  });

  describe("a commit's events handed over", () => {
    /** A store on the same file whose every statement is recorded: what it read shows. */
    function tracedStore(): { traced: EventStore; statements: string[] } {
      const statements: string[] = [];
      const db = new Database(path, { verbose: (sql) => statements.push(String(sql)) });
      db.pragma('journal_mode = WAL');
      return { traced: new EventStore(db, testRegistry), statements };
    }
    const logReads = (statements: readonly string[]) => statements.filter((sql) => /FROM events WHERE position >/.test(sql));

    it('given live subscribers, when this process commits, then they get its events without the log being read back', () => {
      const { traced, statements } = tracedStore();
      try {
        const all = collect(traced.subscribe({ pollIntervalMs: NO_POLL }));
        const readThrough: number[] = [];
        const filtered = collect(traced.subscribe({ type: 'Other', pollIntervalMs: NO_POLL, onReadThrough: (position) => readThrough.push(position) }));
        statements.length = 0;
        traced.append('live', 'any', testEvents('live-1', 2), testMetadata('live-1'));
        traced.transaction(() => {
          traced.append('live', 'any', testEvents('live-2', 1), testMetadata('live-2'));
          traced.append('other', 'any', testEvents('live-2', 1, 1), testMetadata('live-2'));
        });
        expect(logReads(statements)).toEqual([]);
        expect(all.events.map((event) => [event.position, event.metadata.commandId, event.data])).toEqual([
          [1, 'live-1', { command: 'live-1', index: 0 }],
          [2, 'live-1', { command: 'live-1', index: 1 }],
          [3, 'live-2', { command: 'live-2', index: 0 }],
          [4, 'live-2', { command: 'live-2', index: 1 }],
        ]);
        // The type filter holds: nothing of another type, and the position read through is told.
        expect(filtered.events).toEqual([]);
        expect(readThrough).toEqual([2, 4]);
      } finally {
        traced.close();
      }
    });

    it('given a savepoint rolled back outside transaction(), when the commit reuses its positions, then subscribers read the log and get only what committed', () => {
      const { traced, statements } = tracedStore();
      try {
        const collector = collect(traced.subscribe({ pollIntervalMs: NO_POLL }));
        statements.length = 0;
        traced.transaction(() => {
          traced.db.exec('SAVEPOINT raw');
          traced.append('doomed', 'any', testEvents('doomed', 2), testMetadata('doomed'));
          traced.db.exec('ROLLBACK TO raw');
          traced.db.exec('RELEASE raw');
          traced.append('kept', 'any', testEvents('kept', 1), testMetadata('kept'));
        });
        expect(collector.events.map((event) => [event.position, event.metadata.commandId])).toEqual([[1, 'kept']]);
        expect(logReads(statements)).toHaveLength(1);
      } finally {
        traced.close();
      }
    });

    it('given a subscriber that has not seen another process\'s events, when this process commits after them, then it reads the log and misses nothing', async () => {
      append('seed', 'seed', 2);
      const collector = collect(store.subscribe({ pollIntervalMs: NO_POLL }));
      const child = startFixture('append-once', [path, 'from-child', '5']);
      children.push(child);
      await expect(child.exited).resolves.toEqual({ code: 0, signal: null });
      expect(positionsOf(collector.events)).toEqual([1, 2]);
      append('local', 'local-after');
      expect(positionsOf(collector.events)).toEqual(range(1, 8));
    });
  });

  describe('unsubscribe', () => {
    it('given two subscribers, when one unsubscribes, then it gets nothing more while the other keeps receiving local and foreign events', async () => {
      append('seed', 'seed', 2);
      const stopped = collect(store.subscribe({ pollIntervalMs: 10 }));
      const control = collect(store.subscribe({ pollIntervalMs: 10 }));
      expect(positionsOf(stopped.events)).toEqual([1, 2]);

      stopped.subscription.unsubscribe();
      expect(stopped.subscription.closed).toBe(true);
      append('after', 'after-local', 2);
      const child = startFixture('append-once', [path, 'after-foreign', '2']);
      children.push(child);
      await child.exited;
      await control.until(6);
      expect(positionsOf(control.events)).toEqual(range(1, 6));
      expect(positionsOf(stopped.events)).toEqual([1, 2]);
    });

    it('given take(5) over a catch-up of 100 events, when the fifth arrives, then delivery stops mid-batch and later appends are not delivered', () => {
      for (let i = 0; i < 20; i++) append('seed', `seed-${i}`, 5);
      const collector = collect(store.subscribe({ batchSize: 1000, pollIntervalMs: NO_POLL }).pipe(take(5)));
      expect(positionsOf(collector.events)).toEqual([1, 2, 3, 4, 5]);
      expect(collector.subscription.closed).toBe(true);
      append('later', 'later');
      expect(positionsOf(collector.events)).toEqual([1, 2, 3, 4, 5]);
    });
  });
});
