import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, take, toArray } from 'rxjs';
import { EventStore, type TransactionParticipant } from '../../src/events/store';
import { testEvents, testMetadata, testRegistry } from '../fixtures/test-events';

class Refused extends Error {}

/** Records what the store asks of it; prepareCommit throws `refusals` times (a Refused when it is retryable). */
class RecordingParticipant implements TransactionParticipant {
  readonly calls: string[] = [];
  constructor(
    private readonly store: EventStore,
    private refusals = 0,
    private readonly retryable = true,
  ) {}
  begin(): void {
    this.calls.push(`begin@${this.store.lastPosition()}`);
  }
  prepareCommit(): void {
    this.calls.push(`prepare@${this.store.lastPosition()}`);
    if (this.refusals > 0) {
      this.refusals--;
      throw this.retryable ? new Refused('already there') : new Error('down');
    }
  }
  abort(): void {
    this.calls.push('abort');
  }
  retries(error: unknown, attempt: number): boolean {
    return error instanceof Refused && attempt < 3;
  }
}

describe('EventStore with a transaction participant (the PostgreSQL replica\'s hook)', () => {
  let dir: string;
  let store: EventStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'switchyard-participant-'));
    store = EventStore.open(join(dir, 'log.db'), testRegistry);
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('given a participant, when a transaction commits, then begin ran before the work and prepareCommit after it, inside the outermost transaction only', () => {
    const participant = new RecordingParticipant(store);
    store.participate(participant);
    store.transaction(() => {
      store.append('s-1', 'any', testEvents('a', 1), testMetadata('a'));
      store.append('s-1', 'any', testEvents('b', 1), testMetadata('b'));
    });
    expect(participant.calls).toEqual(['begin@0', 'prepare@2']);
    expect(store.lastPosition()).toBe(2);
  });

  it('given prepareCommit refuses twice as retryable, when the transaction runs, then the work is redone from the start and commits once', () => {
    const participant = new RecordingParticipant(store, 2);
    store.participate(participant);
    let runs = 0;
    store.transaction(() => {
      runs++;
      store.append('s-1', 'any', testEvents('a', 1), testMetadata('a'));
    });
    expect(runs).toBe(3);
    expect(participant.calls).toEqual(['begin@0', 'prepare@1', 'abort', 'begin@0', 'prepare@1', 'abort', 'begin@0', 'prepare@1']);
    expect(store.lastPosition()).toBe(1);
  });

  it('given prepareCommit keeps refusing, when the transaction runs, then it fails after three attempts and leaves nothing', () => {
    store.participate(new RecordingParticipant(store, 5));
    expect(() => store.append('s-1', 'any', testEvents('a', 1), testMetadata('a'))).toThrow(Refused);
    expect(store.lastPosition()).toBe(0);
  });

  it('given a failure the participant does not retry, when the transaction runs, then it is rolled back at once and the error thrown', () => {
    const participant = new RecordingParticipant(store, 1, false);
    store.participate(participant);
    expect(() => store.append('s-1', 'any', testEvents('a', 1), testMetadata('a'))).toThrow('down');
    expect(participant.calls).toEqual(['begin@0', 'prepare@1', 'abort']);
    expect(store.lastPosition()).toBe(0);
  });

  it('given rows of another copy of the log, when inserted in a local transaction, then they keep their positions, skip the participant, and subscribers hear of them', async () => {
    const participant = new RecordingParticipant(store);
    store.participate(participant);
    const heard = firstValueFrom(store.subscribe({ pollIntervalMs: 60_000 }).pipe(take(1), toArray()));
    const row = { position: 7, eventId: 'evt-elsewhere', stream: 's-9', streamVersion: 1, type: 'TestAppended', schemaVersion: 1, data: '{"command":"x","index":0}', metadata: JSON.stringify(testMetadata('x')) };
    store.localTransaction(() => store.insertStored(row));
    expect(participant.calls).toEqual([]);
    expect(store.storedRows(0, 10)).toEqual([row]);
    expect((await heard).map((event) => [event.position, event.eventId])).toEqual([[7, 'evt-elsewhere']]);
  });
});
