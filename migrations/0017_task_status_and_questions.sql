-- status: active | paused | cancelled, for every occurrence of the task alike: a paused task
-- is re-armed paused, a cancelled one never again.
ALTER TABLE tasks ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
CREATE INDEX tasks_by_task ON tasks (task_id, session_id);

-- An agent's ask_question card routed to a chat, waiting for a click there (spec §1 pending
-- question). The first card routed under a question id keeps it. status: pending | answered.
CREATE TABLE questions (
  question_id     TEXT PRIMARY KEY,
  session_id      TEXT NOT NULL,
  outbound_id     TEXT NOT NULL,
  channel_type    TEXT NOT NULL,
  platform_id     TEXT NOT NULL,
  thread_id       TEXT,
  options         TEXT NOT NULL,
  status          TEXT NOT NULL,
  asked_at        TEXT NOT NULL,
  selected_option TEXT,
  answered_by     TEXT,
  answered_at     TEXT
);
