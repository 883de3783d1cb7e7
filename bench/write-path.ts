import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { CreateAgentGroup } from '../src/commands/agent-groups';
import type { BatchResult } from '../src/commands/bus';
import type { CommandEnvelope } from '../src/commands/define';
import { AddDestination } from '../src/commands/destinations';
import { openCore } from '../src/core';
import { migrate } from '../src/db/migrate';
import { openDatabase } from '../src/db/sqlite';
import { median, timed } from './measure';

const AGENT_GROUPS = 1000;

/**
 * The three rows one accepted AddDestination writes, in the order the bus writes them
 * (event, projection, command record). Column lists match the bus's own INSERTs.
 */
const TABLES = [
  { name: 'events', columns: ['event_id', 'stream', 'stream_version', 'type', 'schema_version', 'data', 'metadata'] },
  {
    name: 'destinations',
    columns: ['agent_group_id', 'local_name', 'target_type', 'target_id', 'granted_at', 'granted_time', 'granted_by'],
  },
  { name: 'commands', columns: ['command_id', 'type', 'payload_hash', 'outcome', 'handled_at'] },
] as const;

/** One command's rows: one value array per entry of TABLES. */
type CommandRows = unknown[][];

export type WriteMode = 'single' | 'batch';
type Side = 'raw' | 'bus';

export interface WriteRound {
  bus: number;
  raw: number;
  ratio: number;
}

export interface WriteFigures {
  mode: WriteMode;
  commands: number;
  batchSize: number;
  rounds: WriteRound[];
  /** Medians of the bus and raw rates, and the median of the per-round ratios. */
  median: WriteRound;
}

export interface WriteOptions {
  dir: string;
  singleCommands: number;
  batchCommands: number;
  batchSize: number;
  rounds: number;
}

/** Distinct command ids and names, so no command is a duplicate or rejected as name-taken. */
function addDestination(i: number): CommandEnvelope {
  return AddDestination.envelope(`add-${i}`, {
    agentGroupId: `ag-${i % AGENT_GROUPS}`,
    localName: `dest-${i}`,
    targetType: 'agent',
    targetId: `ag-${(i + 1) % AGENT_GROUPS}`,
  });
}

