-- The sign-in lock, for every user id typed, known or not (issue 11): a
-- lock that only existing users could get told who exists. A row is named
-- by an HMAC of the user id as typed (the key derived from the master key,
-- never stored), so an unknown id, which may be a password typed in the
-- wrong field, is never stored in clear. It replaces users.failed_logins
-- and users.login_locked_until (the down migration brings them back).
CREATE TABLE login_throttle (
    subject      bytea PRIMARY KEY,
    failures     integer NOT NULL CHECK (failures >= 0),
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX login_throttle_updated_at ON login_throttle (updated_at);

ALTER TABLE users DROP COLUMN failed_logins, DROP COLUMN login_locked_until;
