-- What hosts replicating this database share besides the log (see src/adapters/pg-replica.ts).
--
-- commands: every handled command id with its first outcome, so a command repeated on
-- another host is answered as a duplicate there too. seq orders them for replicas pulling
-- the ones they lack; rows are written only under the global write lock, so seq order is
-- commit order.
CREATE TABLE commands (
  seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  command_id     text   NOT NULL,
  type           text   NOT NULL,
  payload_hash   text   NOT NULL,
  outcome        text   NOT NULL,
  handled_at     text   NOT NULL,
  CONSTRAINT commands_command_id_unique UNIQUE (command_id)
);

-- leases: which host runs what (`session:<id>`, `channel:<name>`) until when. Taken and
-- renewed with one UPSERT that succeeds only when the row is free, expired or already
-- the taker's; expiry is the server's clock, so hosts' clocks need not agree.
CREATE TABLE leases (
  name       text        PRIMARY KEY,
  holder     text        NOT NULL,
  expires_at timestamptz NOT NULL
);
