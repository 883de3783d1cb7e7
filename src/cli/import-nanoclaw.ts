import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Command } from 'commander';
import {
  applyNanoclaw,
  copyGroupFolders,
  NANOCLAW_TABLES,
  NanoclawImportError,
  readNanoclaw,
  type NanoclawSource,
  type RowReport,
} from '../adapters/nanoclaw-import';
import { importPendingCards, type PendingCardsReport } from '../adapters/nanoclaw-pending';
import { adoptSessionFolders, type SessionFoldersReport } from '../adapters/nanoclaw-sessions';
import { centralDatabasePath, openCore, openDataDir, type Core } from '../core';
import { CliError, configFor } from './context';
import { bad, dim, formatTable, ok } from './format';

/** Below this many rows an import is quick enough to need no progress lines. */
const PROGRESS_FROM_ROWS = 1000;
const PROGRESS_EVERY_ROWS = 500;

const OUTCOME_LABEL: Record<RowReport['outcome'], string> = { imported: 'import', updated: 'update', unchanged: 'same', refused: 'REFUSED' };

/**
 * A throwaway copy of the data directory's central database (or a fresh one), for a dry
 * run: the plan runs through the real bus there, and the data directory is never touched.
 */
function openScratch(dataDir: string): { core: Core; dispose: () => void } {
  const scratch = mkdtempSync(join(tmpdir(), 'switchyard-import-dry-run-'));
  const dispose = () => rmSync(scratch, { recursive: true, force: true });
  try {
    const copy = join(scratch, 'switchyard.db');
    const live = centralDatabasePath(dataDir);
    if (existsSync(live)) {
      const db = new Database(live, { readonly: true, fileMustExist: true });
      try {
        db.prepare('VACUUM INTO ?').run(copy);
      } finally {
        db.close();
      }
    }
    return { core: openCore(copy), dispose };
  } catch (error) {
    dispose();
    throw error;
  }
}

const progressReporter = (total: number) => (done: number) => {
  if (total >= PROGRESS_FROM_ROWS && (done % PROGRESS_EVERY_ROWS === 0 || done === total)) process.stderr.write(`import-nanoclaw: ${done}/${total} rows\n`);
};

function summarize(rows: readonly RowReport[]) {
  return NANOCLAW_TABLES.map((table) => {
    const of = rows.filter((r) => r.table === table);
    const count = (outcome: RowReport['outcome']) => of.filter((r) => r.outcome === outcome).length;
    return { table, imported: count('imported'), updated: count('updated'), unchanged: count('unchanged'), refused: count('refused') };
  });
}

/**
 * Recreates a NanoClaw v2 install (seed to v2.0.64) from its central database, through
 * the command bus, in one transaction: agent groups, chats, destinations, wirings,
 * sessions, then the group folders. A re-run applies only what changed in the source.
 */
