-- One row per message, inbound or outbound, with its final outcome and the positions of
-- the events that decided it. audit_id is the command id of the message, unique across
-- chats and sessions; message_id is what an operator sees (the host's inbound id, or the
-- container's messages_out id).
CREATE TABLE audit (
  audit_id            TEXT PRIMARY KEY,
  message_id          TEXT NOT NULL,
  direction           TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  outcome             TEXT NOT NULL CHECK (outcome IN ('routed', 'delivered', 'dropped', 'failed')),
  reason              TEXT,
  rule                TEXT,
  agent_group_id      TEXT,
  session_id          TEXT,
  messaging_group_id  TEXT,
  target              TEXT,
  platform_message_id TEXT,
  attempts            INTEGER NOT NULL DEFAULT 0,
  decided_position    INTEGER NOT NULL,
  last_position       INTEGER NOT NULL,
  decided_at          TEXT NOT NULL,
  updated_at          TEXT NOT NULL
);

CREATE INDEX audit_by_message ON audit (message_id);
CREATE INDEX audit_by_agent_group ON audit (agent_group_id, decided_at);
CREATE INDEX audit_by_outcome ON audit (outcome, decided_at);
CREATE INDEX audit_by_time ON audit (decided_at);
CREATE INDEX audit_by_session_outbound ON audit (session_id, message_id);

-- Agent-to-agent messages by the id the target sees, so a reply (in_reply_to) finds the
-- session of the conversation it answers.
CREATE TABLE agent_messages (
  message_id            TEXT PRIMARY KEY,
  target_session_id     TEXT NOT NULL,
  target_agent_group_id TEXT NOT NULL,
  source_session_id     TEXT NOT NULL,
  source_agent_group_id TEXT NOT NULL,
  delivered_position    INTEGER NOT NULL
);

-- The positions of every event in a message's story, so `explain` reads them by key.
CREATE TABLE audit_trace (
  audit_id TEXT    NOT NULL,
  position INTEGER NOT NULL,
  PRIMARY KEY (audit_id, position)
) WITHOUT ROWID;
