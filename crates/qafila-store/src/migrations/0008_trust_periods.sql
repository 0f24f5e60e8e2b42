-- What review of the trust model added (SECURITY.md).

-- Certificates gain the roles a device held before their `since`, as the
-- lead signed them into it (`earlier`: one line per period, "since role",
-- role `legacy` for a certificate from before roles, oldest first); and a
-- version is kept once per standing, so the approval and the revocation
-- from before roles (both version 0) are both kept, and the revocation
-- wins whichever arrived first.
CREATE TABLE roster_certs_all (
    scope        BLOB NOT NULL,
    device       BLOB NOT NULL,
    version      INTEGER NOT NULL,
    role         TEXT NOT NULL,
    standing     TEXT NOT NULL,
    since        INTEGER NOT NULL,
    prior_hash   BLOB NOT NULL,
    rotated_to   INTEGER NOT NULL,
    certificate  BLOB NOT NULL,
    earlier      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (scope, device, version, standing)
) WITHOUT ROWID;
INSERT INTO roster_certs_all
        (scope, device, version, role, standing, since, prior_hash, rotated_to, certificate)
    SELECT scope, device, version, role, standing, since, prior_hash, rotated_to, certificate
    FROM roster_certs;
DROP TABLE roster_certs;
ALTER TABLE roster_certs_all RENAME TO roster_certs;

-- Every void of a target is kept, not only the first: a void naming
-- another device than the target's (a rogue device's) no longer takes the
-- place of the lead's genuine one when it arrives first.
CREATE TABLE voided_all (
    target         BLOB NOT NULL,
    void           BLOB NOT NULL,
    target_device  BLOB,
    PRIMARY KEY (target, void)
) WITHOUT ROWID;
INSERT INTO voided_all (target, void, target_device)
    SELECT target, void, target_device FROM voided;
DROP TABLE voided;
ALTER TABLE voided_all RENAME TO voided;

-- The device an invite code bound at approval: a code binds one device's
-- keys, however many devices a relay lets enroll with it.
ALTER TABLE lead_invites ADD COLUMN used_by BLOB;
