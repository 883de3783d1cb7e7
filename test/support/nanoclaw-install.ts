import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { SEED_MIGRATIONS, V2_0_64_MIGRATIONS } from '../../src/adapters/nanoclaw-mapping';

/** The NanoClaw v2 central tables at the seed commit (spec §11). */
export const NANOCLAW_SEED_SCHEMA = `
CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL);
CREATE UNIQUE INDEX idx_schema_version_name ON schema_version(name);
CREATE TABLE agent_groups (id TEXT PRIMARY KEY, name TEXT NOT NULL, folder TEXT NOT NULL UNIQUE, is_admin INTEGER DEFAULT 0,
  agent_provider TEXT, container_config TEXT, created_at TEXT);
CREATE TABLE messaging_groups (id TEXT PRIMARY KEY, channel_type TEXT NOT NULL, platform_id TEXT NOT NULL, name TEXT,
  is_group INTEGER DEFAULT 0, admin_user_id TEXT, created_at TEXT, UNIQUE (channel_type, platform_id));
CREATE TABLE messaging_group_agents (id TEXT PRIMARY KEY, messaging_group_id TEXT NOT NULL, agent_group_id TEXT NOT NULL,
  trigger_rules TEXT, response_scope TEXT DEFAULT 'all', session_mode TEXT DEFAULT 'shared', priority INTEGER DEFAULT 0, created_at TEXT,
  UNIQUE (messaging_group_id, agent_group_id));
CREATE TABLE agent_destinations (agent_group_id TEXT NOT NULL, local_name TEXT NOT NULL, target_type TEXT NOT NULL, target_id TEXT NOT NULL,
  created_at TEXT, PRIMARY KEY (agent_group_id, local_name));
CREATE TABLE sessions (id TEXT PRIMARY KEY, agent_group_id TEXT NOT NULL, messaging_group_id TEXT, thread_id TEXT, agent_provider TEXT,
  status TEXT DEFAULT 'active', container_status TEXT DEFAULT 'stopped', last_active TEXT, created_at TEXT);
`;

/**
 * The same tables at v2.0.64 (spec §11): no is_admin or container_config on agent groups
 * (container_configs and user roles instead), engage columns instead of trigger_rules and
 * response_scope, no admin_user_id on chats.
 */
export const NANOCLAW_V2_0_64_SCHEMA = `
CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL);
CREATE UNIQUE INDEX idx_schema_version_name ON schema_version(name);
CREATE TABLE agent_groups (id TEXT PRIMARY KEY, name TEXT NOT NULL, folder TEXT NOT NULL UNIQUE, agent_provider TEXT, created_at TEXT);
CREATE TABLE container_configs (agent_group_id TEXT PRIMARY KEY, provider TEXT, model TEXT, effort TEXT, image_tag TEXT, assistant_name TEXT,
  max_messages_per_prompt INTEGER, skills TEXT, mcp_servers TEXT, packages_apt TEXT, packages_npm TEXT, additional_mounts TEXT,
  updated_at TEXT, cli_scope TEXT);
CREATE TABLE users (id TEXT PRIMARY KEY, kind TEXT NOT NULL, display_name TEXT, created_at TEXT);
CREATE TABLE user_roles (user_id TEXT NOT NULL, role TEXT NOT NULL, agent_group_id TEXT, granted_by TEXT, granted_at TEXT);
CREATE TABLE agent_group_members (user_id TEXT NOT NULL, agent_group_id TEXT NOT NULL, added_by TEXT, added_at TEXT,
  PRIMARY KEY (user_id, agent_group_id));
CREATE TABLE user_dms (user_id TEXT NOT NULL, channel_type TEXT NOT NULL, messaging_group_id TEXT NOT NULL, resolved_at TEXT,
  PRIMARY KEY (user_id, channel_type));
CREATE TABLE messaging_groups (id TEXT PRIMARY KEY, channel_type TEXT NOT NULL, platform_id TEXT NOT NULL, name TEXT,
  is_group INTEGER DEFAULT 0, unknown_sender_policy TEXT NOT NULL DEFAULT 'strict', denied_at TEXT, created_at TEXT,
  UNIQUE (channel_type, platform_id));
CREATE TABLE messaging_group_agents (id TEXT PRIMARY KEY, messaging_group_id TEXT NOT NULL, agent_group_id TEXT NOT NULL,
  session_mode TEXT DEFAULT 'shared', priority INTEGER DEFAULT 0, created_at TEXT, engage_mode TEXT, engage_pattern TEXT,
  sender_scope TEXT, ignored_message_policy TEXT, UNIQUE (messaging_group_id, agent_group_id));
CREATE TABLE agent_destinations (agent_group_id TEXT NOT NULL, local_name TEXT NOT NULL, target_type TEXT NOT NULL, target_id TEXT NOT NULL,
  created_at TEXT, PRIMARY KEY (agent_group_id, local_name));
CREATE TABLE sessions (id TEXT PRIMARY KEY, agent_group_id TEXT NOT NULL, messaging_group_id TEXT, thread_id TEXT, agent_provider TEXT,
  status TEXT DEFAULT 'active', container_status TEXT DEFAULT 'stopped', last_active TEXT, created_at TEXT);
CREATE TABLE pending_sender_approvals (id TEXT PRIMARY KEY, messaging_group_id TEXT, sender TEXT, created_at TEXT);
CREATE TABLE pending_channel_approvals (messaging_group_id TEXT PRIMARY KEY, agent_group_id TEXT, original_message TEXT, created_at TEXT);
CREATE TABLE unregistered_senders (channel_type TEXT, platform_id TEXT, sender TEXT, first_seen TEXT);
`;


