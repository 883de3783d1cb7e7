import { existsSync, lstatSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { CreateAgentGroup, UpdateAgentGroup } from '../commands/agent-groups';
import type { CommandDefinition } from '../commands/define';
import { AddDestination, RemoveDestination } from '../commands/destinations';
import { ImportSession } from '../commands/import';
import { RegisterMessagingGroup, UnwireChannel, UpdateMessagingGroup, WireChannel } from '../commands/messaging-groups';
import type { Core } from '../core';
import type { Views } from '../projections';
import {
  describeVersion,
  engageOfSeedWiring,
  importedLocalName,
  mapContainerConfig,
  wiringOfEngage,
  type Engage,
  type Mapped,
  type NanoclawVersion,
} from './nanoclaw-mapping';
import { ensureConfinedDir, groupDir, readRegularFile, writeFileAtomic } from './session-db';

/** A database this importer cannot read, and why. */
export class NanoclawImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NanoclawImportError';
  }
}

/** The tables the import reads, in the order it replays them. */
export const NANOCLAW_TABLES = [
  'agent_groups',
  'messaging_groups',
  // Before the wirings: a wiring grants its chat's destination unless the agent already has one, so NanoClaw's names are kept.
  'agent_destinations',
  'messaging_group_agents',
  'sessions',
] as const;
export type NanoclawTable = (typeof NANOCLAW_TABLES)[number];

/** The columns every version has; the rest differ between the seed and v2.0.64 (spec §11) and are read when present. */
const COMMON_COLUMNS: Record<NanoclawTable, string[]> = {
  agent_groups: ['id', 'name', 'folder', 'agent_provider'],
  messaging_groups: ['id', 'channel_type', 'platform_id', 'name', 'is_group'],
  agent_destinations: ['agent_group_id', 'local_name', 'target_type', 'target_id'],
  messaging_group_agents: ['messaging_group_id', 'agent_group_id', 'session_mode', 'priority'],
  sessions: ['id', 'agent_group_id', 'messaging_group_id', 'thread_id', 'agent_provider'],
};
const SEED_WIRING = ['trigger_rules', 'response_scope'];
const ENGAGE_WIRING = ['engage_mode', 'engage_pattern', 'sender_scope', 'ignored_message_policy'];

type Value = string | number | null;
type Row = Record<string, Value>;

/** What one command of a row's plan is: its definition and payload. */
interface Step {
  definition: CommandDefinition;
  payload: unknown;
}
type Plan = { steps: Step[]; kind: 'imported' | 'updated'; notes?: string[] } | { refused: string };
const step = <S extends CommandDefinition>(definition: S, payload: Parameters<S['envelope']>[1]): Step => ({ definition, payload });
const unchanged: Plan = { steps: [], kind: 'updated' };

/** One row of the NanoClaw database: what reading it said, and how to bring Switchyard to it from whatever state it is in. */
export interface SourceRow {
  table: NanoclawTable;
  key: string;
  notes: string[];
  refused?: string;
  plan?: (views: Views) => Plan;
}

export interface NanoclawSource {
  file: string;
  version: NanoclawVersion;
  rows: SourceRow[];
  /** Agent group folder → its folder in the NanoClaw install (`<install>/groups/<folder>`). */
  groupFolders: Map<string, { agentGroupId: string; path: string }>;
}

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

function openReadOnly(file: string): Database.Database {
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return db;
  } catch (error) {
    throw new NanoclawImportError(`${file} is not a SQLite database: ${error instanceof Error ? error.message : String(error)}`);
  }
}

const columnsOf = (db: Database.Database, table: string) => new Set(db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all(table) as string[]);

