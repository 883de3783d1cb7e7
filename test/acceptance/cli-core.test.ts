import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AddDestination } from '../../src/commands/destinations';
import { centralDatabasePath, openDataDir } from '../../src/core';
import { runCli, startCli } from '../support/cli';
import { seedSevenEvents } from '../support/seed-log';
import { useTempDir } from '../support/temp';

describe('switchyard CLI (built): events and replay --verify', () => {
  const tempDir = useTempDir();
  const dataDir = () => join(tempDir(), 'data');

  /** Seven events through the bus (see seedSevenEvents). */
  const seed = () => seedSevenEvents(dataDir());

  it('replay --verify says equal on a log made through the bus', () => {
    seed();
    const result = runCli(['--data-dir', dataDir(), 'replay', '--verify']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/destinations\s+equal/);
    expect(result.stdout).toContain('7 events replayed');
  });

  it('replay --verify names the table that differs after a projection row is tampered with, and exits 1', () => {
    seed();
    const db = new Database(centralDatabasePath(dataDir()));
    db.prepare("UPDATE destinations SET target_id = 'mg-evil' WHERE local_name = 'family'").run();
    db.close();
    const human = runCli(['--data-dir', dataDir(), 'replay', '--verify']);
    expect(human.status).toBe(1);
    expect(human.stdout).toMatch(/destinations\s+DIFFERS\s+1\s+1/);
    const json = runCli(['--db', centralDatabasePath(dataDir()), 'replay', '--verify', '--json']);
    expect(json.status).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ equal: false, events: 7 });
    expect(JSON.parse(json.stdout).tables.filter((t: { equal: boolean }) => !t.equal)).toEqual([{ table: 'destinations', equal: false, onlyLive: 1, onlyRebuilt: 1 }]);
  });

  it('events lists the log for people and as JSON Lines, filtered by stream, type, from and limit', () => {
    seed();
    const table = runCli(['--data-dir', dataDir(), 'events']);
    expect(table.status).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^POSITION\s+RECORDED AT\s+STREAM\s+TYPE\s+ACTOR\s+DATA$/);
    expect(table.stdout).toMatch(/4\s+\S+Z\s+agent-group-ag-1\s+DestinationAdded\s+operator:alice/);

    const lines = (args: string[]) =>
      runCli(['--data-dir', dataDir(), 'events', '--jsonl', ...args]).stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line));
    expect(lines([]).map((e) => e.position)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(lines(['--stream', 'agent-group-ag-2']).map((e) => e.position)).toEqual([2, 7]);
    expect(lines(['--type', 'DestinationRemoved'])).toMatchObject([{ position: 6, data: { localName: 'research' }, metadata: { commandId: 'c-3' } }]);
    expect(lines(['--from', '5', '--limit', '2']).map((e) => e.position)).toEqual([5, 6]);
  });

  it('events --follow prints the log, then events as they commit', async () => {
    seed();
    const follow = startCli(['--data-dir', dataDir(), 'events', '--follow', '--jsonl', '--from', '7', '--limit', '3']);
    await follow.lines(1);
    const core = openDataDir(dataDir());
    core.bus.dispatch(AddDestination.envelope('c-5', { agentGroupId: 'ag-2', localName: 'a', targetType: 'agent', targetId: 'ag-1' }));
    core.bus.dispatch(AddDestination.envelope('c-6', { agentGroupId: 'ag-2', localName: 'b', targetType: 'channel', targetId: 'mg-1' }));
    core.close();
    const result = await follow.done;
    expect(result.status).toBe(0);
    expect(result.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line).metadata.commandId)).toEqual(['c-4', 'c-5', 'c-6']);
  });

  it('bad flags exit 2 with the reason and usage; --help exits 0', () => {
    const bad = runCli(['events', '--limit', 'lots']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain(`option '--limit <n>' argument 'lots' is invalid. expected a whole number ≥ 1`);
    expect(bad.stderr).toContain('Usage: switchyard events');
    expect(runCli(['events', '--nope']).status).toBe(2);
    expect(runCli(['replay']).status).toBe(2);
    expect(runCli(['frobnicate']).status).toBe(2);
    for (const args of [['--help'], ['events', '--help'], ['replay', '--help']]) {
      const help = runCli(args);
      expect(help.status).toBe(0);
      expect(help.stdout).toContain('Usage: switchyard');
    }
  });

  it('--version prints the package version and exits 0', () => {
    const { version } = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(runCli(['--version'])).toMatchObject({ status: 0, stdout: `${version}\n` });
  });

  it('a read command on a missing database says where it looked, and exits 1', () => {
    const result = runCli(['--data-dir', join(tempDir(), 'nowhere'), 'events']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`no Switchyard database at ${join(tempDir(), 'nowhere', 'switchyard.db')}`);
  });

  it('the demo (what `npm start` runs) answers, drops the message to an unknown name, explains @to: and points at commands a newcomer can run', () => {
    const result = runCli(['--data-dir', dataDir(), 'demo', '--no-interactive'], { SWITCHYARD_RUNTIME: 'process' });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('andy> echo: hello Andy, are you there?');
    expect(result.stdout).toMatch(/@to:<name> makes the echo agent write to <name>/);
    expect(result.stdout).toMatch(/dropped\s+unknown-destination/);
    expect(result.stdout).toContain(`of this run (npx switchyard --data-dir ${dataDir()} audit)`);
    expect(result.stdout).toContain(`Next: npx switchyard --data-dir ${dataDir()} explain`);
  });

  it('rejects an invalid configuration value naming the setting and its environment variable', () => {
    const result = runCli(['--data-dir', dataDir(), 'demo'], { SWITCHYARD_SYNCHRONOUS: 'OFF' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/synchronous \(SWITCHYARD_SYNCHRONOUS\): .*"FULL"\|"NORMAL"/);
  });
});