export function registerImportNanoclaw(program: Command): void {
  program
    .command('import-nanoclaw')
    .description('recreate the agent groups, chats, destinations, wirings, sessions and group folders of a NanoClaw v2 install (seed to v2.0.64); re-runs apply only the differences')
    .argument('<path>', 'the NanoClaw data directory, or its central database file')
    .option('--dry-run', 'print the plan (every row: imported, updated, unchanged or refused, with notes) and write nothing')
    .option('--skip-refused', 'apply the rows that can be imported even if some are refused (default: a refused row refuses the whole import)')
    .option('--json', 'print the report as JSON')
    .action((path: string, options: { json?: boolean; dryRun?: boolean; skipRefused?: boolean }, command: Command) => {
      let source: NanoclawSource;
      try {
        source = readNanoclaw(path);
      } catch (error) {
        if (error instanceof NanoclawImportError) throw new CliError(`cannot import: ${error.message}`);
        throw error;
      }
      const config = configFor(command);
      const dryRun = options.dryRun ?? false;
      const { core, dispose } = dryRun ? openScratch(config.dataDir) : { core: openDataDir(config.dataDir, { synchronous: config.synchronous }), dispose: () => {} };
      let result: ReturnType<typeof applyNanoclaw>;
      let sessionFolders: SessionFoldersReport | undefined;
      let pendingCards: PendingCardsReport[] = [];
      try {
        result = applyNanoclaw(core, source, {
          keep: (rows) => !dryRun && (options.skipRefused === true || rows.every((r) => r.outcome !== 'refused')),
          onProgress: progressReporter(source.rows.length),
        });
        // The sessions' folders and the open cards need the topology in the log: only after a kept import.
        if (result.applied) {
          sessionFolders = adoptSessionFolders(core, config.dataDir, source.file);
          pendingCards = importPendingCards(core, config.dataDir, source.file);
        }
      } finally {
        core.close();
        dispose();
      }
      const folders = result.applied || dryRun ? copyGroupFolders(source, config.dataDir, result.rows, { dryRun }) : [];
      const refused = result.rows.filter((r) => r.outcome === 'refused');
      const sessionsRefused = [...(sessionFolders ? [sessionFolders] : []), ...pendingCards].some((t) => t.refused.length > 0);
      const tables = summarize(result.rows);
      if (options.json) {
        console.log(JSON.stringify({ source: source.file, dataDir: config.dataDir, version: source.version, dryRun, applied: result.applied, tables, rows: result.rows, folders, sessionFolders, pendingCards }, null, 2));
      } else {
        console.log(`${dryRun ? 'Plan to import' : 'Imported'} ${source.file} (NanoClaw schema ${source.version.label === 'seed' ? 'seed (schema_version 1–4)' : source.version.label === 'v2.0.64' ? 'v2.0.64 (schema_version 1–13)' : source.version.label}) into ${config.dataDir}`);
        console.log(formatTable(['TABLE', 'IMPORTED', 'UPDATED', 'UNCHANGED', 'REFUSED'], tables.map((t) => [t.table, t.imported, t.updated, dim(String(t.unchanged)), t.refused ? bad(String(t.refused)) : '0'])));
        // A dry run lists every row; an import lists those a person should read: refused, or mapped with a note.
        for (const r of result.rows) {
          if (!dryRun && r.outcome !== 'refused' && r.notes.length === 0) continue;
          const label = r.outcome === 'refused' ? 'REFUSED' : r.notes.length > 0 ? 'mapped' : OUTCOME_LABEL[r.outcome];
          const line = `  ${label.padEnd(7)} ${r.table.padEnd(22)} ${r.key}${r.reason ? `: ${r.reason}` : ''}${r.notes.length ? ` (${OUTCOME_LABEL[r.outcome]}) — ${r.notes.join('; ')}` : ''}`;
          console.log(r.outcome === 'refused' ? bad(line) : line);
        }
        for (const f of folders) {
          console.log(`  folder  groups/${f.folder}: ${f.copied} copied, ${f.unchanged} unchanged${f.kept.length ? `, kept Switchyard's ${f.kept.join(', ')}` : ''}${f.skipped.length ? `, skipped ${f.skipped.join('; ')}` : ''}`);
        }
        if (sessionFolders) printSessionFolders(sessionFolders);
        for (const t of pendingCards) {
          console.log(`${t.table}: ${t.imported} imported, ${t.alreadyImported} already imported, ${t.refused.length} refused`);
          for (const r of t.refused) console.log(bad(`  ${t.table} ${r.key}: ${r.reason}`));
        }
        if (dryRun) console.log(ok('dry run: nothing was written (session folders and open cards are adopted by the real import)'));
        else if (!result.applied) console.log(bad(`nothing was imported: ${refused.length} row(s) refused (fix them in NanoClaw, or pass --skip-refused to import the rest)`));
        else if (refused.length === 0) console.log(ok('every row is in the log'));
      }
      if ((refused.length > 0 && !(result.applied && options.skipRefused)) || sessionsRefused) process.exitCode = 1;
    });
}

function printSessionFolders(report: SessionFoldersReport): void {
  const { rows } = report;
  console.log(
    `session folders: ${report.adopted} adopted, ${report.alreadyAdopted} already adopted, ${report.refused.length} refused ` +
      `(${rows.pendingInbound} pending inbound, ${rows.inFlight} in flight to retry, ${rows.undelivered} undelivered to deliver, ${rows.alreadyDelivered} already delivered, ${rows.files} files)`,
  );
  for (const r of report.refused) console.log(bad(`  session folder ${r.key}: ${r.reason}`));
  for (const n of report.notes) console.log(dim(`  session folder ${n.key}: ${n.note}`));
  for (const s of report.skipped) console.log(dim(`  session folder ${s.key}: ${s.path} left behind: ${s.reason}`));
}
