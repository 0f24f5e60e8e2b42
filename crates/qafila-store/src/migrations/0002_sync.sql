-- Qafila device store, schema 2: sync through a blind relay.

-- This device's keys: Ed25519 (signs requests and records) and X25519
-- (receives scope keys wrapped by a convoy lead).
CREATE TABLE identity (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    signing     BLOB NOT NULL,
    encryption  BLOB NOT NULL
);

-- Convoys (sync scopes) this device belongs to.
CREATE TABLE convoys (
    id            BLOB PRIMARY KEY,
    name          TEXT NOT NULL,
    day           TEXT NOT NULL,
    relay         TEXT NOT NULL,
    role          TEXT NOT NULL,      -- lead | member
    status        TEXT NOT NULL,      -- pending | approved | revoked
    lead          BLOB NOT NULL,
    lead_signing  BLOB NOT NULL,
    sites         TEXT NOT NULL,      -- site names, one per line
    joined_ms     INTEGER NOT NULL
) WITHOUT ROWID;

-- Scope key generations, and the stable secret that makes registry keys.
CREATE TABLE scope_keys (
    scope   BLOB NOT NULL,
    epoch   INTEGER NOT NULL,
    key     BLOB NOT NULL,
    index_secret BLOB NOT NULL,
    PRIMARY KEY (scope, epoch)
) WITHOUT ROWID;

-- The devices of a scope whose lead-signed certificates checked out.
CREATE TABLE roster (
    scope       BLOB NOT NULL,
    device      BLOB NOT NULL,
    name        TEXT NOT NULL,
    signing     BLOB NOT NULL,
    encryption  BLOB NOT NULL,
    status      TEXT NOT NULL,
    PRIMARY KEY (scope, device)
) WITHOUT ROWID;

-- How far this device's log has been sealed into records of each scope.
CREATE TABLE outbox_state (
    scope           BLOB PRIMARY KEY,
    next_record     INTEGER NOT NULL,
    sealed_through  INTEGER NOT NULL
) WITHOUT ROWID;

-- Sealed records, byte for byte: a retry sends the same bytes, so it can
-- never conflict with itself. Log records are kept (another relay, such as
-- a site relay, may need them); registry records, which hold personal
-- data, are dropped once a relay has them.
CREATE TABLE outbox (
    scope   BLOB NOT NULL,
    seq     INTEGER NOT NULL,
    keyed   INTEGER NOT NULL,
    bytes   BLOB NOT NULL,
    PRIMARY KEY (scope, seq)
) WITHOUT ROWID;

-- Registry entries this device published to (or received from) a scope.
CREATE TABLE registry_published (
    scope        BLOB NOT NULL,
    beneficiary  BLOB NOT NULL,
    version      INTEGER NOT NULL,
    PRIMARY KEY (scope, beneficiary)
) WITHOUT ROWID;

-- Records that were authentic but could not be applied, set aside.
CREATE TABLE quarantine (
    scope        BLOB NOT NULL,
    device       BLOB NOT NULL,
    seq          INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    received_ms  INTEGER NOT NULL,
    PRIMARY KEY (scope, device, seq)
) WITHOUT ROWID;