/** Checks the tables and columns the import needs; which optional ones are present decides how each row is read. */
function checkSchema(db: Database.Database, file: string, version: NanoclawVersion, migrations: Set<string>): Record<NanoclawTable, Set<string>> {
  const lacking = (table: string, missing: string[]) =>
    new NanoclawImportError(`${file}: table ${table} lacks column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (schema ${version.label})`);
  const columns = {} as Record<NanoclawTable, Set<string>>;
  for (const table of NANOCLAW_TABLES) {
    const present = columnsOf(db, table);
    if (present.size === 0) throw new NanoclawImportError(`${file} is not a NanoClaw v2 central database: it has no table ${table}`);
    const missing = COMMON_COLUMNS[table].filter((column) => !present.has(column));
    if (missing.length > 0) throw lacking(table, missing);
    columns[table] = present;
  }
  const wiring = columns.messaging_group_agents;
  const expected = migrations.has('engage-modes') || ENGAGE_WIRING.some((c) => wiring.has(c)) ? ENGAGE_WIRING : SEED_WIRING;
  const missing = expected.filter((column) => !wiring.has(column));
  if (missing.length > 0) throw lacking('messaging_group_agents', missing);
  return columns;
}

const text = (value: Value): string | null => (value === null ? null : String(value));
const jsonValue = (value: Value, what: string, notes: string[]): unknown => {
  if (value === null || value === '') return undefined;
  try {
    return JSON.parse(String(value));
  } catch {
    notes.push(`${what} is not JSON, not imported: ${String(value).slice(0, 80)}`);
    return undefined;
  }
};
const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
/** By code unit, not by locale: the same plan on every machine. */
const ordinal = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Who is an admin at v2.0.64, where agent groups have no is_admin and chats no
 * admin_user_id: the owner and admin roles of user_roles (global, or scoped to an agent
 * group), and the DM chats of user_dms.
 */
class Admins {
  private readonly roles: { userId: string; role: string; agentGroupId: string | null }[] = [];
  private readonly dms = new Map<string, string[]>();
  readonly known: boolean;

  constructor(db: Database.Database) {
    const roleColumns = columnsOf(db, 'user_roles');
    this.known = ['user_id', 'role', 'agent_group_id'].every((c) => roleColumns.has(c));
    if (this.known) {
      for (const row of db.prepare(`SELECT user_id, role, agent_group_id FROM user_roles WHERE role IN ('owner', 'admin') ORDER BY role = 'admin', user_id`).all() as Row[]) {
        this.roles.push({ userId: String(row.user_id), role: String(row.role), agentGroupId: text(row.agent_group_id) });
      }
    }
    const dmColumns = columnsOf(db, 'user_dms');
    if (dmColumns.has('user_id') && dmColumns.has('messaging_group_id')) {
      for (const row of db.prepare('SELECT user_id, messaging_group_id FROM user_dms ORDER BY user_id').all() as Row[]) {
        const list = this.dms.get(String(row.messaging_group_id)) ?? [];
        list.push(String(row.user_id));
        this.dms.set(String(row.messaging_group_id), list);
      }
    }
  }

  /** Admin agent group: it answers the DM of a global owner or admin (what is_admin=1 was: the owner's own agent). */
  agentGroup(chatsWired: readonly string[]): Mapped<boolean> {
    if (!this.known) return { value: false, notes: ['no is_admin column and no user_roles table: imported as not admin'] };
    for (const chat of chatsWired) {
      for (const userId of this.dms.get(chat) ?? []) {
        const role = this.roles.find((r) => r.userId === userId && r.agentGroupId === null);
        if (role) return { value: true, notes: [`admin: it answers the DM (${chat}) of ${userId}, ${role.role} of the install`] };
      }
    }
    return { value: false, notes: [] };
  }

