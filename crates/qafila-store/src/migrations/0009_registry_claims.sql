-- Registry records a relay may not drop unnoticed (SECURITY.md): a device
-- lists the registry records it sealed in its next log record; a receiver
-- must then hold each listed one, or a newer version of its key, or the
-- sender's signed filler in its place.

-- The newest version of each registry key this device has seen (taken,
-- set aside, or sealed itself).
CREATE TABLE registry_keys (
    scope    BLOB NOT NULL,
    key      BLOB NOT NULL,
    version  INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;

-- Fillers taken: the sender's word that it no longer holds that record.
CREATE TABLE registry_fillers (
    scope   BLOB NOT NULL,
    device  BLOB NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (scope, device, seq)
) WITHOUT ROWID;

-- Listed registry records not yet accounted for, with the relay that
-- served the listing (only a clean sync with that relay settles them).
CREATE TABLE registry_claims (
    scope    BLOB NOT NULL,
    device   BLOB NOT NULL,
    seq      INTEGER NOT NULL,
    key      BLOB NOT NULL,
    version  INTEGER NOT NULL,
    relay    TEXT NOT NULL,
    PRIMARY KEY (scope, device, seq)
) WITHOUT ROWID;
