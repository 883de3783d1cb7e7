import { join } from 'node:path';
import { ReactorRunner } from '../../src/adapters/reactor';
import { Checkpoints } from '../../src/events/checkpoints';
import { EventStore } from '../../src/events/store';
import { startFixture } from '../fixtures/child';
import { EffectReactor } from '../fixtures/effect-reactor';
import { testRegistry } from '../fixtures/test-events';
import { useTempDir } from '../support/temp';

describe('ReactorRunner: a crash between a reactor’s work and its checkpoint', () => {
  const tempDir = useTempDir();

  it('given side effects committed and the checkpoint still waiting for a transaction, when the process is SIGKILLed, then a restart redoes those events and the side effects stay one per event', async () => {
    const path = join(tempDir(), 'events.db');
    const effectsPath = join(tempDir(), 'effects.db');
    const child = startFixture('reactor-crash', [path, effectsPath, '5']);
    try {
      await child.line(/^handled \d+$/);
    } finally {
      await child.kill();
    }

    const store = EventStore.open(path, testRegistry);
    const reactor = new EffectReactor(effectsPath);
    try {
      // The work is durable, its checkpoint is not: it died waiting for a transaction to carry it.
      expect(reactor.counts()).toEqual({ effects: 5, attempts: 5 });
      expect(new Checkpoints(store.db).get('effects')).toBe(0);

      const runner = new ReactorRunner(store, reactor);
      runner.start();
      await runner.caughtUp();
      runner.stop();
      // Redone once, changing nothing; the stop committed the checkpoint, so the next restart redoes none.
      expect(reactor.counts()).toEqual({ effects: 5, attempts: 10 });
      expect(new Checkpoints(store.db).get('effects')).toBe(store.lastPosition());
    } finally {
      reactor.close();
      store.close();
    }
  });
});