  /**
   * The chat's admin user: an owner or admin of an agent group wired to it, else of the
   * install; users of another platform are passed over. Switchyard keeps one admin a chat
   * and compares it with the platform's user id, so the `<channel type>:` prefix is dropped.
   */
  chat(channelType: string, agentGroupsWired: readonly string[]): Mapped<string | null> {
    const fits = (userId: string) => !userId.includes(':') || userId.startsWith(`${channelType}:`);
    const candidates = [
      ...this.roles.filter((r) => r.agentGroupId !== null && agentGroupsWired.includes(r.agentGroupId)),
      ...this.roles.filter((r) => r.agentGroupId === null),
    ].filter((r) => fits(r.userId));
    const chosen = candidates[0];
    if (!chosen) return { value: null, notes: [] };
    const value = chosen.userId.startsWith(`${channelType}:`) ? chosen.userId.slice(channelType.length + 1) : chosen.userId;
    const others = [...new Set(candidates.slice(1).map((r) => r.userId))].filter((u) => u !== chosen.userId);
    return {
      value,
      notes: [
        `admin user ${value}: ${chosen.userId}, ${chosen.role} of ${chosen.agentGroupId ?? 'the install'}` +
          (others.length > 0 ? `; not kept (Switchyard keeps one admin a chat): ${others.join(', ')}` : ''),
      ],
    };
  }
}

/**
 * Reads a NanoClaw v2 central database, seed to v2.0.64, into one row per entity with the
 * plan that recreates it. Ids are kept. The version comes from schema_version; each row
 * is read by the columns its version has.
 */
export function readNanoclaw(path: string): NanoclawSource {
  const file = findNanoclawDatabase(path);
  const db = openReadOnly(file);
  try {
    const hasVersions = columnsOf(db, 'schema_version').has('name');
    const names = hasVersions ? (db.prepare('SELECT name FROM schema_version ORDER BY version').pluck().all() as string[]) : null;
    const version = describeVersion(names);
    const columns = checkSchema(db, file, version, new Set(names ?? []));
    const all = (table: NanoclawTable) => db.prepare(`SELECT * FROM ${table} ORDER BY rowid`).all() as Row[];
    const agentGroups = all('agent_groups');
    const chats = all('messaging_groups');
    const destinations = all('agent_destinations');
    const wirings = all('messaging_group_agents');
    const admins = new Admins(db);
    const configs = new Map<string, Row>();
    if (columnsOf(db, 'container_configs').has('agent_group_id')) {
      for (const row of db.prepare('SELECT * FROM container_configs').all() as Row[]) configs.set(String(row.agent_group_id), row);
    }

    const groupNames = new Map(agentGroups.map((g) => [String(g.id), String(g.name)]));
    const groupsRoot = join(dirname(dirname(file)), 'groups');
    const source: NanoclawSource = { file, version, rows: [], groupFolders: new Map() };
    for (const g of agentGroups) {
      source.rows.push(agentGroupRow(g, columns.agent_groups, configs.get(String(g.id)), admins, wirings));
      source.groupFolders.set(String(g.folder), { agentGroupId: String(g.id), path: join(groupsRoot, String(g.folder)) });
    }
    for (const chat of chats) source.rows.push(chatRow(chat, columns.messaging_groups, admins, wirings));
    source.rows.push(...destinationRows(destinations));
    for (const wiring of wirings) source.rows.push(wiringRow(wiring, groupNames.get(String(wiring.agent_group_id)) ?? String(wiring.agent_group_id)));
    for (const session of all('sessions')) source.rows.push(sessionRow(session));
    return source;
  } finally {
    db.close();
  }
}

