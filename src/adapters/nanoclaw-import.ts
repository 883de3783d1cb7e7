import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CreateAgentGroup } from '../commands/agent-groups';
import type { CommandEnvelope } from '../commands/define';
import { AddDestination } from '../commands/destinations';
import { ImportSession } from '../commands/import';
import { RegisterMessagingGroup, WireChannel } from '../commands/messaging-groups';

/** A database this importer cannot read, and why. */
export class NanoclawImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NanoclawImportError';
  }
}

/** The tables and columns of a NanoClaw v2 central database that the import reads, in the order it replays them. */
const SCHEMA = {
  agent_groups: ['id', 'name', 'folder', 'is_admin', 'agent_provider', 'container_config'],
  messaging_groups: ['id', 'channel_type', 'platform_id', 'name', 'is_group', 'admin_user_id'],
  // Before the wirings: a wiring grants its chat's destination unless the agent already has one, so NanoClaw's names are kept.
  agent_destinations: ['agent_group_id', 'local_name', 'target_type', 'target_id'],
  messaging_group_agents: ['messaging_group_id', 'agent_group_id', 'trigger_rules', 'response_scope', 'session_mode', 'priority'],
  sessions: ['id', 'agent_group_id', 'messaging_group_id', 'thread_id', 'agent_provider', 'status'],
} as const;
export type NanoclawTable = keyof typeof SCHEMA;
type Row = Record<string, string | number | null>;

/** One row of the NanoClaw database, as the command that recreates it (or why it cannot be read). */
export interface ImportStep {
  table: NanoclawTable;
  key: string;
  envelope?: CommandEnvelope;
  unreadable?: string;
}

const actor = { actor: 'operator:import' };

/** The central database in a NanoClaw data directory (v2.db, else the one .db holding agent_groups), or the file itself. */
function findNanoclawDatabase(path: string): string {
  if (!existsSync(path)) throw new NanoclawImportError(`${path} does not exist`);
  if (statSync(path).isFile()) return path;
  if (existsSync(join(path, 'v2.db'))) return join(path, 'v2.db');
  const candidates = readdirSync(path)
    .filter((name) => name.endsWith('.db'))
    .map((name) => join(path, name))
    .filter((file) => {
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        return db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'agent_groups'`).get() !== undefined;
      } catch {
        return false;
      } finally {
        db.close();
      }
    });
  if (candidates.length !== 1) {
    throw new NanoclawImportError(`${path} holds ${candidates.length === 0 ? 'no' : 'several'} database with an agent_groups table: name the file`);
  }
  return candidates[0]!;
}

/** Opens the database read-only and checks it has every table and column the import reads. */
function openChecked(file: string): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    db.prepare('SELECT count(*) FROM sqlite_master').get();
  } catch (error) {
    throw new NanoclawImportError(`${file} is not a SQLite database: ${error instanceof Error ? error.message : String(error)}`);
  }
  for (const [table, columns] of Object.entries(SCHEMA)) {
    const present = new Set((db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all(table) as string[]));
    if (present.size === 0) {
      db.close();
      throw new NanoclawImportError(`${file} is not a NanoClaw v2 central database: it has no table ${table}`);
    }
    const missing = columns.filter((column) => !present.has(column));
    if (missing.length > 0) {
      db.close();
      throw new NanoclawImportError(`${file}: table ${table} lacks column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
    }
  }
  return db;
}

const json = (value: string | number | null, what: string): unknown => {
  if (value === null || value === '') return {};
  try {
    return JSON.parse(String(value));
  } catch {
    throw new Error(`${what} is not JSON: ${String(value).slice(0, 80)}`);
  }
};
const text = (value: string | number | null): string | null => (value === null ? null : String(value));

/** The command for each row; the command ids make a second import a no-op. */
const TO_COMMAND: Record<NanoclawTable, { key: (row: Row) => string; envelope: (id: string, row: Row) => CommandEnvelope }> = {
  agent_groups: {
    key: (row) => String(row.id),
    envelope: (id, row) =>
      CreateAgentGroup.envelope(
        id,
        {
          agentGroupId: String(row.id),
          name: String(row.name),
          folder: String(row.folder),
          isAdmin: Boolean(row.is_admin),
          agentProvider: text(row.agent_provider),
          containerConfig: json(row.container_config, 'container_config') as never,
        },
        actor,
      ),
  },
  messaging_groups: {
    key: (row) => String(row.id),
    envelope: (id, row) =>
      RegisterMessagingGroup.envelope(
        id,
        { messagingGroupId: String(row.id), channelType: String(row.channel_type), platformId: String(row.platform_id), name: text(row.name), isGroup: Boolean(row.is_group), adminUserId: text(row.admin_user_id) },
        actor,
      ),
  },
  agent_destinations: {
    key: (row) => `${row.agent_group_id}:${row.local_name}`,
    envelope: (id, row) =>
      AddDestination.envelope(id, { agentGroupId: String(row.agent_group_id), localName: String(row.local_name), targetType: row.target_type as 'channel', targetId: String(row.target_id) }, actor),
  },
  messaging_group_agents: {
    key: (row) => `${row.messaging_group_id}:${row.agent_group_id}`,
    envelope: (id, row) =>
      WireChannel.envelope(
        id,
        {
          messagingGroupId: String(row.messaging_group_id),
          agentGroupId: String(row.agent_group_id),
          triggerRules: json(row.trigger_rules, 'trigger_rules') as never,
          responseScope: (row.response_scope ?? 'all') as 'all',
          sessionMode: (row.session_mode ?? 'shared') as 'shared',
          priority: Number(row.priority ?? 0),
        },
        actor,
      ),
  },
  sessions: {
    key: (row) => String(row.id),
    envelope: (id, row) =>
      ImportSession.envelope(
        id,
        { sessionId: String(row.id), agentGroupId: String(row.agent_group_id), messagingGroupId: text(row.messaging_group_id), threadId: text(row.thread_id), agentProvider: text(row.agent_provider), status: text(row.status) },
        actor,
      ),
  },
};

/**
 * Reads a NanoClaw v2 central database into the commands that recreate its state, table
 * by table in replay order. Ids are kept, and each command id is
 * `import:nanoclaw:<table>:<key>`.
 */
export function readNanoclaw(path: string): { file: string; steps: ImportStep[] } {
  const file = findNanoclawDatabase(path);
  const db = openChecked(file);
  try {
    const steps = (Object.keys(SCHEMA) as NanoclawTable[]).flatMap((table) =>
      (db.prepare(`SELECT ${SCHEMA[table].join(', ')} FROM ${table} ORDER BY rowid`).all() as Row[]).map((row): ImportStep => {
        const { key, envelope } = TO_COMMAND[table];
        try {
          return { table, key: key(row), envelope: envelope(`import:nanoclaw:${table}:${key(row)}`, row) };
        } catch (error) {
          return { table, key: key(row), unreadable: error instanceof Error ? error.message : String(error) };
        }
      }),
    );
    return { file, steps };
  } finally {
    db.close();
  }
}
