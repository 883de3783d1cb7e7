import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecordedEvent } from '../../src/events/define';
import { EventStore } from '../../src/events/store';
import { startFixture, type Fixture } from '../fixtures/child';
import { testEvents, testMetadata, testRegistry } from '../fixtures/test-events';

/** Commits the child makes before it says so; it keeps looping after that until killed. */
const SIGNAL_AFTER = 200;
/** The bound on the child's loop: far more than it can do before the kill lands. */
const MAX_COMMANDS = 1_000_000;

describe('crash atomicity (SIGKILL of a writer)', () => {
  let dir: string;
  let path: string;
  const children: Fixture[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'switchyard-crash-'));
    path = join(dir, 'events.db');
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map((child) => child.kill()));
    rmSync(dir, { recursive: true, force: true });
  });

  const start = (args: string[]) => {
    const child = startFixture('append-loop', args);
    children.push(child);
    return child;
  };

  /**
   * Reopens the file and checks the log is whole: every command has all 5 of its events or
   * none, positions run 1..max, each stream's versions run 1..n in position order. Returns
   * the numbers of the commands of `runId` found, in order.
   */
  function verifyLog(runId: string): { commands: number[]; lastPosition: number } {
    const store = EventStore.open(path, testRegistry);
    try {
      expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
      const events = [...store.readAll({ batchSize: 500 })];
      const lastPosition = store.lastPosition();
      expect(events.map((event) => event.position)).toEqual(Array.from({ length: lastPosition }, (_, i) => i + 1));

      const byCommand = new Map<string, RecordedEvent[]>();
      const byStream = new Map<string, number[]>();
      for (const event of events) {
        if (!byCommand.has(event.metadata.commandId)) byCommand.set(event.metadata.commandId, []);
        byCommand.get(event.metadata.commandId)!.push(event);
        if (!byStream.has(event.stream)) byStream.set(event.stream, []);
        byStream.get(event.stream)!.push(event.streamVersion);
      }
      const partial = [...byCommand].filter(([, commandEvents]) => commandEvents.length !== 5).map(([id, e]) => `${id}: ${e.length}`);
      expect(partial).toEqual([]);
      for (const [commandId, commandEvents] of byCommand) {
        expect(commandEvents.map((event) => (event.data as { index: number }).index)).toEqual([0, 1, 2, 3, 4]);
        expect(commandEvents.every((event) => (event.data as { command: string }).command === commandId)).toBe(true);
      }
      for (const [stream, versions] of byStream) {
        expect({ stream, versions }).toEqual({ stream, versions: Array.from({ length: versions.length }, (_, i) => i + 1) });
      }

      const prefix = `${runId}-`;
      const commands = [...byCommand.keys()].filter((id) => id.startsWith(prefix)).map((id) => Number(id.slice(prefix.length)));
      // The loop commits command 1, 2, 3 … in order: what survived is a prefix of that.
      expect(commands).toEqual(Array.from({ length: commands.length }, (_, i) => i + 1));
      return { commands, lastPosition };
    } finally {
      store.close();
    }
  }

  /** Appends one more 5-event command from this process and checks it lands right after the log. */
  function appendAfterCrash(commandId: string, lastPosition: number): void {
    const store = EventStore.open(path, testRegistry);
    try {
      const recorded = store.transaction(() => [
        ...store.append('loop-a-0', 'any', testEvents(commandId, 3), testMetadata(commandId)),
        ...store.append('after-crash', 'any', testEvents(commandId, 2, 3), testMetadata(commandId)),
      ]);
      expect(recorded.map((event) => event.position)).toEqual([1, 2, 3, 4, 5].map((i) => lastPosition + i));
    } finally {
      store.close();
    }
  }

  it('given a child appending 5-event commands in a tight loop, when it is SIGKILLed mid-loop, three times on the same file, then every command is whole or absent, positions and stream versions have no gap, and appends continue', async () => {
    let previousLast = 0;
    for (let run = 1; run <= 3; run++) {
      const runId = `run${run}`;
      const child = start([path, runId, String(SIGNAL_AFTER), String(MAX_COMMANDS)]);
      await child.line(new RegExp(`^committed ${SIGNAL_AFTER}$`));
      child.process.kill('SIGKILL');
      expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
      expect(child.stdout()).not.toMatch(/finished/);

      const { commands, lastPosition } = verifyLog(runId);
      expect(commands.length).toBeGreaterThanOrEqual(SIGNAL_AFTER);
      // Everything before this run is still there, and this run's commands follow it.
      expect(lastPosition).toBe(previousLast + 5 * commands.length);

      appendAfterCrash(`after-${runId}`, lastPosition);
      previousLast = lastPosition + 5;
    }
    const final = verifyLog('none');
    expect(final.lastPosition).toBe(previousLast);
  });

  it('given a child killed while a command’s transaction is open with 3 of its 5 events inserted, when the file is reopened, then that command is entirely absent and the log goes on', async () => {
    const child = start([path, 'held', '50', String(MAX_COMMANDS), 'hold']);
    await child.line(/^holding 51$/);
    child.process.kill('SIGKILL');
    expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });

    const { commands, lastPosition } = verifyLog('held');
    expect(commands).toHaveLength(50);
    expect(lastPosition).toBe(250);
    appendAfterCrash('after-held', lastPosition);
    expect(verifyLog('held').lastPosition).toBe(255);
  });
});