function agentGroupRow(g: Row, columns: Set<string>, configRow: Row | undefined, admins: Admins, wirings: Row[]): SourceRow {
  const id = String(g.id);
  const notes: string[] = [];
  let raw: Record<string, unknown> = {};
  let what = 'container_config';
  let agentProvider = text(g.agent_provider);
  if (columns.has('container_config')) {
    const parsed = jsonValue(g.container_config, 'container_config', notes);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) raw = parsed as Record<string, unknown>;
    else if (parsed !== undefined) notes.push(`container_config is not a JSON object, not imported: ${JSON.stringify(parsed).slice(0, 80)}`);
  } else if (configRow) {
    what = 'container_configs';
    const { agent_group_id: _id, updated_at: _at, provider, image_tag, mcp_servers, packages_apt, packages_npm, additional_mounts, ...rest } = configRow;
    raw = {
      imageTag: image_tag,
      mcpServers: jsonValue(mcp_servers, 'container_configs.mcp_servers', notes),
      packages: { apt: jsonValue(packages_apt, 'container_configs.packages_apt', notes) ?? [], npm: jsonValue(packages_npm, 'container_configs.packages_npm', notes) ?? [] },
      additionalMounts: jsonValue(additional_mounts, 'container_configs.additional_mounts', notes),
      ...rest,
    };
    if (provider !== null && agentProvider === null) agentProvider = String(provider);
    else if (provider !== null && provider !== agentProvider) notes.push(`container_configs.provider ${String(provider)} not kept: the agent group names ${agentProvider}`);
  }
  const config = mapContainerConfig(raw);
  notes.push(...config.notes.map((note) => note.replace(/^container_config\b/, what)));
  let isAdmin: boolean;
  if (columns.has('is_admin')) isAdmin = Boolean(g.is_admin);
  else {
    const chatsWired = wirings.filter((w) => String(w.agent_group_id) === id).map((w) => String(w.messaging_group_id));
    const admin = admins.agentGroup(chatsWired);
    isAdmin = admin.value;
    notes.push(...admin.notes);
  }
  const wanted = { agentGroupId: id, name: String(g.name), folder: String(g.folder), isAdmin, agentProvider, containerConfig: config.value };
  return {
    table: 'agent_groups',
    key: id,
    notes,
    plan: (views) => {
      const existing = views.agentGroups.getIncludingDeleted(id);
      if (!existing) return { steps: [step(CreateAgentGroup, wanted)], kind: 'imported' };
      if (existing.deletedAt !== null) return { refused: `agent group ${id} was deleted in Switchyard: not recreated` };
      if (existing.folder !== wanted.folder) return { refused: `its folder changed from ${existing.folder} to ${wanted.folder}: a group keeps its folder` };
      const changes = {
        ...(existing.name !== wanted.name && { name: wanted.name }),
        ...(existing.isAdmin !== wanted.isAdmin && { isAdmin: wanted.isAdmin }),
        ...(existing.agentProvider !== wanted.agentProvider && { agentProvider: wanted.agentProvider }),
        ...(!sameJson(existing.containerConfig, wanted.containerConfig) && { containerConfig: wanted.containerConfig }),
      };
      return Object.keys(changes).length === 0 ? unchanged : { steps: [step(UpdateAgentGroup, { agentGroupId: id, ...changes })], kind: 'updated' };
    },
  };
}

function chatRow(chat: Row, columns: Set<string>, admins: Admins, wirings: Row[]): SourceRow {
  const id = String(chat.id);
  const channelType = String(chat.channel_type);
  const notes: string[] = [];
  let adminUserId: string | null;
  if (columns.has('admin_user_id')) adminUserId = text(chat.admin_user_id);
  else {
    const admin = admins.chat(channelType, wirings.filter((w) => String(w.messaging_group_id) === id).map((w) => String(w.agent_group_id)));
    adminUserId = admin.value;
    notes.push(...admin.notes);
  }
  if (columns.has('unknown_sender_policy') && chat.unknown_sender_policy !== null && chat.unknown_sender_policy !== 'public') {
    notes.push(`unknown_sender_policy ${String(chat.unknown_sender_policy)} not kept: Switchyard routes every sender's messages in a wired chat`);
  }
  if (columns.has('denied_at') && chat.denied_at !== null) notes.push(`denied in NanoClaw at ${String(chat.denied_at)}: imported as a chat; wire nothing to it to keep it silent`);
  const wanted = { messagingGroupId: id, channelType, platformId: String(chat.platform_id), name: text(chat.name), isGroup: Boolean(chat.is_group), adminUserId };
  return {
    table: 'messaging_groups',
    key: id,
    notes,
    plan: (views) => {
      const existing = views.messagingGroups.get(id);
      if (!existing) return { steps: [step(RegisterMessagingGroup, wanted)], kind: 'imported' };
      if (existing.channel_type !== wanted.channelType || existing.platform_id !== wanted.platformId) {
        return { refused: `it is ${existing.channel_type} chat ${existing.platform_id} in Switchyard, ${wanted.channelType} chat ${wanted.platformId} in NanoClaw` };
      }
      const changes = {
        ...(existing.name !== wanted.name && { name: wanted.name }),
        ...(Boolean(existing.is_group) !== wanted.isGroup && { isGroup: wanted.isGroup }),
        ...(existing.admin_user_id !== wanted.adminUserId && { adminUserId: wanted.adminUserId }),
      };
      return Object.keys(changes).length === 0 ? unchanged : { steps: [step(UpdateMessagingGroup, { messagingGroupId: id, ...changes })], kind: 'updated' };
    },
  };
}