/** The same small topology at each version: admin, andy, worker; two chats. */
const SEED_ROWS = `
  INSERT INTO agent_groups VALUES ('ag-admin', 'Admin', 'admin', 1, 'claude', '{"packages":{"apt":["jq"],"npm":[]}}', '2026-01-01');
  INSERT INTO agent_groups VALUES ('ag-andy', 'Andy', 'andy', 0, NULL, NULL, '2026-01-01');
  INSERT INTO agent_groups VALUES ('ag-worker', 'Worker 1', 'worker-1', 0, NULL, '{}', '2026-01-01');
  INSERT INTO messaging_groups VALUES ('mg-family', 'telegram', '-1001', 'Family', 1, 'u-1', '2026-01-01');
  INSERT INTO messaging_groups VALUES ('mg-ops', 'slack', 'C42', 'Ops', 1, NULL, '2026-01-01');
  INSERT INTO agent_destinations VALUES ('ag-andy', 'home', 'channel', 'mg-family', '2026-01-01');
  INSERT INTO agent_destinations VALUES ('ag-admin', 'worker-1', 'agent', 'ag-worker', '2026-01-01');
  INSERT INTO agent_destinations VALUES ('ag-worker', 'parent', 'agent', 'ag-admin', '2026-01-01');
  INSERT INTO messaging_group_agents VALUES ('w1', 'mg-family', 'ag-andy', '{"pattern":"^@andy","requiresTrigger":true}', 'all', 'shared', 10, '2026-01-01');
  INSERT INTO messaging_group_agents VALUES ('w2', 'mg-ops', 'ag-admin', '{}', 'all', 'per-thread', 0, '2026-01-01');
  INSERT INTO sessions VALUES ('sess-a', 'ag-andy', 'mg-family', NULL, NULL, 'active', 'stopped', NULL, '2026-01-01');
  INSERT INTO sessions VALUES ('sess-w', 'ag-worker', NULL, NULL, NULL, 'active', 'stopped', NULL, '2026-01-01');
`;

/**
 * The same topology at v2.0.64: the owner's DM is the ops chat (answered by the admin group),
 * the family chat's admin holds a role scoped to andy; engage columns; a container_configs row.
 */
