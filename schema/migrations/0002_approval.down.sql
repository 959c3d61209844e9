ALTER TABLE outbox DROP COLUMN IF EXISTS discard_unroutable;
DROP TABLE IF EXISTS audit_log, decisions, sessions, approval_tiers, user_limits;
ALTER TABLE payment_timeline DROP COLUMN IF EXISTS prev_hash, DROP COLUMN IF EXISTS hash;
ALTER TABLE payments DROP COLUMN IF EXISTS required_authorizers, DROP COLUMN IF EXISTS head_hash;
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_otp_sealed_version,
    DROP COLUMN IF EXISTS password_hash, DROP COLUMN IF EXISTS failed_logins,
    DROP COLUMN IF EXISTS login_locked_until, DROP COLUMN IF EXISTS otp_sealed,
    DROP COLUMN IF EXISTS otp_key_version, DROP COLUMN IF EXISTS otp_enrolled_at,
    DROP COLUMN IF EXISTS otp_last_step, DROP COLUMN IF EXISTS otp_failures,
    DROP COLUMN IF EXISTS otp_locked_until;
