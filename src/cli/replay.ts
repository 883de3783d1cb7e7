import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { migrate } from '../db/migrate';
import { openDatabase } from '../db/sqlite';
import { projections } from '../projections';
import { compareTables, ProjectionRunner } from '../projections/runner';
import { CliError, openExisting } from './context';
import { bad, formatTable, ok } from './format';

interface ReplayOptions {
  verify?: boolean;
  json?: boolean;
}

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('rebuild the projections from the event log')
    .option('--verify', 'rebuild into a fresh database and report, table by table, whether it equals the live one (exit 1 if not)')
    .option('--json', 'print the report as JSON')
    .action((options: ReplayOptions, command: Command) => {
      if (!options.verify) throw new CliError('nothing to do: pass --verify', 2);
      const core = openExisting(command);
      const scratch = mkdtempSync(join(tmpdir(), 'switchyard-replay-'));
      try {
        const rebuiltPath = join(scratch, 'rebuilt.db');
        const rebuilt = openDatabase(rebuiltPath, { synchronous: 'NORMAL' });
        let events: number;
        try {
          migrate(rebuilt);
          events = new ProjectionRunner(rebuilt, projections).rebuild(core.store.readAll());
        } finally {
          rebuilt.close();
        }
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
    });
}
