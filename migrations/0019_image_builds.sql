-- Every build of an agent group's image (issue 18). status: building | built | failed.
-- The group's image is the tag of its latest built row; a row left building by a host
-- that stopped is failed and rebuilt at the next start.
CREATE TABLE image_builds (
  build_id          TEXT PRIMARY KEY,
  agent_group_id    TEXT NOT NULL,
  status            TEXT NOT NULL,
  trigger           TEXT NOT NULL,
  packages          TEXT NOT NULL,
  tag               TEXT,
  hash              TEXT,
  size_bytes        INTEGER,
  resolved          TEXT,
  reused            INTEGER,
  duration_ms       INTEGER,
  reason            TEXT,
  log_tail          TEXT,
  started_at        TEXT NOT NULL,
  finished_at       TEXT,
  finished_position INTEGER,
  pruned_at         TEXT
);
CREATE INDEX image_builds_by_group ON image_builds (agent_group_id, status, finished_position);