/**
 * Destinations per agent group, names already in normal form first: they keep their
 * name, and a name that normalizes onto a taken one gets the next free `-2`, `-3` …
 * (`ops-room` stays, `Ops Room` becomes `ops-room-2`), in the order of the names.
 */
function destinationRows(destinations: Row[]): SourceRow[] {
  const targets = new Set(destinations.map((d) => `${String(d.agent_group_id)}|${String(d.target_type)}|${String(d.target_id)}`));
  const ordered = [...destinations].sort((a, b) => {
    const normal = (d: Row) => (importedLocalName(String(d.local_name)) === String(d.local_name) ? 0 : 1);
    return ordinal(String(a.agent_group_id), String(b.agent_group_id)) || normal(a) - normal(b) || ordinal(String(a.local_name), String(b.local_name));
  });
  return ordered.map((d): SourceRow => {
    const agentGroupId = String(d.agent_group_id);
    const name = String(d.local_name);
    const targetType = String(d.target_type) as 'channel';
    const targetId = String(d.target_id);
    const base = importedLocalName(name);
    const named = (localName: string, notes: string[]) =>
      localName === name ? notes : [`local name ${JSON.stringify(name)} is ${localName} in Switchyard${localName === base ? '' : ` (${base} is taken)`}`, ...notes];
    return {
      table: 'agent_destinations',
      key: `${agentGroupId}:${name}`,
      notes: [],
      plan: (views) => {
        const sameBase = new RegExp(`^${base}(-[0-9]+)?$`);
        const current = views.destinations.list(agentGroupId).filter((row) => sameBase.test(row.local_name));
        const kept = current.find((row) => row.target_type === targetType && row.target_id === targetId);
        if (kept) return { ...unchanged, notes: named(kept.local_name, []) };
        const taken = current.find((row) => row.local_name === base);
        if (taken && base === name && taken.granted_by === 'operator:import' && !targets.has(`${agentGroupId}|${taken.target_type}|${taken.target_id}`)) {
          // The name moved to another target in NanoClaw since the last import: move it here too.
          return {
            steps: [step(RemoveDestination, { agentGroupId, localName: base }), step(AddDestination, { agentGroupId, localName: base, targetType, targetId })],
            kind: 'updated',
          };
        }
        let localName = base;
        for (let n = 2; views.destinations.find(agentGroupId, localName); n++) localName = `${base}-${n}`;
        return { steps: [step(AddDestination, { agentGroupId, localName, targetType, targetId })], kind: 'imported', notes: named(localName, []) };
      },
    };
  });
}

