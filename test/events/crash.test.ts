import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCore } from '../../src/core';
import type { RecordedEvent } from '../../src/events/define';
import { EventStore } from '../../src/events/store';
import { startFixture, type Fixture } from '../fixtures/child';
import { EVENTS_PER_COMMAND, inboundCommand } from '../fixtures/inbound-commands';
import { testEvents, testMetadata, testRegistry } from '../fixtures/test-events';

/** Commits the child makes before it says so; it keeps looping after that until killed. */
const SIGNAL_AFTER = 200;
/** The bound on the child's loop: far more than it can do before the kill lands. */
const MAX_COMMANDS = 1_000_000;

/** A temp dir per test for the database file `name`, and fixtures started on it, SIGKILLed after the test. */
function useCrashFixtures(name: string) {
  let dir: string | undefined;
  const children: Fixture[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'switchyard-crash-'));
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map((child) => child.kill()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    path: () => join(dir!, name),
    start(fixture: string, args: string[]): Fixture {
      const child = startFixture(fixture, args);
      children.push(child);
      return child;
    },
  };
}

describe('crash atomicity (SIGKILL of a writer)', () => {
  const fixtures = useCrashFixtures('events.db');
  const start = (args: string[]) => fixtures.start('append-loop', args);

  /**
   * Reopens the file and checks the log is whole: every command has all 5 of its events or
   * none, positions run 1..max, each stream's versions run 1..n in position order. Returns
   * the numbers of the commands of `runId` found, in order.
   */
  function verifyLog(runId: string): { commands: number[]; lastPosition: number } {
    const store = EventStore.open(fixtures.path(), testRegistry);
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
    const store = EventStore.open(fixtures.path(), testRegistry);
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
      const child = start([fixtures.path(), runId, String(SIGNAL_AFTER), String(MAX_COMMANDS)]);
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
    const child = start([fixtures.path(), 'held', '50', String(MAX_COMMANDS), 'hold']);
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

describe('crash atomicity of a bus dispatch (SIGKILL of a host writing through the bus)', () => {
  const fixtures = useCrashFixtures('switchyard.db');
  const start = (args: string[]) => fixtures.start('dispatch-loop', args);

  const kill = async (child: Fixture) => {
    child.process.kill('SIGKILL');
    expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
  };

  /**
   * Reopens the file and checks every command of the run is whole or absent: its commands
   * row, its events, and its rows in the projections (messaging_groups, audit) are all
   * there or none is, and the projections equal a rebuild from the log. Returns how many
   * commands of the run survived (they form a prefix 1..n).
   */
  function verifyBus(runId: string): number {
    const core = openCore(fixtures.path());
    try {
      const db = core.store.db;
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const commandNumber = new RegExp(`^chat-${runId}-(\\d+)$`);
      const numbers = (platformIds: string[]) => platformIds.map((id) => Number(commandNumber.exec(id)?.[1])).filter((n) => !Number.isNaN(n)).sort((a, b) => a - b);
      const platformOf = (commandId: string) => commandId.split(':')[2]!;

      const commandRows = numbers((db.prepare("SELECT command_id FROM commands WHERE type = 'ReceiveInbound'").pluck().all() as string[]).map(platformOf));
      const eventsByCommand = new Map<string, number>();
      for (const event of core.store.readAll()) eventsByCommand.set(event.metadata.commandId, (eventsByCommand.get(event.metadata.commandId) ?? 0) + 1);
      const withEvents = numbers([...eventsByCommand.keys()].filter((id) => id.startsWith('inbound:')).map(platformOf));
      const chats = numbers(db.prepare('SELECT platform_id FROM messaging_groups').pluck().all() as string[]);
      const audited = numbers((db.prepare("SELECT audit_id FROM audit WHERE direction = 'inbound'").pluck().all() as string[]).map(platformOf));

      const survived = Array.from({ length: commandRows.length }, (_, i) => i + 1);
      expect({ commandRows, withEvents, chats, audited }).toEqual({ commandRows: survived, withEvents: survived, chats: survived, audited: survived });
      for (const n of survived) expect(eventsByCommand.get(inboundCommand(runId, n).commandId)).toBe(EVENTS_PER_COMMAND);

      const snapshot = () => core.projections.tables().map((table) => db.prepare(`SELECT * FROM ${table}`).all().map((row) => JSON.stringify(row)).sort());
      const live = snapshot();
      core.projections.rebuild(core.store.readAll());
      expect(snapshot()).toEqual(live);
      return survived.length;
    } finally {
      core.close();
    }
  }

  /** After the restart: the first lost command appends exactly once, however often it is sent; a committed one is a duplicate. */
  function redispatchAfterCrash(runId: string, survived: number): void {
    const core = openCore(fixtures.path());
    try {
      const before = core.store.lastPosition();
      const lost = inboundCommand(runId, survived + 1);
      const first = core.bus.dispatch(lost);
      expect(first).toMatchObject({ status: 'accepted', duplicate: false });
      expect(core.bus.dispatch(lost)).toEqual({ ...first, duplicate: true });
      expect(core.bus.dispatch(inboundCommand(runId, survived))).toMatchObject({ status: 'accepted', duplicate: true });
      expect(core.store.lastPosition()).toBe(before + EVENTS_PER_COMMAND);
    } finally {
      core.close();
    }
    expect(verifyBus(runId)).toBe(survived + 1);
  }

  it('given a child dispatching inbound commands in a tight loop, when it is SIGKILLed mid-loop, then each command has its commands row, events and projection rows, or none, and a re-dispatch appends once', async () => {
    const child = start([fixtures.path(), 'loop', '100', String(MAX_COMMANDS)]);
    await child.line(/^committed 100$/);
    await kill(child);
    const survived = verifyBus('loop');
    expect(survived).toBeGreaterThanOrEqual(100);
    redispatchAfterCrash('loop', survived);
  });

  it.each([
    ['its first event is appended and projected', 1],
    ['all its events are appended and projected, before its commands row and the commit', EVENTS_PER_COMMAND],
  ])('given a child killed inside a dispatch once %s, when the file is reopened, then that command left no trace at all, and re-dispatching it after the restart appends it exactly once', async (_when, holdAfter) => {
    const child = start([fixtures.path(), 'held', '20', String(MAX_COMMANDS), 'hold', String(holdAfter)]);
    await child.line(/^holding 21$/);
    await kill(child);
    expect(verifyBus('held')).toBe(20);
    redispatchAfterCrash('held', 20);
  });
});
