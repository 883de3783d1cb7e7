-- Issue 16, an index set sized to the queries that exist. Every index of the audit is one
-- more page written by each commit that adds or updates a row (a routed message wrote 22
-- pages). Two pairs answered the same lookups:
-- (message_id) and (session_id, message_id): with the message id first (and the direction
-- after the session), one index serves the lookup by id alone (explain, the operator's audit)
-- and the projection's by session, id and direction.
DROP INDEX audit_by_message;
DROP INDEX audit_by_session_outbound;
CREATE INDEX audit_by_message ON audit (message_id, session_id, direction);
-- (session_id, decided_at) and the outbound window (0023): with the direction after the
-- session, one index holds each direction's rows of a session in time order, so both the
-- newest inbound by a time and the outbound count of the last minute read it alone.
DROP INDEX audit_by_session_time;
DROP INDEX audit_outbound_by_session_time;
CREATE INDEX audit_by_session_direction_time ON audit (session_id, direction, decided_at, outcome, reason);
