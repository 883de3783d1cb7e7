import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/** The NanoClaw v2 central tables, as the spec's vocabulary describes them. */
export const NANOCLAW_SEED_SCHEMA = `
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

/** A NanoClaw data directory at the seed version: v2.db with a small topology (admin, andy, worker; two chats). */
export function buildNanoclaw(dir: string, { withWirings = true } = {}): void {
  mkdirSync(dir, { recursive: true });
  const db = new Database(join(dir, 'v2.db'));
  db.exec(withWirings ? NANOCLAW_SEED_SCHEMA : NANOCLAW_SEED_SCHEMA.replace(/CREATE TABLE messaging_group_agents[\s\S]*?\);\n/, ''));
  if (withWirings) {
    db.exec(`
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
    `);
  }
  db.close();
}
