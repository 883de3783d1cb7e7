-- The hop count and chain of every agent-to-agent message, so an answer is judged by the
-- chain it would extend, and when it was delivered, so a row that names no message it
-- answers is judged by the newest one its session received.
ALTER TABLE agent_messages ADD COLUMN hops INTEGER NOT NULL DEFAULT 1;
ALTER TABLE agent_messages ADD COLUMN chain TEXT NOT NULL DEFAULT '[]';
ALTER TABLE agent_messages ADD COLUMN delivered_at TEXT;
CREATE INDEX agent_messages_by_target ON agent_messages (target_session_id, delivered_position);

-- Per agent group limits; NULL means the host's default.
ALTER TABLE agent_groups ADD COLUMN max_hops INTEGER;
ALTER TABLE agent_groups ADD COLUMN outbound_per_minute INTEGER;

-- The rate limit counts a session's recent outbound rows.
CREATE INDEX audit_by_session_time ON audit (session_id, decided_at);
