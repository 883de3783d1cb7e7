import { InvalidArgumentError, type Command } from 'commander';
import { redactUrl } from '../adapters/pg-replica';
import { assertEmptyTarget, copyCommands, copyLog, summarizePostgres, summarizeSqlite, TargetNotEmptyError, type LogSummary } from '../events/copy';
import { eventRegistry } from '../events';
import { PostgresEventStore } from '../events/pg-store';
import { CliError, configFor, openExisting, wholeNumber } from './context';
import { bad, formatTable, ok } from './format';
import { ProgressLine } from './progress';

interface CopyOptions {
  to: string;
  batchSize: number;
  json?: boolean;
}

/** Parses --to: a PostgreSQL connection string, the only kind of target so far. */
function postgresUrl(value: string): string {
  if (!/^postgres(ql)?:\/\//.test(value)) throw new InvalidArgumentError(`expected a PostgreSQL connection string (postgres://…), got "${value}"`);
  return value;
}

const MEASURES: readonly (keyof LogSummary)[] = ['events', 'firstPosition', 'lastPosition', 'checksum'];
const LABELS: Record<keyof LogSummary, string> = { events: 'events', firstPosition: 'first position', lastPosition: 'last position', checksum: 'checksum (sha256 of the rows)' };

interface Side {
  /** Its key in the JSON document. */
  key: string;
  /** Its column's header in the table. */
  header: string;
  summary: LogSummary;
}

/** Prints two logs' summaries side by side (a table, or one JSON document); sets a failing exit code when they differ. */
function printComparison([a, b]: [Side, Side], json: boolean | undefined, verdict: { equal: string; differs: string }, details: Record<string, unknown> = {}): void {
  const [left, right] = [a.summary, b.summary];
  const equal = MEASURES.every((measure) => left[measure] === right[measure]);
  if (json) console.log(JSON.stringify({ equal, [a.key]: left, [b.key]: right, ...details }));
  else {
    console.log(formatTable(['', a.header, b.header, 'RESULT'], MEASURES.map((m) => [LABELS[m], left[m], right[m], left[m] === right[m] ? ok('equal') : bad('DIFFERS')])));
    console.log(equal ? ok(verdict.equal) : bad(verdict.differs));
  }
  if (!equal) process.exitCode = 1;
}

/** Opens the PostgreSQL log, turning a failure to reach it into one line that does not repeat the URL (it may hold a password). */
async function openPostgres(url: string): Promise<PostgresEventStore> {
  try {
    return await PostgresEventStore.open(url, eventRegistry);
  } catch (error) {
    throw new CliError(`cannot use the PostgreSQL database: ${error instanceof Error ? error.message : String(error)}`);
  }
}

async function copy(command: Command, options: CopyOptions): Promise<void> {
  const core = openExisting(command);
  try {
    try {
      await assertEmptyTarget(options.to);
    } catch (error) {
      if (error instanceof TargetNotEmptyError) throw new CliError(error.message);
      // The URL is not repeated: it may hold a password.
      throw new CliError(`cannot use the target database: ${error instanceof Error ? error.message : String(error)}`);
    }
    const target = await openPostgres(options.to);
    try {
      let progress: ProgressLine | undefined;
      let copied = 0;
      const source = await copyLog(core.store, target, {
        batchSize: options.batchSize,
        onProgress: (done) => {
          progress ??= new ProgressLine('copying events', done.total);
          copied = done.copied;
          progress.update(copied);
        },
      });
      progress?.end(copied);
      const commands = await copyCommands(core.store, target, options.batchSize);
      const copyOfIt = await summarizePostgres(target, options.batchSize);
      printComparison(
        [{ key: 'source', header: 'SQLITE', summary: source }, { key: 'target', header: 'POSTGRESQL', summary: copyOfIt }],
        options.json,
        {
          equal: `${source.events} events copied and verified: the PostgreSQL log equals the SQLite one (and ${commands} handled command ids, so hosts on it know them)`,
          differs: 'the copy differs from the source',
        },
        { commands },
      );
    } finally {
      await target.close();
    }
  } finally {
    core.close();
  }
}

interface VerifyOptions {
  against?: string;
  batchSize: number;
  json?: boolean;
}

/** Compares the data directory's replica with the PostgreSQL log it replicates: count, positions and a sha256 of every row. */
async function verify(command: Command, options: VerifyOptions): Promise<void> {
  const url = options.against ?? configFor(command).store;
  if (url === undefined) throw new CliError('store verify needs the PostgreSQL log: pass --against postgres://… or set SWITCHYARD_STORE', 2);
  const core = openExisting(command);
  try {
    const postgres = await openPostgres(url);
    try {
      const replica = await summarizeSqlite(core.store, options.batchSize);
      const truth = await summarizePostgres(postgres, options.batchSize);
      printComparison([{ key: 'replica', header: 'REPLICA', summary: replica }, { key: 'postgres', header: 'POSTGRESQL', summary: truth }], options.json, {
        equal: `the replica holds the ${truth.events} events of ${redactUrl(url)} unchanged`,
        differs: `the replica differs from ${redactUrl(url)} (a host catching up is behind for a moment; start the host to catch it up)`,
      });
    } finally {
      await postgres.close();
    }
  } finally {
    core.close();
  }
}

export function registerStore(program: Command): void {
  const store = program.command('store').description('the event store itself: copy the log to another engine');
  store
    .command('copy')
    .description('copy the SQLite event log (of --data-dir or --db) into an empty PostgreSQL database, unchanged, then verify it')
    .requiredOption('--to <url>', 'the target: postgres://user@host/database (a unix socket: postgres://user@/db?host=/dir)', postgresUrl)
    .option('--batch-size <n>', 'events per transaction', wholeNumber(1), 1000)
    .option('--json', 'print the verification as one JSON document')
    .action((options: CopyOptions, command: Command) => copy(command, options));
  store
    .command('verify')
    .description('compare this data directory\'s replica with the PostgreSQL log it replicates (--store / SWITCHYARD_STORE): count, positions, sha256 of the rows')
    .option('--against <url>', 'the PostgreSQL log (default: SWITCHYARD_STORE)', postgresUrl)
    .option('--batch-size <n>', 'rows read per query', wholeNumber(1), 1000)
    .option('--json', 'print the comparison as one JSON document')
    .action((options: VerifyOptions, command: Command) => verify(command, options));
}
