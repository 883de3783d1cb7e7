-- Approval requests of every kind (install_packages, add_mcp_server, request_rebuild), with
-- exactly the payload shown and its hash. status: pending | approved | rejected | expired.
CREATE TABLE approvals (
  approval_id      TEXT PRIMARY KEY,
  session_id       TEXT NOT NULL,
  agent_group_id   TEXT NOT NULL,
  outbound_id      TEXT NOT NULL,
  action           TEXT NOT NULL,
  payload          TEXT NOT NULL,
  payload_hash     TEXT NOT NULL,
  shown_text       TEXT NOT NULL,
  admin_chat       TEXT NOT NULL,
  status           TEXT NOT NULL,
  requested_at     TEXT NOT NULL,
  expires_at       TEXT NOT NULL,
  decided_by       TEXT,
  decided_at       TEXT,
  reason           TEXT,
  refused_attempts INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX approvals_by_status ON approvals (status, expires_at);

-- Set when an approval asks for the agent group's image to be rebuilt before its next start.
ALTER TABLE agent_groups ADD COLUMN image_rebuild_requested_at TEXT;
