-- The hop count and chain of every agent-to-agent message, so an answer is judged by the
-- chain it would extend, and when it was delivered, so a row that names no message it
-- answers is judged by the newest one its session received. A table of its own (owned by
-- the agent-messages projection) rather than columns on agent_messages, so it does not
-- depend on how that table came to be.
CREATE TABLE agent_message_chains (
  message_id         TEXT PRIMARY KEY,
  target_session_id  TEXT NOT NULL,
  hops               INTEGER NOT NULL,
  chain              TEXT NOT NULL,
  delivered_position INTEGER NOT NULL,
  delivered_at       TEXT NOT NULL
);
CREATE INDEX agent_message_chains_by_session ON agent_message_chains (target_session_id, delivered_position);

-- Per agent group limits; NULL means the host's default.
ALTER TABLE agent_groups ADD COLUMN max_hops INTEGER;
ALTER TABLE agent_groups ADD COLUMN outbound_per_minute INTEGER;

-- The rate limit counts a session's recent outbound rows.
CREATE INDEX audit_by_session_time ON audit (session_id, decided_at);