function expectAccepted(results: readonly BatchResult[]): void {
  for (const result of results) {
    if (result.status !== 'accepted') throw new Error(`bench command ${result.commandId} was not accepted: ${JSON.stringify(result)}`);
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const removeDatabase = (path: string) => {
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
};

/** The agent groups AddDestination checks for; every measured file starts as a copy of it. */
function createSeed(path: string): void {
  const core = openCore(path, { synchronous: 'NORMAL' });
  try {
    expectAccepted(
      core.bus.dispatchBatch(
        Array.from({ length: AGENT_GROUPS }, (_, g) =>
          CreateAgentGroup.envelope(`seed-${g}`, { agentGroupId: `ag-${g}`, name: `Agent ${g}`, folder: `agent-${g}` }),
        ),
      ),
    );
  } finally {
    core.close();
  }
}

/**
 * Every AddDestination's rows in a file the bus wrote, in position order. The raw baseline
 * inserts exactly these (same ids, hashes, JSON and positions), so the only difference
 * measured is the bus's own work.
 */
function commandRows(db: Database.Database): CommandRows[] {
  const aliases = ['e', 'd', 'c']; // in TABLES order
  const select = TABLES.flatMap((t, i) => t.columns.map((c) => `${aliases[i]}.${c}`));
  // Joined through primary keys: destinations has no index on granted_at alone.
  const rows = db
    .prepare(
      `SELECT ${select.join(', ')} FROM events e
       JOIN destinations d ON d.agent_group_id = json_extract(e.data, '$.agentGroupId')
         AND d.local_name = json_extract(e.data, '$.localName') AND d.granted_at = e.position
       JOIN commands c ON c.command_id = json_extract(e.metadata, '$.commandId')
       WHERE e.type = 'DestinationAdded' ORDER BY e.position`,
    )
    .raw()
    .all() as unknown[][];
  return rows.map((row) => {
    let offset = 0;
    return TABLES.map((t) => row.slice(offset, (offset += t.columns.length)));
  });
}

interface Writer {
  readonly db: Database.Database;
  /** The measured part: every command, in chunks of one transaction each. */
  write(): void;
  close(): void;
}

/** Plain prepared INSERTs, one BEGIN IMMEDIATE … COMMIT per chunk, as the store opens its transactions. */
function rawWriter(path: string, rows: CommandRows[], chunkSize: number): Writer {
  const db = openDatabase(path, { synchronous: 'FULL' });
  migrate(db);
  const inserts = TABLES.map((t) =>
    db.prepare(`INSERT INTO ${t.name} (${t.columns.join(', ')}) VALUES (${t.columns.map(() => '?').join(', ')})`),
  );
  const commit = db.transaction((chunk: CommandRows[]) => {
    for (const command of chunk) command.forEach((values, table) => inserts[table]!.run(...values));
  });
  const work = chunks(rows, chunkSize);
  return {
    db,
    write: () => {
      for (const chunk of work) commit.immediate(chunk);
    },
    close: () => db.close(),
  };
}

function busWriter(path: string, envelopes: CommandEnvelope[], chunkSize: number): Writer {
  const { bus, store, close } = openCore(path, { synchronous: 'FULL', verifyDecided: false });
  // One command per transaction goes through dispatch(), as a caller with one command would.
  const commit = (chunk: CommandEnvelope[]) => (chunkSize === 1 ? [bus.dispatch(chunk[0])] : bus.dispatchBatch(chunk));
  const work = chunks(envelopes, chunkSize);
  return {
    db: store.db,
    write: () => {
      for (const chunk of work) expectAccepted(commit(chunk));
    },
    close,
  };
}

/** Row counts and bytes of the three tables, seed included. */
function footprint(db: Database.Database): string {
  return TABLES.map((t) => {
    const bytes = t.columns.map((c) => `length(${c})`).join(' + ');
    return db.prepare(`SELECT '${t.name} ' || count(*) || ' rows/' || total(${bytes}) || ' bytes' FROM ${t.name}`).pluck().get() as string;
  }).join(', ');
}

interface Measured {
  perSecond: number;
  footprint: string;
}

export interface WriteBench {
  single: WriteFigures;
  batch: WriteFigures;
}

export async function runWriteBench(options: WriteOptions): Promise<WriteBench> {
  if (options.singleCommands > options.batchCommands) {
    throw new Error('the first batch run supplies the raw rows: it needs at least as many commands as the single run');
  }
  const seed = join(options.dir, 'seed.db');
  createSeed(seed);
  const envelopes = Array.from({ length: options.batchCommands }, (_, i) => addDestination(i));
  /** Filled by the first bus run, which always precedes the first raw run. */
  let rows: CommandRows[] = [];

  const measure = async (side: Side, mode: WriteMode, commands: number, round: number): Promise<Measured> => {
    const path = join(options.dir, `${side}-${mode}-${round}.db`);
    copyFileSync(seed, path);
    const chunkSize = mode === 'single' ? 1 : options.batchSize;
    const writer =
      side === 'raw' ? rawWriter(path, rows.slice(0, commands), chunkSize) : busWriter(path, envelopes.slice(0, commands), chunkSize);
    try {
      const { seconds } = await timed(() => writer.write());
      if (side === 'bus' && rows.length === 0) rows = commandRows(writer.db);
      return { perSecond: commands / seconds, footprint: footprint(writer.db) };
    } finally {
      writer.close();
      removeDatabase(path);
    }
  };

  const measureMode = async (mode: WriteMode, commands: number): Promise<WriteFigures> => {
    const rounds: WriteRound[] = [];
    for (let round = 0; round < options.rounds; round++) {
      // Alternate which side goes first, so neither always gets the warmer page cache.
      // The bus goes first in the first round: raw replays the rows it wrote.
      const order: Side[] = round % 2 === 0 ? ['bus', 'raw'] : ['raw', 'bus'];
      const measured = new Map<Side, Measured>();
      for (const side of order) measured.set(side, await measure(side, mode, commands, round));
      const raw = measured.get('raw')!;
      const bus = measured.get('bus')!;
      // Same row counts and bytes in the three tables, or the ratio compares different work.
      if (raw.footprint !== bus.footprint) {
        throw new Error(`raw and bus wrote different rows (${mode}, round ${round + 1}):\n  raw: ${raw.footprint}\n  bus: ${bus.footprint}`);
      }
      rounds.push({ bus: bus.perSecond, raw: raw.perSecond, ratio: bus.perSecond / raw.perSecond });
    }
    return {
      mode,
      commands,
      batchSize: mode === 'single' ? 1 : options.batchSize,
      rounds,
      median: {
        bus: median(rounds.map((r) => r.bus)),
        raw: median(rounds.map((r) => r.raw)),
        ratio: median(rounds.map((r) => r.ratio)),
      },
    };
  };

  try {
    const batch = await measureMode('batch', options.batchCommands);
    const single = await measureMode('single', options.singleCommands);
    return { single, batch };
  } finally {
    removeDatabase(seed);
  }
}
