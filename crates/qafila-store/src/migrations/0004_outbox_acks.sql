-- Qafila device store, schema 4: what no relay has confirmed yet, for the
-- app's sync chip ("N records waiting to leave this device").

-- How many of this device's events a log record carries, and whether a
-- relay has confirmed holding it. Rows sealed before this schema count as
-- confirmed: the next sync re-sends whatever a relay still lacks anyway,
-- whatever this column says.
ALTER TABLE outbox ADD COLUMN events INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN acked INTEGER NOT NULL DEFAULT 1;
