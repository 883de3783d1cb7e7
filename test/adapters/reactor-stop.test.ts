import { join } from 'node:path';
import { ReactorRunner, type Reactor } from '../../src/adapters/reactor';
import type { RecordedEvent } from '../../src/events/define';
import { EventStore } from '../../src/events/store';
import { testEvents, testMetadata, testRegistry } from '../fixtures/test-events';
import { useTempDir } from '../support/temp';

describe('ReactorRunner.stop', () => {
  const tempDir = useTempDir();

  it('given the last flush at stop appends an event (as the containers reactor does), when the store is closed right after stop, then no flush runs on the closed store, and a restart handles that event from the checkpoint', async () => {
    const path = join(tempDir(), 'events.db');
    let store = EventStore.open(path, testRegistry);
    const handled: string[] = [];
    // Answers each `ask` with one `answer` event: a side effect that commits, as a wake does.
    const reactor: Reactor = {
      name: 'answerer',
      handles: new Set(['TestAppended']),
      handleBatch(events: readonly RecordedEvent[]) {
        for (const event of events) {
          const { command } = event.data as { command: string };
          handled.push(command);
          if (command === 'ask') store.append('test-answer', 'any', testEvents('answer', 1), testMetadata('answer'));
        }
      },
    };
    const runner = new ReactorRunner(store, reactor);
    runner.start();
    store.append('test-ask', 'any', testEvents('ask', 1), testMetadata('ask'));
    runner.stop();
    store.close();

    const uncaught: unknown[] = [];
    const record = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', record);
    try {
      // Any flush scheduled before the stop runs now.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('uncaughtException', record);
    }
    expect(uncaught).toEqual([]);
    expect(handled).toEqual(['ask']);

    store = EventStore.open(path, testRegistry);
    const restarted = new ReactorRunner(store, reactor);
    restarted.start();
    await restarted.caughtUp();
    restarted.stop();
    store.close();
    expect(handled).toEqual(['ask', 'answer']);
  });
});
