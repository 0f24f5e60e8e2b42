-- Cards, issuers and merges (the cards issue).

-- Issuer keys this device trusts: its own, and every key announced by a
-- certified device of a convoy it syncs (`card_issuer_added` events).
CREATE TABLE card_issuers (
    key_id       INTEGER NOT NULL,
    public       BLOB NOT NULL,
    association  TEXT NOT NULL,
    event        BLOB NOT NULL,
    PRIMARY KEY (key_id, public)
) WITHOUT ROWID;

-- This device's own issuing keys. The secret half never enters an event and
-- never syncs; `next_counter` numbers the cards it signs.
CREATE TABLE issuer_secrets (
    key_id        INTEGER PRIMARY KEY,
    secret        BLOB NOT NULL,
    association   TEXT NOT NULL,
    next_counter  INTEGER NOT NULL DEFAULT 1,
    created_ms    INTEGER NOT NULL
);

-- Every card issued (or reissued), from its events. A serial is
-- key id × 2^32 + counter, so serials from different keys never collide.
CREATE TABLE cards (
    serial       INTEGER PRIMARY KEY,
    beneficiary  BLOB NOT NULL,
    round        BLOB,
    event        BLOB NOT NULL
);
CREATE INDEX cards_beneficiary ON cards (beneficiary);

-- Revoked serials (revoked, or replaced by a reissue). Whatever the arrival
-- order, the revocation with the smallest event id is the one shown.
CREATE TABLE card_revocations (
    serial       INTEGER PRIMARY KEY,
    event        BLOB NOT NULL,
    reason       TEXT NOT NULL,
    replaced_by  INTEGER
);

-- Registry entries a registrar merged into another: the duplicate is
-- retired, and its household's hand-outs count for the kept one's.
CREATE TABLE merges (
    merged  BLOB PRIMARY KEY,
    kept    BLOB NOT NULL,
    event   BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX merges_kept ON merges (kept);

-- Pairs a registrar on this device judged to be two different people, so
-- the duplicate queue stops showing them (smaller id first).
CREATE TABLE duplicate_dismissals (
    a  BLOB NOT NULL,
    b  BLOB NOT NULL,
    PRIMARY KEY (a, b)
) WITHOUT ROWID;

-- Two devices can register one national ID while offline; both entries must
-- arrive (and show in the duplicate queue) instead of one being dropped.
DROP INDEX beneficiaries_nid;
CREATE INDEX beneficiaries_nid ON beneficiaries (nid_hash) WHERE nid_hash IS NOT NULL;
