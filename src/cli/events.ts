import type { Command } from 'commander';
import type { RecordedEvent } from '../events/define';
import { CliError, openExisting, wholeNumber } from './context';
import { followLog } from './follow';
import { clip, dim, printJsonArray, printJsonLines, printTable } from './format';

interface EventsOptions {
  stream?: string;
  type?: string;
  from: number;
  limit?: number;
  follow?: boolean;
  json?: boolean;
  jsonl?: boolean;
}

const row = (event: RecordedEvent) => [
  event.position,
  event.metadata.recordedAt,
  event.stream,
  event.type,
  event.metadata.actor,
  clip(JSON.stringify(event.data)),
];
const HEADERS = ['POSITION', 'RECORDED AT', 'STREAM', 'TYPE', 'ACTOR', 'DATA'];

export function registerEvents(program: Command): void {
  program
    .command('events')
    .description('list the event log, oldest first (--follow to keep printing new events)')
    .option('--stream <stream>', 'only this stream, e.g. agent-group-ag-123')
    .option('--type <type>', 'only this event type, e.g. DestinationAdded')
    .option('--from <position>', 'start at this position', wholeNumber(1), 1)
    .option('--limit <n>', 'print at most n events', wholeNumber(1))
    .option('--follow', 'after the log, wait for new events and print them as they commit')
    .option('--json', 'one JSON document: an array of events')
    .option('--jsonl', 'one JSON object a line (JSON Lines); what --follow prints for scripts')
    .action(async (options: EventsOptions, command: Command) => {
      const core = openExisting(command);
      const filter = {
        after: options.from - 1,
        ...(options.stream !== undefined && { stream: options.stream }),
        ...(options.type !== undefined && { type: options.type }),
      };
      const matches = (event: RecordedEvent) =>
        (filter.stream === undefined || event.stream === filter.stream) && (filter.type === undefined || event.type === filter.type);
      const limit = options.limit ?? Infinity;
      let printed = 0;
      try {
        if (!options.follow) {
          const events = (function* () {
            for (const event of core.store.readAll(filter)) {
              if (printed++ >= limit) return;
              yield event;
            }
          })();
          if (options.json) printJsonArray(events);
          else if (options.jsonl) printJsonLines(events);
          else printTable(HEADERS, events, row, dim('no events'));
          return;
        }
        if (options.json) throw new CliError('--follow is a stream: it prints lines, or JSON Lines with --jsonl', 2);
        await followLog(core, filter.after, (event) => {
          if (!matches(event)) return;
          process.stdout.write((options.jsonl ? JSON.stringify(event) : row(event).join('  ')) + '\n');
          if (++printed >= limit) return 'stop';
        });
      } finally {
        core.close();
      }
    });
}
