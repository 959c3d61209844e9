ALTER TABLE users ADD COLUMN failed_logins integer NOT NULL DEFAULT 0,
    ADD COLUMN login_locked_until timestamptz;
DROP TABLE IF EXISTS login_throttle;
