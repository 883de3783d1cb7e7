-- Read models for inbound routing. Column names follow the reference host's central
-- database so tools written against it can read these tables.
CREATE TABLE agent_groups (
  id               TEXT PRIMARY KEY,
  name             TEXT NOT NULL,
  folder           TEXT NOT NULL UNIQUE,
  is_admin         INTEGER NOT NULL DEFAULT 0,
  agent_provider   TEXT,
  container_config TEXT NOT NULL,
  created_at       TEXT NOT NULL,
  created_position INTEGER NOT NULL,
  deleted_at       TEXT
);

CREATE TABLE messaging_groups (
  id               TEXT PRIMARY KEY,
  channel_type     TEXT NOT NULL,
  platform_id      TEXT NOT NULL,
  name             TEXT,
  is_group         INTEGER NOT NULL DEFAULT 0,
  admin_user_id    TEXT,
  registered_by    TEXT NOT NULL,
  created_at       TEXT NOT NULL,
  UNIQUE (channel_type, platform_id)
);

CREATE TABLE messaging_group_agents (
  messaging_group_id TEXT NOT NULL,
  agent_group_id     TEXT NOT NULL,
  trigger_rules      TEXT NOT NULL,
  response_scope     TEXT NOT NULL DEFAULT 'all',
  session_mode       TEXT NOT NULL DEFAULT 'shared',
  priority           INTEGER NOT NULL DEFAULT 0,
  wired_position     INTEGER NOT NULL,
  created_at         TEXT NOT NULL,
  PRIMARY KEY (messaging_group_id, agent_group_id)
);

CREATE INDEX messaging_group_agents_by_agent ON messaging_group_agents (agent_group_id);

CREATE TABLE sessions (
  id                 TEXT PRIMARY KEY,
  agent_group_id     TEXT NOT NULL,
  messaging_group_id TEXT,
  thread_id          TEXT,
  session_mode       TEXT NOT NULL,
  agent_provider     TEXT,
  status             TEXT NOT NULL DEFAULT 'active',
  last_active        TEXT,
  created_at         TEXT NOT NULL,
  opened_position    INTEGER NOT NULL
);

CREATE INDEX sessions_by_chat ON sessions (messaging_group_id, thread_id);
CREATE INDEX sessions_by_agent ON sessions (agent_group_id, session_mode);
