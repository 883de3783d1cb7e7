import { existsSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig, type Config } from '../config';
import { centralDatabasePath, openCore, type Core } from '../core';

/** A failure to report to the person at the terminal: message, and the exit code to use. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface GlobalOptions {
  dataDir?: string;
  db?: string;
  logLevel?: string;
}

/** The options given before or after the subcommand, merged. */
export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/** The configuration: global flags and the command's own flags over the environment and defaults. */
export function configFor(command: Command, flags: Partial<Record<keyof Config, unknown>> = {}): Config {
  const { dataDir, logLevel } = globalOptions(command);
  return loadConfig({ dataDir, logLevel, ...flags });
}

/** The central database a read command looks at: --db if given, else the data directory's. */
export function databasePath(command: Command): string {
  return globalOptions(command).db ?? centralDatabasePath(configFor(command).dataDir);
}

/** Opens an existing, migrated central database read-only: read commands never create or change one. */
export function openExisting(command: Command): Core {
  const path = databasePath(command);
  if (!existsSync(path)) {
    throw new CliError(`no Switchyard database at ${path}: pass --data-dir or --db, or start the host there first`);
  }
  return openCore(path, { readonly: true });
}

/** Parses a flag that must be a whole number ≥ min, for commander. */
export function wholeNumber(min: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min) {
      throw new InvalidArgumentError(`expected a whole number ≥ ${min}, got "${value}"`);
    }
    return Number(value);
  };
}

/** A moment in the log, as typed: a position (digits) or an ISO-8601 time. */
export type Moment = { position: number } | { time: string };

/** Parses a flag naming a moment in the log, for commander. */
export function moment(value: string): Moment {
  if (/^\d+$/.test(value)) return { position: Number(value) };
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw new InvalidArgumentError(`expected a log position or an ISO-8601 time, got "${value}"`);
  return { time: new Date(time).toISOString() };
}

/** The log position a moment names: a time means the last event recorded at or before it. A position past the end is refused. */
export function positionOf(core: Core, at: Moment): number {
  if (!('position' in at)) return core.store.positionAt(at.time);
  const last = core.store.lastPosition();
  if (at.position > last) throw new CliError(`no position #${at.position}: the log ends at #${last}`);
  return at.position;
}
