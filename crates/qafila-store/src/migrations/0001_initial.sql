-- Qafila device store, schema 1. Migrations are append-only: never edit a
-- released file; add the next one. Checksums are verified at every open.

-- This device: its id, name, the organisation secret for national-ID hashes,
-- and the newest hybrid timestamp it has issued or seen.
CREATE TABLE device (
    singleton    INTEGER PRIMARY KEY CHECK (singleton = 1),
    id           BLOB NOT NULL,
    name         TEXT NOT NULL,
    nid_secret   BLOB NOT NULL,
    clock        INTEGER NOT NULL,
    next_seq     INTEGER NOT NULL,
    created_ms   INTEGER NOT NULL
);

-- Every event, ours and received. `seq` orders each device's own log, which
-- is what sync cursors count.
CREATE TABLE events (
    id         BLOB PRIMARY KEY,
    device     BLOB NOT NULL,
    seq        INTEGER,
    at         INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    household  BLOB,
    body       BLOB NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX events_device_seq ON events (device, seq) WHERE seq IS NOT NULL;
CREATE INDEX events_household ON events (household) WHERE household IS NOT NULL;

-- Automerge changes, per device and day document, in log order.
CREATE TABLE doc_chunks (
    device  BLOB NOT NULL,
    day     TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    bytes   BLOB NOT NULL,
    PRIMARY KEY (device, seq)
) WITHOUT ROWID;
CREATE INDEX doc_chunks_day ON doc_chunks (device, day);

-- Registry projections. Personal data (name, phone) lives only here and in
-- sealed form in events; erasing a person clears these columns and their key.
CREATE TABLE households (
    id          BLOB PRIMARY KEY,
    size        INTEGER NOT NULL,
    village     TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE beneficiaries (
    id          BLOB PRIMARY KEY,
    household   BLOB NOT NULL,
    village     TEXT NOT NULL,
    name        TEXT,
    name_key    TEXT,
    phone       TEXT,
    nid_hash    BLOB,
    nid_last4   TEXT,
    erased      INTEGER NOT NULL DEFAULT 0,
    registered  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX beneficiaries_nid ON beneficiaries (nid_hash) WHERE nid_hash IS NOT NULL;
CREATE INDEX beneficiaries_household ON beneficiaries (household);
CREATE INDEX beneficiaries_name_key ON beneficiaries (name_key, village) WHERE name_key IS NOT NULL;

-- One row per token of a beneficiary's normalised name: prefix search on
-- any part of the name is a range scan of this index.
CREATE TABLE name_tokens (
    token        TEXT NOT NULL,
    beneficiary  BLOB NOT NULL,
    position     INTEGER NOT NULL,
    PRIMARY KEY (token, beneficiary, position)
) WITHOUT ROWID;

-- Per-beneficiary keys that seal their personal data in events.
CREATE TABLE beneficiary_keys (
    beneficiary  BLOB PRIMARY KEY,
    key          BLOB NOT NULL
) WITHOUT ROWID;

-- Rounds and their entitlements (text form, e.g. `blanket=1/2,cap=3`).
CREATE TABLE rounds (
    id            BLOB PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    entitlements  TEXT NOT NULL,
    created_ms    INTEGER NOT NULL,
    is_current    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Distribution sites, by name.
CREATE TABLE sites (
    id        BLOB PRIMARY KEY,
    name      TEXT NOT NULL,
    name_key  TEXT NOT NULL UNIQUE
) WITHOUT ROWID;

-- Hot-path projections: what each household received per round and item,
-- and which households checked in on which day.
CREATE TABLE served (
    household       BLOB NOT NULL,
    round           BLOB NOT NULL,
    item            TEXT NOT NULL,
    received_milli  INTEGER NOT NULL,
    PRIMARY KEY (household, round, item)
) WITHOUT ROWID;

CREATE TABLE check_ins (
    household  BLOB NOT NULL,
    day        TEXT NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (household, day)
) WITHOUT ROWID;

-- Voids, by target, so a void that arrives before its target still applies.
CREATE TABLE voided (
    target  BLOB PRIMARY KEY,
    void    BLOB NOT NULL
) WITHOUT ROWID;

-- Sync cursors: for each scope and remote device, the last record applied.
CREATE TABLE sync_cursors (
    scope   BLOB NOT NULL,
    device  BLOB NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (scope, device)
) WITHOUT ROWID;
