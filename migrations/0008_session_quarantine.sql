-- A session folder the host set aside (status 'quarantined'): why, found by what, and
-- when. Cleared when an operator releases it; the history stays in the log.
ALTER TABLE sessions ADD COLUMN quarantine_reason TEXT;
ALTER TABLE sessions ADD COLUMN quarantine_component TEXT;
ALTER TABLE sessions ADD COLUMN quarantine_detail TEXT;
ALTER TABLE sessions ADD COLUMN quarantined_at TEXT;
ALTER TABLE sessions ADD COLUMN quarantined_position INTEGER;
