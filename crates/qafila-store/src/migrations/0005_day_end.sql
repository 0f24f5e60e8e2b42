-- The lead's day end: closes, reviews and site places are few, and the app
-- reads them on every hand-out (a closed day refuses new records), so they
-- get a small partial index instead of a scan of every event.
CREATE INDEX events_day_end ON events (kind)
    WHERE kind IN ('day_close', 'anomaly_reviewed', 'site_described');