const V2_0_64_ROWS = `
  INSERT INTO agent_groups VALUES ('ag-admin', 'Admin', 'admin', 'claude', '2026-01-01');
  INSERT INTO agent_groups VALUES ('ag-andy', 'Andy', 'andy', NULL, '2026-01-01');
  INSERT INTO agent_groups VALUES ('ag-worker', 'Worker 1', 'worker-1', NULL, '2026-01-01');
  INSERT INTO container_configs (agent_group_id, packages_apt, packages_npm, mcp_servers, additional_mounts, updated_at)
    VALUES ('ag-admin', '["jq"]', '[]', '{}', '[]', '2026-05-01');
  INSERT INTO users VALUES ('slack:U1', 'slack', 'Owner', '2026-01-01');
  INSERT INTO users VALUES ('telegram:u-1', 'telegram', 'Family admin', '2026-01-01');
  INSERT INTO user_roles VALUES ('slack:U1', 'owner', NULL, NULL, '2026-01-01');
  INSERT INTO user_roles VALUES ('telegram:u-1', 'admin', 'ag-andy', 'slack:U1', '2026-01-01');
  INSERT INTO user_dms VALUES ('slack:U1', 'slack', 'mg-ops', '2026-01-01');
  INSERT INTO messaging_groups VALUES ('mg-family', 'telegram', '-1001', 'Family', 1, 'strict', NULL, '2026-01-01');
  INSERT INTO messaging_groups VALUES ('mg-ops', 'slack', 'C42', 'Ops', 1, 'strict', NULL, '2026-01-01');
  INSERT INTO agent_destinations VALUES ('ag-andy', 'home', 'channel', 'mg-family', '2026-01-01');
  INSERT INTO agent_destinations VALUES ('ag-admin', 'worker-1', 'agent', 'ag-worker', '2026-01-01');
  INSERT INTO agent_destinations VALUES ('ag-worker', 'parent', 'agent', 'ag-admin', '2026-01-01');
  INSERT INTO messaging_group_agents VALUES ('w1', 'mg-family', 'ag-andy', 'shared', 10, '2026-01-01', 'pattern', '^@andy', 'all', 'drop');
  INSERT INTO messaging_group_agents VALUES ('w2', 'mg-ops', 'ag-admin', 'per-thread', 0, '2026-01-01', 'pattern', '.', 'all', 'drop');
  INSERT INTO sessions VALUES ('sess-a', 'ag-andy', 'mg-family', NULL, NULL, 'active', 'stopped', NULL, '2026-01-01');
  INSERT INTO sessions VALUES ('sess-w', 'ag-worker', NULL, NULL, NULL, 'active', 'stopped', NULL, '2026-01-01');
`;

export type NanoclawVersion = 'seed' | 'v2.0.64';

export interface NanoclawInstallOptions {
  version?: NanoclawVersion;
  /** false: the central database lacks messaging_group_agents (a database the import cannot understand). */
  withWirings?: boolean;
  /**
   * Files of each agent group's folder, as the reference keeps them: `<install>/groups/<folder>/`,
   * beside the data directory (dir's parent).
   */
  groups?: Record<string, Record<string, string>>;
}

/**
 * A NanoClaw data directory: dir/v2.db at the seed version (schema_version 1–4) or at
 * v2.0.64 (1–13), holding the small topology above.
 */
export function buildNanoclaw(dir: string, { version = 'seed', withWirings = true, groups = {} }: NanoclawInstallOptions = {}): void {
  mkdirSync(dir, { recursive: true });
  const db = new Database(join(dir, 'v2.db'));
  const schema = version === 'seed' ? NANOCLAW_SEED_SCHEMA : NANOCLAW_V2_0_64_SCHEMA;
  db.exec(withWirings ? schema : schema.replace(/CREATE TABLE messaging_group_agents[\s\S]*?\);\n/, ''));
  const record = db.prepare('INSERT INTO schema_version (version, name, applied) VALUES (?, ?, ?)');
  (version === 'seed' ? SEED_MIGRATIONS : V2_0_64_MIGRATIONS).forEach((name, i) => record.run(i + 1, name, '2026-01-01T00:00:00.000Z'));
  if (withWirings) db.exec(version === 'seed' ? SEED_ROWS : V2_0_64_ROWS);
  db.close();
  for (const [folder, files] of Object.entries(groups)) {
    for (const [path, content] of Object.entries(files)) {
      const file = join(dirname(dir), 'groups', folder, path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, content);
    }
  }
}
