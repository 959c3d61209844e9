-- Master key versions. Each row names one master key by its key check (an
-- HMAC of a fixed label with a key derived from it: it identifies the key
-- and reveals nothing of it). The highest version is the current key:
-- serve refuses to start with a key whose check matches no row, or an
-- older one. Secrets at rest (upstream HMAC keys, OTP seeds) are all
-- sealed with the current version (`b2bpay key rotate` re-seals them);
-- MACs keep the version they were made with, and the MAC key of every
-- older version is kept here sealed with the current master key, so old
-- decisions and timeline entries still verify after a rotation.
CREATE TABLE key_versions (
    version    integer PRIMARY KEY CHECK (version BETWEEN 1 AND 255),
    key_check  bytea NOT NULL UNIQUE CHECK (length(key_check) = 32),
    -- The MAC key of this version, sealed with the current master key
    -- (additional data 'mac-key:<version>'); NULL for the current version,
    -- whose MAC key is derived from the master key and never stored.
    mac_key_sealed bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz
);
