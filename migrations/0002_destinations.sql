-- The named destination map, which is also the ACL. Temporal: a row is never updated
-- except to close it, so "the ACL as of position N" is
--   granted_at <= N AND (revoked_at IS NULL OR revoked_at > N).
CREATE TABLE destinations (
  agent_group_id TEXT    NOT NULL,
  local_name     TEXT    NOT NULL,
  target_type    TEXT    NOT NULL CHECK (target_type IN ('channel', 'agent')),
  target_id      TEXT    NOT NULL,
  granted_at     INTEGER NOT NULL,
  granted_time   TEXT    NOT NULL,
  granted_by     TEXT    NOT NULL,
  revoked_at     INTEGER,
  revoked_time   TEXT,
  revoked_by     TEXT,
  PRIMARY KEY (agent_group_id, local_name, granted_at)
);

CREATE UNIQUE INDEX destinations_current_name
  ON destinations (agent_group_id, local_name) WHERE revoked_at IS NULL;

CREATE INDEX destinations_current_target
  ON destinations (agent_group_id, target_type, target_id) WHERE revoked_at IS NULL;

-- The reference host's table, for tools that read it: today's rows only.
CREATE VIEW agent_destinations AS
  SELECT agent_group_id, local_name, target_type, target_id, granted_time AS created_at
  FROM destinations WHERE revoked_at IS NULL;
