-- The rate limit counts a session's outbound rows of the last minute on every outbound
-- decision. Through audit_by_session_time that read every audit row of the session in the
-- minute, inbound ones too, each with a lookup in the table for its direction, outcome and
-- reason: at a busy session's pace, the largest cost of routing its answers. This index
-- holds just the outbound rows with what the count needs, so the count reads the index alone.
CREATE INDEX audit_outbound_by_session_time ON audit (session_id, decided_at, outcome, reason) WHERE direction = 'outbound';
