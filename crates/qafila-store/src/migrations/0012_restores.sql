-- Key backups (issue 14): a store made from a lead's backup, per convoy it
-- leads, and whether it has taken back its own log from the relay yet
-- (until then it records nothing, so nothing collides with that log).
CREATE TABLE restores (
    scope           BLOB PRIMARY KEY,
    backup_made_ms  INTEGER NOT NULL,
    restored_ms     INTEGER NOT NULL,
    recovered       INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
