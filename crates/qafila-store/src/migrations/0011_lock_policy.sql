-- The lead's idle-lock limit (issue 14): the newest `lock_policy` event
-- holds, read whenever the app checks whether it has sat idle too long.
CREATE INDEX events_lock_policy ON events (at) WHERE kind = 'lock_policy';
