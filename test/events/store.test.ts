import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { defineEvent, EventRegistry, type EventMetadata } from '../../src/events/define';
import {
  deriveEventId,
  DuplicateEventError,
  EventStore,
  WrongExpectedVersionError,
  type ExpectedVersion,
} from '../../src/events/store';
import { TestAppended, testEvents, testMetadata } from '../fixtures/test-events';

/** A test-only type at schema version 2: v1 had `name`, v2 split it into first/last. */
const PersonNamed = defineEvent({
  type: 'PersonNamed',
  version: 2,
  schema: z.object({ first: z.string(), last: z.string() }),
  stream: () => 'person',
  upcasters: {
    1: (data) => {
      const [first = '', ...rest] = (data as { name: string }).name.split(' ');
      return { first, last: rest.join(' ') };
    },
  },
});

/** A test-only type at schema version 3, to see upcasters chained in order. */
const Counted = defineEvent({
  type: 'Counted',
  version: 3,
  schema: z.object({ count: z.number(), history: z.array(z.string()) }),
  stream: () => 'counter',
  upcasters: {
    1: (data) => ({ count: Number((data as { n: string }).n), history: ['v1→v2'] }),
    2: (data) => {
      const v2 = data as { count: number; history: string[] };
      return { count: v2.count, history: [...v2.history, 'v2→v3'] };
    },
  },
});

const registry = new EventRegistry([TestAppended, PersonNamed, Counted]);

