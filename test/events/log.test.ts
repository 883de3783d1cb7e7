import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, take, toArray, timeout } from 'rxjs';
import { LOG_START, SqliteEventLog } from '../../src/events/log';
import { EventStore, WrongExpectedVersionError } from '../../src/events/store';
import { testEvents, testMetadata, testRegistry } from '../fixtures/test-events';

describe('SqliteEventLog: the SQLite store behind the shared async port', () => {
  let dir: string;
  let log: SqliteEventLog;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'switchyard-log-'));
    log = new SqliteEventLog(EventStore.open(join(dir, 'events.db'), testRegistry));
  });
  afterEach(async () => {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('given appends through the port, when read a batch at a time from each checkpoint, then every event comes once, in position order, in transaction 0', async () => {
    for (let i = 0; i < 3; i++) await log.append(`stream-${i}`, 'no-stream', testEvents(`cmd-${i}`, 2), testMetadata(`cmd-${i}`));
    const first = await log.readCommitted(LOG_START, 4);
    const rest = await log.readCommitted(first[first.length - 1]!.checkpoint, 4);
    expect([...first, ...rest].map((e) => e.checkpoint)).toEqual([1, 2, 3, 4, 5, 6].map((position) => ({ transactionId: '0', position })));
    expect(await log.readCommitted(rest[rest.length - 1]!.checkpoint, 4)).toEqual([]);
    expect(await log.streamVersion('stream-1')).toBe(2);
    expect((await log.readStream('stream-1')).map((e) => e.position)).toEqual([3, 4]);
  });

  it('given a stale expected version, when appending through the port, then the promise rejects with WrongExpectedVersionError', async () => {
    await log.append('stream-a', 'any', testEvents('cmd-1', 1), testMetadata('cmd-1'));
    await expect(log.append('stream-a', 0, testEvents('cmd-2', 1), testMetadata('cmd-2'))).rejects.toBeInstanceOf(WrongExpectedVersionError);
  });

  it('given a checkpoint, when subscribing after it, then catch-up and live events arrive with their checkpoints', async () => {
    await log.append('stream-a', 'any', testEvents('cmd-1', 2), testMetadata('cmd-1'));
    const received = firstValueFrom(log.subscribe({ after: { transactionId: '0', position: 1 } }).pipe(take(2), toArray(), timeout(10_000)));
    await log.append('stream-b', 'any', testEvents('cmd-2', 1), testMetadata('cmd-2'));
    expect((await received).map((e) => e.checkpoint.position)).toEqual([2, 3]);
  });
});
