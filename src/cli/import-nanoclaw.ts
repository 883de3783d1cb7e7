import type { Command } from 'commander';
import { readNanoclaw, NanoclawImportError, type NanoclawTable } from '../adapters/nanoclaw-import';
import { importPendingCards, type PendingCardsReport } from '../adapters/nanoclaw-pending';
import { adoptSessionFolders, type SessionFoldersReport } from '../adapters/nanoclaw-sessions';
import { openDataDir } from '../core';
import { CliError, configFor } from './context';
import { bad, dim, formatTable, ok } from './format';

interface TableReport {
  table: NanoclawTable;
  imported: number;
  alreadyImported: number;
  refused: Array<{ key: string; reason: string }>;
}

/**
 * Recreates a NanoClaw v2 install's state from its central database, through the command
 * bus: agent groups, chats, destinations, wirings, sessions. Deterministic command ids
 * make a second run append nothing.
 */
export function registerImportNanoclaw(program: Command): void {
  program
    .command('import-nanoclaw')
    .description('recreate the agent groups, chats, destinations, wirings and sessions of a NanoClaw v2 data directory (idempotent)')
    .argument('<path>', 'the NanoClaw data directory, or its central database file')
    .option('--json', 'print the report as JSON')
    .action((path: string, options: { json?: boolean }, command: Command) => {
      let read: ReturnType<typeof readNanoclaw>;
      try {
        read = readNanoclaw(path);
      } catch (error) {
        if (error instanceof NanoclawImportError) throw new CliError(`cannot import: ${error.message}`);
        throw error;
      }
      const config = configFor(command);
      const core = openDataDir(config.dataDir, { synchronous: config.synchronous });
      const reports = new Map<NanoclawTable, TableReport>();
      let sessionFolders: SessionFoldersReport;
      let pendingCards: PendingCardsReport[];
      try {
        for (const step of read.steps) {
          const report = reports.get(step.table) ?? { table: step.table, imported: 0, alreadyImported: 0, refused: [] };
          reports.set(step.table, report);
          if (!step.envelope) {
            report.refused.push({ key: step.key, reason: step.unreadable! });
            continue;
          }
          // One command at a time, in order: a row may need the one before it (a wiring its chat).
          const [result] = core.bus.dispatchBatch([step.envelope]);
          if (result!.status === 'failed') report.refused.push({ key: step.key, reason: result!.error.message });
          else if (result!.status === 'rejected') report.refused.push({ key: step.key, reason: `${result!.code}: ${result!.message}` });
          else if (result!.duplicate) report.alreadyImported++;
          else report.imported++;
        }
        sessionFolders = adoptSessionFolders(core, config.dataDir, read.file);
        pendingCards = importPendingCards(core, config.dataDir, read.file);
      } finally {
        core.close();
      }
      const tables = [...reports.values()];
      const refused = [...tables, sessionFolders, ...pendingCards].some((t) => t.refused.length > 0);
      if (options.json) console.log(JSON.stringify({ source: read.file, dataDir: config.dataDir, tables, sessionFolders, pendingCards }, null, 2));
      else {
        console.log(`Imported ${read.file} into ${config.dataDir}`);
        console.log(formatTable(['TABLE', 'IMPORTED', 'ALREADY IMPORTED', 'REFUSED'], tables.map((t) => [t.table, t.imported, dim(String(t.alreadyImported)), t.refused.length ? bad(String(t.refused.length)) : '0'])));
        for (const t of tables) for (const r of t.refused) console.log(bad(`  ${t.table} ${r.key}: ${r.reason}`));
        printSessionFolders(sessionFolders);
        for (const t of pendingCards) {
          console.log(`${t.table}: ${t.imported} imported, ${t.alreadyImported} already imported, ${t.refused.length} refused`);
          for (const r of t.refused) console.log(bad(`  ${t.table} ${r.key}: ${r.reason}`));
        }
        if (!refused) console.log(ok('every row is in the log'));
      }
      if (refused) process.exitCode = 1;
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
