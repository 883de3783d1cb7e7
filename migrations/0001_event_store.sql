-- The event log: the only source of truth. Everything else in this database is derived
-- from it (projections) or bookkeeping about handling it (commands, checkpoints).
CREATE TABLE events (
  position       INTEGER PRIMARY KEY,
  event_id       TEXT    NOT NULL UNIQUE,
  stream         TEXT    NOT NULL,
  stream_version INTEGER NOT NULL,
  type           TEXT    NOT NULL,
  schema_version INTEGER NOT NULL,
  data           TEXT    NOT NULL,
  metadata       TEXT    NOT NULL,
  UNIQUE (stream, stream_version)
);

CREATE INDEX events_by_type ON events (type, position);

CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
BEGIN
  SELECT RAISE(ABORT, 'events are append-only: UPDATE is refused');
END;

CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
BEGIN
  SELECT RAISE(ABORT, 'events are append-only: DELETE is refused');
END;

-- One row per handled command id: a repeated id returns this outcome and appends nothing.
CREATE TABLE commands (
  command_id   TEXT PRIMARY KEY,
  type         TEXT NOT NULL,
  payload_hash TEXT NOT NULL,
  outcome      TEXT NOT NULL,
  handled_at   TEXT NOT NULL
) WITHOUT ROWID;

-- Last position each event-driven adapter has handled, so a restart catches up from there.
CREATE TABLE checkpoints (
  consumer   TEXT PRIMARY KEY,
  position   INTEGER NOT NULL,
  updated_at TEXT NOT NULL
) WITHOUT ROWID;
