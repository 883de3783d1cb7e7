import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { InvalidArgumentError, type Command } from 'commander';
import { z } from 'zod';
import { CommandValidationError } from '../commands/bus';
import { changeEntry, ChangeRefusedError, checkChange, ProposedChange, type ChangeKind, whatIf, whatIfParallel, type WhatIfReport } from '../what-if';
import { CliError, databasePath, moment, openExisting, positionOf, wholeNumber, type Moment } from './context';
import { bad, dim, formatTable, ok } from './format';
import { ProgressLine } from './progress';

interface WhatIfOptions {
  add: Array<Record<string, string>>;
  remove: Array<Record<string, string>>;
  wire: Array<Record<string, string>>;
  unwire: Array<Record<string, string>>;
  change?: string;
  since?: Moment;
  until?: Moment;
  agentGroup?: string;
  threads?: number;
  json?: boolean;
}

/** Windows this long are judged in worker threads by default: below it, starting them costs more than it saves. */
const PARALLEL_FROM_POSITIONS = 200_000;

/** A repeatable flag giving one entry of the change in its one-line form. */
const entryFlag = (kind: ChangeKind) => (value: string, previous: Array<Record<string, string>>): Array<Record<string, string>> => {
  try {
    return [...previous, changeEntry(kind, value)];
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
};

function proposedChange(options: WhatIfOptions): ProposedChange {
  let fromFile: Partial<Record<keyof ProposedChange, unknown[]>> = {};
  if (options.change) {
    const expected = 'expected JSON {addDestinations, removeDestinations, wire, unwire}, each a list of command payloads';
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(options.change, 'utf8'));
    } catch (error) {
      throw new CliError(`--change ${options.change}: ${error instanceof Error ? error.message : String(error)} (${expected})`, 2);
    }
    const parsed = ProposedChange.safeParse(json);
    if (!parsed.success) throw new CliError(`--change ${options.change}: ${expected}: ${z.prettifyError(parsed.error)}`, 2);
    fromFile = parsed.data;
  }
  const change = {
    addDestinations: [...(fromFile.addDestinations ?? []), ...options.add],
    removeDestinations: [...(fromFile.removeDestinations ?? []), ...options.remove],
    wire: [...(fromFile.wire ?? []), ...options.wire],
    unwire: [...(fromFile.unwire ?? []), ...options.unwire],
  };
  if (Object.values(change).every((list) => list.length === 0)) {
    throw new CliError('nothing to try: give --add, --remove, --wire, --unwire or --change', 2);
  }
  return change;
}

function print(report: WhatIfReport): void {
  const { window, decisions, flips, byAgentGroup } = report;
  console.log(`Change applied on a scratch copy: ${report.applied.map((a) => `${a.type} (${a.events.join(', ')})`).join('; ')}`);
  const fromChange = flips.filter((f) => f.cause === 'change').length;
  const since = flips.length - fromChange;
  console.log(`Re-judged ${decisions} decisions in #${window.after + 1}..#${window.until}${window.agentGroupId ? ` for ${window.agentGroupId}` : ''}: ${fromChange === 0 ? ok('none would flip because of the change') : bad(`${fromChange} would flip because of the change`)}`);
  if (since > 0) console.log(dim(`${since} more already differ today without it (the ACL or wiring changed since they were decided)`));
  if (flips.length === 0) return;
  console.log(
    '\n' +
      formatTable(
        ['POSITION', 'TIME', 'DECISION', 'MESSAGE', 'AGENT GROUP', 'RECORDED', 'WITH THE CHANGE', 'CAUSE'],
        flips.map((f) => [`#${f.position}`, f.recordedAt, f.type, f.messageId, f.agentGroupId ?? '-', f.recorded.verdict, f.proposed.verdict, f.cause === 'change' ? f.cause : dim(f.cause)]),
      ),
  );
  console.log('\n' + formatTable(['AGENT GROUP', 'ROUTED → DROPPED', 'DROPPED → ROUTED'], byAgentGroup.map((c) => [c.agentGroupId, c.routedToDropped, c.droppedToRouted])));
}

export function registerWhatIf(program: Command): void {
  program
    .command('what-if')
    .description('re-judge recorded routing decisions against today’s state with a proposed change, and list those that would flip (writes nothing)')
    .option('--add <agent-group:name=type:target>', 'grant a destination (repeatable)', entryFlag('addDestinations'), [])
    .option('--remove <agent-group:name>', 'revoke a destination (repeatable)', entryFlag('removeDestinations'), [])
    .option('--wire <messaging-group:agent-group>', 'wire a chat to an agent group (repeatable)', entryFlag('wire'), [])
    .option('--unwire <messaging-group:agent-group>', 'unwire a chat from an agent group (repeatable)', entryFlag('unwire'), [])
    .option('--change <file>', 'a JSON file {addDestinations, removeDestinations, wire, unwire}, each a list of command payloads')
    .option('--since <position|time>', 'only decisions at or after this log position or ISO-8601 time', moment)
    .option('--until <position|time>', 'only decisions up to this log position or ISO-8601 time', moment)
    .option('--agent-group <id>', 'only decisions that concern this agent group')
    .option('--threads <n>', `worker threads to judge with (default: one per core for windows over ${PARALLEL_FROM_POSITIONS.toLocaleString('en')} positions, else 1)`, wholeNumber(1))
    .option('--json', 'print the report as JSON')
    .action(async (options: WhatIfOptions, command: Command) => {
      const change = proposedChange(options);
      const core = openExisting(command);
      try {
        const window = {
          after: options.since === undefined ? 0 : positionOf(core, 'position' in options.since ? { position: options.since.position - 1 } : { time: new Date(Date.parse(options.since.time) - 1).toISOString() }),
          until: options.until === undefined ? core.store.lastPosition() : positionOf(core, options.until),
          ...(options.agentGroup !== undefined && { agentGroupId: options.agentGroup }),
        };
        const threads = options.threads ?? (window.until - window.after > PARALLEL_FROM_POSITIONS ? availableParallelism() : 1);
        const progress = new ProgressLine('re-judging positions', window.until - window.after);
        const onProgress = (done: number) => progress.update(done);
        let report: WhatIfReport;
        try {
          if (threads > 1) {
            checkChange(core, change);
            report = await whatIfParallel(databasePath(command), change, window, threads, onProgress);
          } else report = whatIf(core, change, window, onProgress);
          progress.end(window.until - window.after);
        } catch (error) {
          if (error instanceof ChangeRefusedError) throw new CliError(`the change cannot be applied: ${error.message}`, 1);
          if (error instanceof CommandValidationError) throw new CliError(error.message, 2);
          throw error;
        }
        if (options.json) console.log(JSON.stringify(report, null, 2));
        else print(report);
      } finally {
        core.close();
      }
    });
}
