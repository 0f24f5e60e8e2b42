-- The trust model (SECURITY.md): certificates with roles and versions, key
-- grants signed by the lead, chained logs, the lead's invite secrets, voids
-- that name their target's device, and withdrawn card issuers.

-- Every certificate the lead signed for a device of a scope, by version: a
-- record of the device's log is judged by the certificate in force at its
-- seq (the highest version whose `since` it has reached). Version 0 is a
-- certificate from before roles; `role` is then `legacy`.
CREATE TABLE roster_certs (
    scope        BLOB NOT NULL,
    device       BLOB NOT NULL,
    version      INTEGER NOT NULL,
    role         TEXT NOT NULL,      -- lead | registrar | storekeeper | volunteer | legacy
    standing     TEXT NOT NULL,      -- approved | revoked
    since        INTEGER NOT NULL,
    prior_hash   BLOB NOT NULL,
    rotated_to   INTEGER NOT NULL,
    certificate  BLOB NOT NULL,
    PRIMARY KEY (scope, device, version)
) WITHOUT ROWID;

-- The roster keeps the newest certificate's role and version for screens.
ALTER TABLE roster ADD COLUMN role TEXT NOT NULL DEFAULT 'legacy';
ALTER TABLE roster ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

-- Key generations taken from a grant the lead signed (0: from before
-- signed grants; a signed grant for the same generation replaces it), and
-- the secret every device of the convoy hashes national IDs with.
ALTER TABLE scope_keys ADD COLUMN signed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE scope_keys ADD COLUMN nid_secret BLOB;

-- The chain: for each remote device, the seq and hash of the last log
-- record taken from it (NULL: not known, from before chains; the next
-- record is taken on trust). For this device, the last log record sealed.
ALTER TABLE sync_cursors ADD COLUMN chain_seq INTEGER;
ALTER TABLE sync_cursors ADD COLUMN chain_hash BLOB;
ALTER TABLE outbox_state ADD COLUMN chain_seq INTEGER;
ALTER TABLE outbox_state ADD COLUMN chain_hash BLOB;

-- The relays a convoy is published on (one per line): a revocation goes to
-- each of them.
ALTER TABLE convoys ADD COLUMN relays TEXT NOT NULL DEFAULT '';

-- Which convoy's national-ID secret this device's projections are keyed
-- with (NULL: the device's own, from before).
ALTER TABLE device ADD COLUMN nid_scope BLOB;

-- The invite codes this lead made: the secret binds the enrolling device's
-- keys, so the lead can tell a relay swapped them.
CREATE TABLE lead_invites (
    code_hash   TEXT PRIMARY KEY,
    scope       BLOB NOT NULL,
    secret      TEXT NOT NULL,
    expires_ms  INTEGER NOT NULL
) WITHOUT ROWID;

-- A void cancels its target only if it names the target's device (NULL: a
-- void from before, which names none).
ALTER TABLE voided ADD COLUMN target_device BLOB;

-- Issuer keys the lead withdrew (whatever the order the events arrive in).
CREATE TABLE issuer_withdrawals (
    key_id  INTEGER PRIMARY KEY,
    event   BLOB NOT NULL,
    reason  TEXT NOT NULL
);

-- Records set aside by the sync of earlier builds only because the key or
-- the sender's certificate had not arrived yet are fetched again: with
-- signed grants and certificates they are held, not set aside.
UPDATE sync_cursors SET seq = (
    SELECT MIN(q.seq) - 1 FROM quarantine q
    WHERE q.scope = sync_cursors.scope AND q.device = sync_cursors.device
      AND (q.reason LIKE 'sealed with key generation %' OR q.reason LIKE 'from a device the convoy lead has not certified%'))
WHERE EXISTS (
    SELECT 1 FROM quarantine q
    WHERE q.scope = sync_cursors.scope AND q.device = sync_cursors.device
      AND (q.reason LIKE 'sealed with key generation %' OR q.reason LIKE 'from a device the convoy lead has not certified%'));
DELETE FROM quarantine
WHERE reason LIKE 'sealed with key generation %' OR reason LIKE 'from a device the convoy lead has not certified%';
