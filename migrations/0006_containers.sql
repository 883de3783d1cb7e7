-- Each session's container as the lifecycle events leave it: one row per session, for its
-- latest start (the history is in the log). status: starting | running | idle | stopping |
-- stopped | failed.
CREATE TABLE containers (
  session_id       TEXT PRIMARY KEY,
  agent_group_id   TEXT NOT NULL,
  incarnation_id   TEXT NOT NULL,
  runtime          TEXT NOT NULL,
  image            TEXT NOT NULL,
  runtime_id       TEXT,
  status           TEXT NOT NULL,
  woken_by         TEXT NOT NULL,
  starting_at      TEXT NOT NULL,
  started_at       TEXT,
  idle_since       TEXT,
  stop_reason      TEXT,
  stop_evidence    TEXT,
  stopped_at       TEXT,
  exit_code        INTEGER,
  signal           TEXT,
  stderr_tail      TEXT,
  starts           INTEGER NOT NULL,
  updated_position INTEGER NOT NULL
);

CREATE INDEX containers_by_status ON containers (status);

-- The reference's sessions.container_status (running | idle | stopped), derived.
CREATE VIEW session_container_status AS
SELECT s.id AS session_id,
       CASE
         WHEN c.status IN ('starting', 'running', 'stopping') THEN 'running'
         WHEN c.status = 'idle' THEN 'idle'
         ELSE 'stopped'
       END AS container_status
FROM sessions s LEFT JOIN containers c ON c.session_id = s.id;