function wiringRow(w: Row, agentGroupName: string): SourceRow {
  const messagingGroupId = String(w.messaging_group_id);
  const agentGroupId = String(w.agent_group_id);
  const key = `${messagingGroupId}:${agentGroupId}`;
  const notes: string[] = [];
  let engage: Engage;
  if ('engage_mode' in w) {
    engage = { mode: String(w.engage_mode ?? 'mention'), pattern: text(w.engage_pattern), senderScope: String(w.sender_scope ?? 'all'), ignoredMessagePolicy: String(w.ignored_message_policy ?? 'drop') };
  } else {
    const read = engageOfSeedWiring(text(w.trigger_rules), text(w.response_scope));
    engage = read.value;
    notes.push(...read.notes);
  }
  const mapped = wiringOfEngage(engage, agentGroupName);
  if ('refused' in mapped) return { table: 'messaging_group_agents', key, notes, refused: mapped.refused };
  notes.push(...mapped.notes);
  const wanted = { messagingGroupId, agentGroupId, ...mapped.value, sessionMode: String(w.session_mode ?? 'shared') as 'shared', priority: Number(w.priority ?? 0) };
  return {
    table: 'messaging_group_agents',
    key,
    notes,
    plan: (views) => {
      const existing = views.wirings.get(messagingGroupId, agentGroupId);
      if (!existing) return { steps: [step(WireChannel, wanted)], kind: 'imported' };
      const same =
        (existing.triggerRules.pattern ?? null) === (wanted.triggerRules.pattern ?? null) &&
        existing.triggerRules.requiresTrigger === wanted.triggerRules.requiresTrigger &&
        existing.responseScope === wanted.responseScope &&
        existing.sessionMode === wanted.sessionMode &&
        existing.priority === wanted.priority;
      // Switchyard has no wiring update: unwire and wire again in one step, so the chat is never left unwired.
      return same ? unchanged : { steps: [step(UnwireChannel, { messagingGroupId, agentGroupId }), step(WireChannel, wanted)], kind: 'updated' };
    },
  };
}

function sessionRow(s: Row): SourceRow {
  const sessionId = String(s.id);
  // `status` is absent from some versions' rows: an absent one reads as active.
  const wanted = { sessionId, agentGroupId: String(s.agent_group_id), messagingGroupId: text(s.messaging_group_id), threadId: text(s.thread_id), agentProvider: text(s.agent_provider), status: text(s.status ?? null) };
  return {
    table: 'sessions',
    key: sessionId,
    notes: [],
    plan: (views) => (views.sessions.get(sessionId) ? unchanged : { steps: [step(ImportSession, wanted)], kind: 'imported' }),
  };
}

export type RowOutcome = 'imported' | 'updated' | 'unchanged' | 'refused';

/** What the import did (or, in a dry run, would do) with one row. */
export interface RowReport {
  table: NanoclawTable;
  key: string;
  outcome: RowOutcome;
  notes: string[];
  reason?: string;
}

class RowRefused extends Error {}
class RolledBack extends Error {}

/**
 * Brings Switchyard to the source in one transaction: each row is judged against the
 * state as it stands (so a re-import applies only what changed) and applied in its own
 * savepoint (a refused row leaves nothing). `keep` sees every row's outcome and decides
 * whether the transaction commits; if not, nothing of the import is written.
 */
export function applyNanoclaw(
  core: Core,
  source: NanoclawSource,
  options: { keep: (rows: readonly RowReport[]) => boolean; onProgress?: (done: number, total: number) => void },
): { rows: RowReport[]; applied: boolean } {
  const start = core.store.lastPosition();
  const rows: RowReport[] = [];
  let applied = false;
  try {
    core.store.transaction(() => {
      for (const row of source.rows) {
        rows.push(applyRow(core, row, start));
        options.onProgress?.(rows.length, source.rows.length);
      }
      if (!options.keep(rows)) throw new RolledBack();
      applied = true;
    });
  } catch (error) {
    if (!(error instanceof RolledBack)) throw error;
  }
  return { rows, applied };
}