describe('EventStore', () => {
  let dir: string;
  let store: EventStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'switchyard-store-'));
    store = EventStore.open(join(dir, 'events.db'), registry);
  });
  afterEach(() => {
    if (store.db.open) store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Appends one command of `count` TestAppended events to stream. */
  const appendTest = (stream: string, commandId: string, count = 1, expected: ExpectedVersion = 'any') =>
    store.append(stream, expected, testEvents(commandId, count), testMetadata(commandId));
  const positions = () => [...store.readAll()].map((event) => event.position);
  const rawCount = () => store.db.prepare('SELECT count(*) FROM events').pluck().get() as number;

  describe('append, readStream and readAll', () => {
    it('given appends to interleaved streams, when read back, then readAll is in position order and readStream in stream-version order', () => {
      const first = appendTest('stream-a', 'cmd-1', 2);
      const second = appendTest('stream-b', 'cmd-2', 1);
      const third = appendTest('stream-a', 'cmd-3', 1);

      expect([...first, ...second, ...third].map((e) => [e.position, e.stream, e.streamVersion])).toEqual([
        [1, 'stream-a', 1],
        [2, 'stream-a', 2],
        [3, 'stream-b', 1],
        [4, 'stream-a', 3],
      ]);
      const all = [...store.readAll()];
      expect(all).toEqual([...first, ...second, ...third]);
      expect(store.readStream('stream-a').map((e) => [e.position, e.streamVersion, e.data])).toEqual([
        [1, 1, { command: 'cmd-1', index: 0 }],
        [2, 2, { command: 'cmd-1', index: 1 }],
        [4, 3, { command: 'cmd-3', index: 0 }],
      ]);
      expect(store.readStream('stream-b').map((e) => e.position)).toEqual([3]);
      expect(store.readStream('no-such-stream')).toEqual([]);
      expect(store.streamVersion('stream-a')).toBe(3);
      expect(store.streamVersion('no-such-stream')).toBe(0);
      expect(store.lastPosition()).toBe(4);
    });

    it('given an empty log, when read, then nothing is returned and the last position is 0', () => {
      expect([...store.readAll()]).toEqual([]);
      expect(store.lastPosition()).toBe(0);
    });

    it('given an append, when it is recorded, then the event id derives from command id, stream and index', () => {
      const [a, b] = appendTest('stream-a', 'cmd-1', 2);
      expect(a!.eventId).toBe(deriveEventId('cmd-1', 'stream-a', 0));
      expect(b!.eventId).toBe(deriveEventId('cmd-1', 'stream-a', 1));
      expect(a!.eventId).not.toBe(deriveEventId('cmd-1', 'stream-b', 0));
      expect(a!.eventId).toMatch(/^evt-[0-9a-f]{32}$/);
    });

    it('given a command id with non-ASCII text, when its event id is derived, then it is the id every earlier version derived (logs already hold them)', () => {
      expect(deriveEventId('inbound:cli:msg-ü-1', 'session-s1', 2)).toBe('evt-9f0089555ecee4657483319fd9525e6a');
    });

    it('given full metadata, when the event is read back, then the metadata round-trips exactly', () => {
      const metadata: EventMetadata = {
        commandId: 'inbound:cli:msg-ü-1',
        correlationId: 'corr "quoted" \\ back',
        causationId: 'evt-parent',
        actor: 'operator:zoë',
        recordedAt: '2026-11-24T10:00:00.123Z',
      };
      const [recorded] = store.append('stream-a', 'any', testEvents('cmd-1', 1), metadata);
      expect(recorded!.metadata).toEqual(metadata);
      const [read] = [...store.readAll()];
      expect(read!.metadata).toEqual(metadata);
      expect(JSON.parse(store.db.prepare('SELECT metadata FROM events').pluck().get() as string)).toEqual(metadata);
    });
  });

  describe('expected version', () => {
    const seeded = (version: number) => {
      for (let i = 0; i < version; i++) appendTest('stream-x', `seed-${i}`);
      expect(store.streamVersion('stream-x')).toBe(version);
    };

    it.each<[string, number, ExpectedVersion]>([
      ['any on a missing stream', 0, 'any'],
      ['any on an existing stream', 2, 'any'],
      ['no-stream on a missing stream', 0, 'no-stream'],
      ['exists on an existing stream', 1, 'exists'],
      ['exact 0 on a missing stream', 0, 0],
      ['exact 1 on a stream at version 1', 1, 1],
      ['exact 3 on a stream at version 3', 3, 3],
    ])('given %s, when appending, then it passes and the stream moves on', (_name, version, expected) => {
      seeded(version);
      const recorded = appendTest('stream-x', 'cmd-new', 2, expected);
      expect(recorded.map((e) => e.streamVersion)).toEqual([version + 1, version + 2]);
      expect(store.streamVersion('stream-x')).toBe(version + 2);
    });

    it.each<[string, number, ExpectedVersion]>([
      ['no-stream on an existing stream', 2, 'no-stream'],
      ['exists on a missing stream', 0, 'exists'],
      ['exact 0 on an existing stream', 1, 0],
      ['exact 1 on a missing stream', 0, 1],
      ['exact 1 on a stream at version 2 (stale)', 2, 1],
      ['exact 3 on a stream at version 2 (ahead)', 2, 3],
    ])('given %s, when appending, then WrongExpectedVersionError reports the actual version and nothing is appended', (_name, version, expected) => {
      seeded(version);
      let error: unknown;
      try {
        appendTest('stream-x', 'cmd-new', 2, expected);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(WrongExpectedVersionError);
      const wrong = error as WrongExpectedVersionError;
      expect(wrong).toMatchObject({ name: 'WrongExpectedVersionError', stream: 'stream-x', expected, actual: version });
      expect(wrong.message).toBe(`stream stream-x: expected version ${String(expected)}, actual version ${version}`);
      expect(store.streamVersion('stream-x')).toBe(version);
      expect(store.lastPosition()).toBe(version);
    });
  });

  describe('idempotency', () => {
    it('given a command appended to a stream, when the same command id appends to that stream again, then DuplicateEventError and nothing is appended', () => {
      appendTest('stream-a', 'cmd-1', 2);
      let error: unknown;
      try {
        appendTest('stream-a', 'cmd-1', 2);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(DuplicateEventError);
      expect(error).toMatchObject({ name: 'DuplicateEventError', commandId: 'cmd-1', eventId: deriveEventId('cmd-1', 'stream-a', 0) });
      expect(positions()).toEqual([1, 2]);
      expect(store.streamVersion('stream-a')).toBe(2);
    });

    it('given a command appended to a stream, when the same command id appends with the exact current version, then it is still a duplicate', () => {
      appendTest('stream-a', 'cmd-1', 1);
      expect(() => appendTest('stream-a', 'cmd-1', 1, 1)).toThrow(DuplicateEventError);
      expect(positions()).toEqual([1]);
    });

    it('given a command appended to one stream, when the same command id appends to another stream, then that is allowed', () => {
      appendTest('stream-a', 'cmd-1', 1);
      const [other] = appendTest('stream-b', 'cmd-1', 1);
      expect(other!.eventId).toBe(deriveEventId('cmd-1', 'stream-b', 0));
      expect(positions()).toEqual([1, 2]);
    });
  });

  describe('validation', () => {
    it.each<[string, unknown]>([
      ['a missing field', { index: 0 }],
      ['a field of the wrong type', { command: 'cmd-1', index: 'zero' }],
      ['a value the schema refuses', { command: 'cmd-1', index: -1 }],
      ['no data at all', undefined],
    ])('given data with %s, when appending, then it throws and nothing is appended', (_name, data) => {
      expect(() => store.append('stream-a', 'any', [{ type: 'TestAppended', data }], testMetadata('cmd-1'))).toThrow(z.ZodError);
      expect(rawCount()).toBe(0);
      expect(store.streamVersion('stream-a')).toBe(0);
    });

    it('given a valid event followed by an invalid one, when appending them together, then neither is appended', () => {
      const events = [
        { type: 'TestAppended', data: { command: 'cmd-1', index: 0 } },
        { type: 'TestAppended', data: { command: 'cmd-1', index: 'one' } },
      ];
      expect(() => store.append('stream-a', 'any', events, testMetadata('cmd-1'))).toThrow(z.ZodError);
      expect(rawCount()).toBe(0);
    });

    it('given an unknown event type, when appending, then it throws and nothing is appended', () => {
      expect(() => store.append('stream-a', 'any', [{ type: 'NoSuchEvent', data: {} }], testMetadata('cmd-1'))).toThrow(
        'unknown event type NoSuchEvent',
      );
      expect(rawCount()).toBe(0);
    });

    it('given data with keys the schema does not know, when appending, then the parsed data is what is stored', () => {
      const [recorded] = store.append('stream-a', 'any', [{ type: 'TestAppended', data: { command: 'cmd-1', index: 0, extra: true } }], testMetadata('cmd-1'));
      expect(recorded!.data).toEqual({ command: 'cmd-1', index: 0 });
      expect(JSON.parse(store.db.prepare('SELECT data FROM events').pluck().get() as string)).toEqual({ command: 'cmd-1', index: 0 });
    });
  });

  describe("a decider's events (appendDecided)", () => {
    /** A test-only type with a default, as some of the host's have. */
    const Flagged = defineEvent({ type: 'Flagged', version: 1, schema: z.object({ name: z.string(), paused: z.boolean().default(false) }), stream: () => 'flags' });
    const decided = (data: unknown) => [{ stream: 'flags', type: Flagged.type, schemaVersion: 1, data }];
    const withFlagged = (verifyDecided: boolean) => {
      store.close();
      store = EventStore.open(join(dir, 'events.db'), new EventRegistry([Flagged]), { verifyDecided });
    };
    const stored = () => store.db.prepare('SELECT data FROM events').pluck().all().map((json) => JSON.parse(json as string) as unknown);

    it.each<[string, unknown, RegExp]>([
      ['a default left to fill', { name: 'a' }, /Flagged as its decider built it is not what its schema stores.*"paused":false/],
      ['a key the schema strips', { name: 'a', paused: false, extra: 1 }, /Flagged as its decider built it is not what its schema stores.*"extra":1/],
    ])('given the check on (the default), when a decider built an event with %s, then the append fails naming it and nothing is appended', (_name, data, message) => {
      withFlagged(true);
      expect(() => store.transaction(() => store.appendDecided('flags', decided(data), testMetadata('cmd-1')))).toThrow(message);
      expect(rawCount()).toBe(0);
    });

    it('given the check on, when a decider built an event its schema would refuse, then the append fails as any invalid append does', () => {
      withFlagged(true);
      expect(() => store.transaction(() => store.appendDecided('flags', decided({ name: 7, paused: false }), testMetadata('cmd-1')))).toThrow(z.ZodError);
      expect(rawCount()).toBe(0);
    });

    it('given the check off (the host), when a decider built its event whole, then it is stored as built and its schema is not run again', () => {
      withFlagged(false);
      const parse = jest.spyOn(Flagged.schema, 'parse');
      try {
        const [recorded] = store.transaction(() => store.appendDecided('flags', decided({ name: 'a', paused: true }), testMetadata('cmd-1')));
        expect(parse).not.toHaveBeenCalled();
        expect(recorded!.data).toEqual({ name: 'a', paused: true });
        expect(stored()).toEqual([{ name: 'a', paused: true }]);
      } finally {
        parse.mockRestore();
      }
    });
  });

  describe('readAll', () => {
    /** 10 events: positions 1..10, streams a/b alternating by command, types TestAppended and PersonNamed. */
    const seedMixed = () => {
      for (let i = 1; i <= 10; i++) {
        const stream = i % 2 ? 'stream-a' : 'stream-b';
        if (i % 3 === 0) {
          store.append(stream, 'any', [{ type: 'PersonNamed', data: { first: `p${i}`, last: 'x' } }], testMetadata(`cmd-${i}`));
        } else {
          appendTest(stream, `cmd-${i}`);
        }
      }
      expect(store.lastPosition()).toBe(10);
    };
    const read = (options: Parameters<EventStore['readAll']>[0]) => [...store.readAll(options)].map((e) => e.position);

    it('given a log, when reading with after/until/stream/type, then only the matching events come, in order, at every batch size', () => {
      seedMixed();
      for (const batchSize of [1, 2, 3, 1000]) {
        expect(read({ batchSize })).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        expect(read({ batchSize, after: 7 })).toEqual([8, 9, 10]);
        expect(read({ batchSize, until: 3 })).toEqual([1, 2, 3]);
        expect(read({ batchSize, after: 2, until: 6 })).toEqual([3, 4, 5, 6]);
        expect(read({ batchSize, after: 6, until: 6 })).toEqual([]);
        expect(read({ batchSize, after: 10 })).toEqual([]);
        expect(read({ batchSize, stream: 'stream-a' })).toEqual([1, 3, 5, 7, 9]);
        expect(read({ batchSize, stream: 'stream-b', after: 4 })).toEqual([6, 8, 10]);
        expect(read({ batchSize, type: 'PersonNamed' })).toEqual([3, 6, 9]);
        expect(read({ batchSize, type: 'TestAppended', until: 5 })).toEqual([1, 2, 4, 5]);
        expect(read({ batchSize, stream: 'stream-a', type: 'PersonNamed' })).toEqual([3, 9]);
        expect(read({ batchSize, stream: 'stream-a', type: 'PersonNamed', after: 3, until: 9 })).toEqual([9]);
      }
      expect(store.readStream('stream-b', { after: 2, until: 8, type: 'TestAppended' }).map((e) => e.position)).toEqual([4, 8]);
    });

    it('given a readAll generator not yet iterated, when events are appended, then it sees them: nothing is read before the first next()', () => {
      appendTest('stream-a', 'cmd-1');
      const reader = store.readAll({ batchSize: 2 });
      appendTest('stream-a', 'cmd-2');
      appendTest('stream-a', 'cmd-3');
      expect([...reader].map((e) => e.position)).toEqual([1, 2, 3]);
    });

    it('given a small batch size, when iterating partially, then later batches are read only when reached', () => {
      for (let i = 1; i <= 5; i++) appendTest('stream-a', `cmd-${i}`);
      const reader = store.readAll({ batchSize: 2 });
      expect([reader.next().value?.position, reader.next().value?.position, reader.next().value?.position]).toEqual([1, 2, 3]);
      // The batch [3, 4] is in hand; [5, …] is not read yet, so it will include these.
      appendTest('stream-a', 'cmd-6');
      appendTest('stream-a', 'cmd-7');
      expect([...reader].map((e) => e.position)).toEqual([4, 5, 6, 7]);
    });

    it('given a partially iterated reader, when it is abandoned early, then the store keeps working', () => {
      for (let i = 1; i <= 5; i++) appendTest('stream-a', `cmd-${i}`);
      for (const event of store.readAll({ batchSize: 2 })) {
        if (event.position === 3) break;
      }
      appendTest('stream-a', 'cmd-6');
      expect(positions()).toEqual([1, 2, 3, 4, 5, 6]);
    });
  });

  describe('transactions', () => {
    it('given an outer transaction, when a nested transaction fails, then only the inner savepoint rolls back', () => {
      store.transaction(() => {
        appendTest('stream-a', 'outer-1');
        expect(() =>
          store.transaction(() => {
            appendTest('stream-a', 'inner');
            appendTest('stream-b', 'inner');
            throw new Error('inner fails');
          }),
        ).toThrow('inner fails');
        expect(store.streamVersion('stream-b')).toBe(0);
        appendTest('stream-a', 'outer-2');
      });
      const all = [...store.readAll()];
      expect(all.map((e) => [e.position, e.stream, e.streamVersion, e.metadata.commandId])).toEqual([
        [1, 'stream-a', 1, 'outer-1'],
        [2, 'stream-a', 2, 'outer-2'],
      ]);
    });

    it('given an outer transaction, when a nested append fails validation on its second event, then only that append rolls back', () => {
      store.transaction(() => {
        appendTest('stream-a', 'outer-1');
        const events = [
          { type: 'TestAppended', data: { command: 'bad', index: 0 } },
          { type: 'TestAppended', data: { command: 'bad', index: -1 } },
        ];
        expect(() => store.append('stream-a', 'any', events, testMetadata('bad'))).toThrow(z.ZodError);
        appendTest('stream-a', 'outer-2');
      });
      expect([...store.readAll()].map((e) => [e.position, e.streamVersion, e.metadata.commandId])).toEqual([
        [1, 1, 'outer-1'],
        [2, 2, 'outer-2'],
      ]);
    });

    it('given a nested transaction that succeeded, when the outer one fails, then everything rolls back', () => {
      expect(() =>
        store.transaction(() => {
          appendTest('stream-a', 'outer');
          store.transaction(() => appendTest('stream-b', 'inner'));
          throw new Error('outer fails');
        }),
      ).toThrow('outer fails');
      expect(rawCount()).toBe(0);
      expect(store.db.inTransaction).toBe(false);
      appendTest('stream-a', 'after');
      expect(positions()).toEqual([1]);
    });

    it('given a transaction, when it returns, then its result is returned and its appends are committed', () => {
      const result = store.transaction(() => appendTest('stream-a', 'cmd-1', 3).length);
      expect(result).toBe(3);
      expect(store.db.inTransaction).toBe(false);
      expect(positions()).toEqual([1, 2, 3]);
    });
  });

  describe('writes that ride with the next transaction', () => {
    const marks = () => store.db.prepare('SELECT consumer, position FROM checkpoints ORDER BY consumer').raw().all();
    const mark = (consumer: string, position: number) => () =>
      store.db.prepare("INSERT OR REPLACE INTO checkpoints (consumer, position, updated_at) VALUES (?, ?, 'now')").run(consumer, position);

    it('given queued writes, when the next transaction commits, then they commit in it (the latest per key) and no transaction of their own is made', () => {
      const before = store.committedTransactions();
      store.writeWithNextTransaction('a', mark('a', 1));
      store.writeWithNextTransaction('a', mark('a', 2));
      store.writeWithNextTransaction('b', mark('b', 7));
      expect(marks()).toEqual([]);
      appendTest('stream-a', 'cmd-1');
      expect(marks()).toEqual([['a', 2], ['b', 7]]);
      expect(store.committedTransactions() - before).toBe(1);
      store.flushRiders();
      expect(store.committedTransactions() - before).toBe(1);
    });

    it('given a queued write, when the transaction carrying it rolls back, then it waits for the next one', () => {
      store.writeWithNextTransaction('a', mark('a', 1));
      expect(() => store.append('stream-a', 'any', [{ type: 'TestAppended', data: { index: 'bad' } }], testMetadata('cmd-1'))).toThrow(z.ZodError);
      expect(marks()).toEqual([]);
      store.flushRiders();
      expect(marks()).toEqual([['a', 1]]);
    });
  });

  describe('append-only', () => {
    it('given events, when UPDATE runs on the events table, then the trigger refuses it and nothing changes', () => {
      appendTest('stream-a', 'cmd-1', 2);
      const before = store.db.prepare('SELECT * FROM events ORDER BY position').all();
      expect(() => store.db.prepare("UPDATE events SET type = 'Tampered' WHERE position = 1").run()).toThrow(
        'events are append-only: UPDATE is refused',
      );
      expect(() => store.db.exec("UPDATE events SET data = '{}'")).toThrow('events are append-only: UPDATE is refused');
      expect(store.db.prepare('SELECT * FROM events ORDER BY position').all()).toEqual(before);
    });

    it('given events, when DELETE runs on the events table, then the trigger refuses it and nothing changes', () => {
      appendTest('stream-a', 'cmd-1', 2);
      expect(() => store.db.prepare('DELETE FROM events WHERE position = 2').run()).toThrow('events are append-only: DELETE is refused');
      expect(() => store.db.exec('DELETE FROM events')).toThrow('events are append-only: DELETE is refused');
      expect(positions()).toEqual([1, 2]);
    });
  });

  describe('upcasting', () => {
    const insertRaw = (stream: string, version: number, type: string, schemaVersion: number, data: unknown) =>
      store.db
        .prepare(
          `INSERT INTO events (event_id, stream, stream_version, type, schema_version, data, metadata)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(`evt-raw-${stream}-${version}`, stream, version, type, schemaVersion, JSON.stringify(data), JSON.stringify(testMetadata('legacy')));

    it('given a v1 row written by an older version, when read through a registry at v2, then it comes back upcast to v2', () => {
      insertRaw('person', 1, 'PersonNamed', 1, { name: 'Ada King Lovelace' });
      const [appended] = store.append('person', 1, [{ type: 'PersonNamed', data: { first: 'Grace', last: 'Hopper' } }], testMetadata('cmd-2'));
      expect(appended!.schemaVersion).toBe(2);

      const events = store.readStream('person');
      expect(events.map((e) => [e.streamVersion, e.schemaVersion, e.data])).toEqual([
        [1, 2, { first: 'Ada', last: 'King Lovelace' }],
        [2, 2, { first: 'Grace', last: 'Hopper' }],
      ]);
      expect(PersonNamed.is(events[0]!)).toBe(true);
      // Upcasting happens on read: the row itself stays as written.
      expect(store.db.prepare('SELECT schema_version, data FROM events WHERE position = 1').get()).toEqual({
        schema_version: 1,
        data: JSON.stringify({ name: 'Ada King Lovelace' }),
      });
    });

    it('given v1 and v2 rows of a v3 type, when read, then the upcasters run in order from each row’s version', () => {
      insertRaw('counter', 1, 'Counted', 1, { n: '7' });
      insertRaw('counter', 2, 'Counted', 2, { count: 8, history: ['born v2'] });
      store.append('counter', 2, [{ type: 'Counted', data: { count: 9, history: [] } }], testMetadata('cmd-3'));
      expect(store.readStream('counter').map((e) => [e.schemaVersion, e.data])).toEqual([
        [3, { count: 7, history: ['v1→v2', 'v2→v3'] }],
        [3, { count: 8, history: ['born v2', 'v2→v3'] }],
        [3, { count: 9, history: [] }],
      ]);
    });

    it('given a row of a type the registry does not know, when read, then it comes back as stored', () => {
      insertRaw('legacy', 1, 'RetiredEvent', 4, { old: true });
      expect([...store.readAll()].map((e) => [e.type, e.schemaVersion, e.data])).toEqual([['RetiredEvent', 4, { old: true }]]);
    });

    it('given a definition at v2 without an upcaster from v1, when defined, then it is refused', () => {
      expect(() =>
        defineEvent({ type: 'Broken', version: 2, schema: z.object({}), stream: () => 'broken' }),
      ).toThrow('event Broken v2 has no upcaster from v1');
    });
  });
});
