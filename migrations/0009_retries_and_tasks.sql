-- What the log says about a session's messages beyond routing: the scheduled task each
-- task row is (the only source a recurring task is re-armed from: inbound.db rows are
-- agent-reachable and never trusted), and the retries of messages a dead agent had claimed.
-- previous_message_id: the occurrence a task re-arms; each is re-armed once, whichever path
-- saw it end first.
CREATE TABLE tasks (
  session_id    TEXT NOT NULL,
  message_id    TEXT NOT NULL,
  task_id       TEXT NOT NULL,
  prompt        TEXT NOT NULL,
  script        TEXT,
  recurrence    TEXT,
  process_after TEXT NOT NULL,
  platform_id   TEXT,
  channel_type  TEXT,
  thread_id     TEXT,
  previous_message_id TEXT,
  PRIMARY KEY (session_id, message_id)
);
CREATE INDEX tasks_by_previous ON tasks (session_id, previous_message_id);

-- status: retrying | failed. attempts: the runs that ended without an answer.
CREATE TABLE message_retries (
  session_id     TEXT NOT NULL,
  message_id     TEXT NOT NULL,
  status         TEXT NOT NULL,
  attempts       INTEGER NOT NULL,
  due_at         TEXT,
  incarnation_id TEXT,
  PRIMARY KEY (session_id, message_id)
);
