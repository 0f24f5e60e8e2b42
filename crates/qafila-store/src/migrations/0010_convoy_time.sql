-- The convoy's day (issue 22): each convoy's time zone and the hour its
-- working day ends, from the lead's plan. Convoys from before keep Cairo
-- and 04:00, the defaults every plan without them means.
ALTER TABLE convoys ADD COLUMN zone TEXT NOT NULL DEFAULT 'Africa/Cairo';
ALTER TABLE convoys ADD COLUMN day_ends INTEGER NOT NULL DEFAULT 240;

-- What this device learnt of the time from its convoy's relay: the relay's
-- clock minus the device's own, and the device's clock when it learnt it.
-- `noted_error_ms` is the clock error this device last recorded as a
-- ClockNote (NULL: its clock is right), so an episode is noted once.
CREATE TABLE clock_reference (
    singleton      INTEGER PRIMARY KEY CHECK (singleton = 1),
    relay          TEXT,
    offset_ms      INTEGER,
    learnt_ms      INTEGER,
    noted_error_ms INTEGER
);
INSERT INTO clock_reference (singleton) VALUES (1);

-- The site-days a lead opened: few, read before every record at a site.
CREATE INDEX events_site_day_opened ON events (at) WHERE kind = 'site_day_opened';
