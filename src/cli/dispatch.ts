import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { CommandValidationError, type Outcome } from '../commands/bus';
import type { CommandEnvelope, CommandMetadata } from '../commands/define';
import { openDataDir, type Core } from '../core';
import { CliError, configFor, openExisting } from './context';
import { formatTable, ok, type Cell } from './format';

/** The actor of commands typed at this terminal: `operator:<name>`. */
export const operatorActor = () => `operator:${process.env.SWITCHYARD_OPERATOR ?? userInfo().username}`;

/** Maps `payload.<field>` paths of validation errors back to the flags a person typed. */
export type FlagNames = Record<string, string>;

/**
 * Dispatches one operator command and reports it: accepted → a confirmation with its
 * events; rejected → exit 1 with the reason; invalid → exit 2 naming each bad flag.
 */
export function dispatchFromCli(
  command: Command,
  build: (commandId: string, metadata: CommandMetadata) => CommandEnvelope,
  flags: FlagNames,
  confirm: (outcome: Extract<Outcome, { status: 'accepted' }>, core: Core) => string,
): void {
  const config = configFor(command);
  const core = openDataDir(config.dataDir, { synchronous: config.synchronous, ...(config.store !== undefined && { store: config.store }) });
  try {
    let outcome: Outcome;
    try {
      outcome = core.bus.dispatch(build(`cli:${randomUUID()}`, { actor: operatorActor() }));
    } catch (error) {
      if (!(error instanceof CommandValidationError)) throw error;
      const issues = error.issues.map((issue) => {
        const field = issue.path.replace(/^payload\./, '');
        const flag = flags[field] ?? flags[field.split('.')[0]!] ?? field;
        return `${flag}: ${issue.message}`;
      });
      throw new CliError(`invalid ${error.commandType}: ${issues.join('; ')}`, 2);
    }
    if (outcome.status === 'rejected') throw new CliError(`${outcome.type} refused (${outcome.code}): ${outcome.message}`, 1);
    console.log(`${ok(confirm(outcome, core))}  ${outcome.events.map((e) => `${e.type}@${e.position}`).join(' ')}`);
  } finally {
    core.close();
  }
}

/** Opens the central database for a read verb and prints its rows as JSON or a table. */
export function printRead<T>(
  command: Command,
  json: boolean | undefined,
  read: (core: Core) => T,
  table: (value: T) => { headers: string[]; rows: Cell[][] } | string,
): void {
  const core = openExisting(command);
  try {
    const value = read(core);
    if (json) {
      console.log(JSON.stringify(value, null, 2));
      return;
    }
    const shown = table(value);
    console.log(typeof shown === 'string' ? shown : formatTable(shown.headers, shown.rows));
  } finally {
    core.close();
  }
}

/** The value, or a failure naming what was not found. */
export function found<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new CliError(`no ${what}`);
  return value;
}

/** A field of the first event an accepted command appended: the id it created, say. */
export function firstEventField(core: Core, outcome: Extract<Outcome, { status: 'accepted' }>, field: string): string {
  return String((core.store.readAt(outcome.events[0]!.position)!.data as Record<string, unknown>)[field]);
}
