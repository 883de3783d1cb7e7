-- The event log on PostgreSQL: the same rows as SQLite's events table (migrations/0001),
-- data and metadata kept as text so a copied log compares byte for byte (jsonb would
-- reorder keys and reformat). Positions come from a sequence, so they are handed out at
-- insert and may commit out of order or not at all (rollbacks leave gaps): readers order
-- and checkpoint on (transaction_id, position), see src/events/pg-store.ts.
CREATE SEQUENCE events_position AS bigint;

CREATE TABLE events (
  position       bigint  PRIMARY KEY DEFAULT nextval('events_position'),
  event_id       text    NOT NULL,
  stream         text    NOT NULL,
  stream_version integer NOT NULL,
  type           text    NOT NULL,
  schema_version integer NOT NULL,
  data           text    NOT NULL,
  metadata       text    NOT NULL,
  transaction_id xid8    NOT NULL DEFAULT pg_current_xact_id(),
  CONSTRAINT events_event_id_unique UNIQUE (event_id),
  CONSTRAINT events_stream_version_unique UNIQUE (stream, stream_version)
);

ALTER SEQUENCE events_position OWNED BY events.position;

CREATE INDEX events_by_transaction ON events (transaction_id, position);

CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'events are append-only: % is refused', TG_OP USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER events_refuse_update_delete BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION events_refuse_change();

CREATE TRIGGER events_refuse_truncate BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
