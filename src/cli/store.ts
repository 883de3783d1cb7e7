import { InvalidArgumentError, type Command } from 'commander';
import { assertEmptyTarget, copyLog, summarizePostgres, TargetNotEmptyError, type LogSummary } from '../events/copy';
import { eventRegistry } from '../events';
import { PostgresEventStore } from '../events/pg-store';
import { CliError, openExisting, wholeNumber } from './context';
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
    const target = await PostgresEventStore.open(options.to, eventRegistry);
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
      const copyOfIt = await summarizePostgres(target, options.batchSize);
      const equal = MEASURES.every((measure) => source[measure] === copyOfIt[measure]);
      if (options.json) console.log(JSON.stringify({ equal, source, target: copyOfIt }));
      else {
        console.log(formatTable(['', 'SQLITE', 'POSTGRESQL', 'RESULT'], MEASURES.map((m) => [LABELS[m], source[m], copyOfIt[m], source[m] === copyOfIt[m] ? ok('equal') : bad('DIFFERS')])));
        console.log(equal ? ok(`${source.events} events copied and verified: the PostgreSQL log equals the SQLite one`) : bad('the copy differs from the source'));
      }
      if (!equal) process.exitCode = 1;
    } finally {
      await target.close();
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
}