function applyRow(core: Core, row: SourceRow, start: number): RowReport {
  const report = (outcome: RowOutcome, notes: string[], reason?: string): RowReport => ({
    table: row.table,
    key: row.key,
    outcome,
    notes: [...row.notes, ...notes],
    ...(reason !== undefined && { reason }),
  });
  if (row.refused !== undefined || !row.plan) return report('refused', [], row.refused);
  try {
    return core.store.transaction(() => {
      const plan = row.plan!(core.views);
      if ('refused' in plan) throw new RowRefused(plan.refused);
      if (plan.steps.length === 0) return report('unchanged', plan.notes ?? []);
      // The id names this import (the log's position when it began): a later import that makes the same change again is a new command.
      const envelopes = plan.steps.map((s) => s.definition.envelope(`import:nanoclaw:${row.table}:${row.key}:${s.definition.type}@${start}`, s.payload as never, { actor: 'operator:import' }));
      for (const result of core.bus.dispatchBatch(envelopes)) {
        if (result.status === 'failed') throw new RowRefused(result.error.message);
        if (result.status === 'rejected') throw new RowRefused(`${result.code}: ${result.message}`);
      }
      return report(plan.kind, plan.notes ?? []);
    });
  } catch (error) {
    if (error instanceof RowRefused) return report('refused', [], error.message);
    throw error;
  }
}

/** What copying one agent group's folder did (or would do). */
export interface FolderReport {
  folder: string;
  copied: number;
  unchanged: number;
  /** Files whose copy in Switchyard differs from NanoClaw's: Switchyard's is kept (its agent may have written it since). */
  kept: string[];
  /** Entries not copied, with why: links, devices, anything not a regular file or folder. */
  skipped: string[];
}

const MAX_FOLDER_DEPTH = 32;

/**
 * Copies `groups/<folder>/` of each imported agent group into Switchyard's group folder:
 * regular files and folders only (a link is never followed, and reported), written
 * atomically, confined to the group's folder. A file already there is not overwritten.
 */
export function copyGroupFolders(source: NanoclawSource, dataDir: string, rows: readonly RowReport[], { dryRun }: { dryRun: boolean }): FolderReport[] {
  const imported = new Set(rows.filter((r) => r.table === 'agent_groups' && r.outcome !== 'refused').map((r) => r.key));
  const reports: FolderReport[] = [];
  for (const [folder, { agentGroupId, path }] of source.groupFolders) {
    if (!imported.has(agentGroupId)) continue;
    let stat;
    try {
      stat = lstatSync(path);
    } catch {
      continue;
    }
    const report: FolderReport = { folder, copied: 0, unchanged: 0, kept: [], skipped: [] };
    reports.push(report);
    if (!stat.isDirectory()) {
      report.skipped.push(`groups/${folder}: not a folder (${stat.isSymbolicLink() ? 'a link' : 'another kind of file'})`);
      continue;
    }
    const destination = groupDir(dataDir, folder);
    const walk = (from: string, segments: string[]) => {
      for (const entry of readdirSync(from, { withFileTypes: true }).sort((a, b) => ordinal(a.name, b.name))) {
        const relative = [...segments, entry.name].join('/');
        const sourcePath = join(from, entry.name);
        if (entry.isDirectory()) {
          if (segments.length + 1 >= MAX_FOLDER_DEPTH) report.skipped.push(`${relative}: deeper than ${MAX_FOLDER_DEPTH} folders`);
          else walk(sourcePath, [...segments, entry.name]);
          continue;
        }
        const data = entry.isFile() ? readRegularFile(sourcePath) : undefined;
        if (data === undefined) {
          report.skipped.push(`${relative}: not a regular file (${entry.isSymbolicLink() ? 'a link, never followed' : 'a device, socket or pipe'})`);
          continue;
        }
        const target = join(destination, ...segments, entry.name);
        const present = existsSync(target) ? readRegularFile(target) : undefined;
        if (present?.equals(data)) report.unchanged++;
        else if (existsSync(target)) report.kept.push(relative);
        else {
          if (!dryRun) {
            mkdirSync(join(dataDir, 'groups'), { recursive: true });
            writeFileAtomic(join(ensureConfinedDir(join(dataDir, 'groups'), folder, ...segments), entry.name), data);
          }
          report.copied++;
        }
      }
    };
    try {
      walk(path, []);
    } catch (error) {
      // A link planted in Switchyard's group folder, a full disk …: this folder stops here, the others are still copied.
      report.skipped.push(`groups/${folder}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return reports;
}
