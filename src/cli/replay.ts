import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type Database from 'better-sqlite3';
import { migrate } from '../db/migrate';
import { openDatabase } from '../db/sqlite';
import type { EventStore } from '../events/store';
import { projections } from '../projections';
import { compareTables, ProjectionRunner } from '../projections/runner';
import { CliError, moment, openExisting, positionOf, type Moment } from './context';
import { bad, formatTable, ok } from './format';
import { withProgress } from './progress';

interface ReplayOptions {
  verify?: boolean;
  until?: Moment;
  out?: string;
  json?: boolean;
}

/** A fresh, migrated database file whose projections are re-derived from `events`. */
function rebuildInto(path: string, events: ReturnType<EventStore['readAll']>, prepare: (db: Database.Database) => void = () => {}): number {
  const db = openDatabase(path, { synchronous: 'NORMAL' });
  try {
    migrate(db);
    prepare(db);
    return new ProjectionRunner(db, projections).rebuild(events);
  } finally {
    db.close();
  }
}

function verify(command: Command, options: ReplayOptions): void {
  const core = openExisting(command);
  const scratch = mkdtempSync(join(tmpdir(), 'switchyard-replay-'));
  try {
    const rebuiltPath = join(scratch, 'rebuilt.db');
    const events = rebuildInto(rebuiltPath, withProgress('replaying events', core.store.lastPosition(), core.store.readAll()));
    const tables = compareTables(core.store.db, rebuiltPath, core.projections.tables());
    const equal = tables.every((table) => table.equal);
    if (options.json) {
      console.log(JSON.stringify({ equal, events, tables }, null, 2));
    } else {
      console.log(
        formatTable(
          ['TABLE', 'RESULT', 'ONLY IN LIVE', 'ONLY IN REBUILD'],
          tables.map((t) => [t.table, t.equal ? ok('equal') : bad('DIFFERS'), t.onlyLive, t.onlyRebuilt]),
        ),
      );
      console.log(`${events} events replayed: ${equal ? ok('every projection equals its rebuild') : bad('projections differ from the log')}`);
    }
    if (!equal) process.exitCode = 1;
  } finally {
    core.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * The host's database as it stood at a past position: the log up to it, and every
 * projection re-derived from that log, in a file every read command takes with --db.
 */
function replayUntil(command: Command, at: Moment, out: string | undefined, json: boolean | undefined): void {
  const core = openExisting(command);
  try {
    const until = positionOf(core, at);
    // A name of its own each run: a second replay of the same moment must not trip over the first.
    const path = resolve(out ?? join(mkdtempSync(join(tmpdir(), 'switchyard-replay-')), `as-of-${until}.db`));
    if (existsSync(path)) throw new CliError(`${path} exists: replay writes a new file (remove it or pass another --out)`);
    const events = rebuildInto(path, withProgress('replaying events', until, core.store.readAll({ until })), (db) => {
      db.prepare('ATTACH DATABASE ? AS live').run(core.store.db.name);
      db.prepare('INSERT INTO events SELECT * FROM live.events WHERE position <= ?').run(until);
      db.exec('DETACH DATABASE live');
    });
    if (json) console.log(JSON.stringify({ path, until, events }));
    else console.log(`${events} events up to #${until} replayed into ${path}\nread it with: switchyard --db ${path} <audit|explain|acl|events|sessions …>`);
  } finally {
    core.close();
  }
}

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('rebuild the projections from the event log: to verify them, or as of a past position')
    .option('--verify', 'rebuild into a fresh database and report, table by table, whether it equals the live one (exit 1 if not)')
    .option('--until <position|time>', 'write the log up to this log position or ISO-8601 time, with its projections, into a new database file', moment)
    .option('--out <file>', 'with --until: the file to write (default: a new file in the temp directory)')
    .option('--json', 'print the report as JSON')
    .action((options: ReplayOptions, command: Command) => {
      if (options.verify && options.until !== undefined) throw new CliError('choose one: --verify or --until <position>', 2);
      if (options.verify) return verify(command, options);
      if (options.until !== undefined) return replayUntil(command, options.until, options.out, options.json);
      throw new CliError('nothing to do: pass --verify, or --until <position>', 2);
    });
}
