import { join } from 'node:path';
import { ReactorRunner, type Reactor } from '../../src/adapters/reactor';
import type { RecordedEvent } from '../../src/events/define';
import { EventStore } from '../../src/events/store';
import { Checkpoints } from '../../src/events/checkpoints';
import { TestAppended, testEvents, testMetadata, testRegistry } from '../fixtures/test-events';
import { useTempDir } from '../support/temp';
import { waitUntil } from '../support/wait';

/** A reactor whose handling is scripted by the test: it records what it applied. */
class ScriptedReactor implements Reactor {
  readonly name = 'scripted';
  readonly handles: ReadonlySet<string> = new Set([TestAppended.type]);
  readonly applied: string[] = [];
  readonly batches: number[] = [];
  /** Thrown by the next calls, one each, before anything is applied. */
  failures: Error[] = [];
  /** Events of these commands are given back instead of applied. */
  busy = new Set<string>();

  handleBatch(events: readonly RecordedEvent[]): RecordedEvent[] {
    this.batches.push(events.length);
    const failure = this.failures.shift();
    if (failure) throw failure;
    const deferred = events.filter((event) => this.busy.has(commandOf(event)));
    for (const event of events) if (!deferred.includes(event)) this.applied.push(`${commandOf(event)}#${(event.data as { index: number }).index}`);
    return deferred;
  }
}

const commandOf = (event: RecordedEvent) => (event.data as { command: string }).command;

const diskFull = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

describe('ReactorRunner: a failure never stops a reactor, and the checkpoint only passes what was handled', () => {
  const tempDir = useTempDir();
  let store: EventStore;
  let runner: ReactorRunner | undefined;

  beforeEach(() => {
    store = EventStore.open(join(tempDir(), 'events.db'), testRegistry);
  });

  afterEach(() => {
    runner?.stop();
    runner = undefined;
    store.close();
  });

  const append = (command: string, count: number) => store.append(`test-${command}`, 'any', testEvents(command, count), testMetadata(command));
  /** The checkpoint as the next commit leaves it: a saved checkpoint waits for a transaction to carry it. */
  const checkpoint = () => {
    store.flushRiders();
    return new Checkpoints(store.db).get('scripted');
  };

  it('a burst that fails (a full disk) is read again from the log after a backoff and handled once, without a restart', async () => {
    const reactor = new ScriptedReactor();
    reactor.failures = [diskFull(), diskFull()];
    runner = new ReactorRunner(store, reactor, { pollIntervalMs: 10, retryMs: 5 });
    runner.start();
    append('a', 3);
    await waitUntil(() => reactor.batches.length >= 1, 'the first attempt');
    // Failed: nothing is taken as handled.
    expect(checkpoint()).toBe(0);
    await runner.caughtUp();
    expect(reactor.applied).toEqual(['a#0', 'a#1', 'a#2']);
    expect(reactor.batches.length).toBe(3);
    expect(checkpoint()).toBe(store.lastPosition());

    // Still live after the failures.
    append('b', 1);
    await runner.caughtUp();
    expect(reactor.applied).toEqual(['a#0', 'a#1', 'a#2', 'b#0']);
  });

  it("events one session gives back are retried on their own; the others go on; the checkpoint stays below them", async () => {
    const reactor = new ScriptedReactor();
    reactor.busy.add('locked');
    runner = new ReactorRunner(store, reactor, { pollIntervalMs: 10, retryMs: 5, maxRetryMs: 20 });
    runner.start();
    append('before', 1);
    const [firstDeferred] = append('locked', 2);
    append('other', 2);
    await runner.caughtUp();
    expect(reactor.applied).toEqual(['before#0', 'other#0', 'other#1']);
    expect(runner.pending().map(commandOf)).toEqual(['locked', 'locked']);
    expect(checkpoint()).toBe(firstDeferred!.position - 1);

    // The lock goes: the deferred events are applied in order, and the checkpoint catches up.
    reactor.busy.clear();
    await waitUntil(() => runner!.pending().length === 0, 'the deferred events');
    expect(reactor.applied.slice(3)).toEqual(['locked#0', 'locked#1']);
    expect(checkpoint()).toBe(store.lastPosition());
  });

  it('a restart redoes what was deferred, from the saved checkpoint', async () => {
    const reactor = new ScriptedReactor();
    reactor.busy.add('locked');
    runner = new ReactorRunner(store, reactor, { pollIntervalMs: 10, retryMs: 1000 });
    runner.start();
    append('locked', 1);
    append('other', 1);
    await runner.caughtUp();
    runner.stop();

    const again = new ScriptedReactor();
    runner = new ReactorRunner(store, again, { pollIntervalMs: 10 });
    runner.start();
    await runner.caughtUp();
    expect(again.applied).toEqual(['locked#0', 'other#0']);
  });

  it('given a handled burst, when its checkpoint is saved, then it commits with the next write transaction instead of in one of its own', async () => {
    const reactor = new ScriptedReactor();
    // Longer than the test: only another transaction, or the stop, can carry the checkpoint.
    runner = new ReactorRunner(store, reactor, { pollIntervalMs: 10, checkpointLagMs: 60_000 });
    runner.start();
    const before = store.committedTransactions();
    append('a', 2);
    await runner.caughtUp();
    expect(reactor.applied).toEqual(['a#0', 'a#1']);
    expect(store.committedTransactions() - before).toBe(1);
    expect(new Checkpoints(store.db).get('scripted')).toBe(0);

    const [b] = append('b', 1);
    // The append's own transaction carried the checkpoint of the burst before it.
    expect(store.committedTransactions() - before).toBe(2);
    expect(new Checkpoints(store.db).get('scripted')).toBe(b!.position - 1);
    await runner.caughtUp();
    runner.stop();
    // The stop commits the last one: a clean restart redoes nothing.
    expect(store.committedTransactions() - before).toBe(3);
    expect(new Checkpoints(store.db).get('scripted')).toBe(b!.position);
  });

  it('given a quiet log after a burst, when the checkpoint lag passes, then the checkpoint commits on its own', async () => {
    const reactor = new ScriptedReactor();
    runner = new ReactorRunner(store, reactor, { pollIntervalMs: 10, checkpointLagMs: 5 });
    runner.start();
    const [a] = append('a', 1);
    await runner.caughtUp();
    await waitUntil(() => new Checkpoints(store.db).get('scripted') === a!.position, 'the checkpoint committed alone');
  });

  it('events of types a reactor does not handle are never read for it (filtered in SQL), and its position and checkpoint still pass them', async () => {
    const reactor = new ScriptedReactor();
    (reactor as { handles: ReadonlySet<string> }).handles = new Set(['SomethingElse']);
    for (let i = 0; i < 3; i++) append(`unrelated-${i}`, 200);
    const parsed = jest.spyOn(testRegistry, 'upcast');
    runner = new ReactorRunner(store, reactor, { pollIntervalMs: 10 });
    runner.start();
    await runner.caughtUp();
    runner.stop();
    expect(parsed).not.toHaveBeenCalled();
    expect(reactor.batches).toEqual([]);
    expect(checkpoint()).toBe(store.lastPosition());
  });
});
