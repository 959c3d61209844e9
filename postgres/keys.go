package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/keyring"
)

// ErrNoKeyVersions is returned by KeyVersions on a database not yet
// migrated to key versions (migration 0008).
var ErrNoKeyVersions = errors.New("postgres: the database has no key versions table: run `b2bpay migrate` (as the owner role)")

// KeyVersions reads the master key versions the database records, oldest
// first.
func KeyVersions(ctx context.Context, pool *pgxpool.Pool) ([]keyring.Version, error) {
	rows, err := pool.Query(ctx, `SELECT version, key_check, mac_key_sealed FROM key_versions ORDER BY version`)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		return nil, ErrNoKeyVersions
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: key versions: %w", err)
	}
	vs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyring.Version, error) {
		var v keyring.Version
		err := row.Scan(&v.Version, &v.Check, &v.SealedMACKey)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: key versions: %w", err)
	}
	return vs, nil
}

// KeyVersionFirst records the first key version, unless another process
// recorded one meanwhile (then it does nothing: open the ring again).
func KeyVersionFirst(ctx context.Context, pool *pgxpool.Pool, v keyring.Version) error {
	_, err := pool.Exec(ctx, `INSERT INTO key_versions (version, key_check) VALUES ($1, $2) ON CONFLICT DO NOTHING`, v.Version, v.Check)
	if err != nil {
		return fmt.Errorf("postgres: record key version %d: %w", v.Version, err)
	}
	return nil
}

// SealedSample returns one sealed secret and the additional data it is
// bound to (an upstream's HMAC key, else a user's OTP seed), to check a
// master key against before recording it; ok is false when nothing is
// sealed.
func SealedSample(ctx context.Context, pool *pgxpool.Pool) (sealed, ad []byte, ok bool, err error) {
	var id string
	err = pool.QueryRow(ctx, `SELECT id, hmac_key_sealed FROM upstreams WHERE hmac_key_sealed IS NOT NULL ORDER BY id LIMIT 1`).Scan(&id, &sealed)
	if err == nil {
		return sealed, intake.KeyAD(id), true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, false, fmt.Errorf("postgres: sealed sample: %w", err)
	}
	err = pool.QueryRow(ctx, `SELECT id, otp_sealed FROM users WHERE otp_sealed IS NOT NULL ORDER BY id LIMIT 1`).Scan(&id, &sealed)
	if err == nil {
		return sealed, OTPSeedAD(id), true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, false, fmt.Errorf("postgres: sealed sample: %w", err)
	}
	return nil, nil, false, nil
}

// KeyRotated is what a rotation changed.
type KeyRotated struct {
	Version   int // the new current version
	Upstreams int // HMAC keys re-sealed
	Users     int // OTP seeds re-sealed
}

// KeyRotate applies a rotation in one transaction: it checks that the
// current version is still rot.From, re-seals every upstream HMAC key and
// every OTP seed with the new key, stores the older versions' MAC keys
// sealed with the new key, marks them retired and records the new version.
// A secret that does not open with the current key stops it (nothing
// changes). Serve instances still running with the old key can open
// nothing sealed afterwards: stop them first, restart them with the new
// key.
func KeyRotate(ctx context.Context, pool *pgxpool.Pool, rot *keyring.Rotation) (KeyRotated, error) {
	out := KeyRotated{Version: rot.Next.Version}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return out, fmt.Errorf("postgres: key rotate: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// No one records a version, seals an upstream key or enrols an OTP seed
	// meanwhile.
	if _, err := tx.Exec(ctx, `LOCK TABLE key_versions, upstreams, users IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
			return out, fmt.Errorf("postgres: key rotate: %w: run it with the owner role's database URL (serve's role may not change key versions)", err)
		}
		return out, fmt.Errorf("postgres: key rotate: lock: %w", err)
	}
	var cur int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM key_versions`).Scan(&cur); err != nil {
		return out, fmt.Errorf("postgres: key rotate: %w", err)
	}
	if cur != rot.From {
		return out, fmt.Errorf("postgres: key rotate: the current key version is %d, not %d: another rotation ran; start again", cur, rot.From)
	}
	type row struct {
		id     string
		sealed []byte
	}
	reseal := func(what, query, update string, ad func(string) []byte) (int, error) {
		rows, err := tx.Query(ctx, query)
		if err != nil {
			return 0, fmt.Errorf("postgres: key rotate: %s: %w", what, err)
		}
		rs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			return x, r.Scan(&x.id, &x.sealed)
		})
		if err != nil {
			return 0, fmt.Errorf("postgres: key rotate: %s: %w", what, err)
		}
		for _, r := range rs {
			s, err := rot.Reseal(r.sealed, ad(r.id))
			if err != nil {
				return 0, fmt.Errorf("postgres: key rotate: %s %s does not open with the current key (%w); nothing was changed", what, r.id, err)
			}
			if _, err := tx.Exec(ctx, update, r.id, s, rot.Next.Version); err != nil {
				return 0, fmt.Errorf("postgres: key rotate: %s %s: %w", what, r.id, err)
			}
		}
		return len(rs), nil
	}
	if out.Upstreams, err = reseal("upstream HMAC key", `SELECT id, hmac_key_sealed FROM upstreams WHERE hmac_key_sealed IS NOT NULL ORDER BY id`,
		`UPDATE upstreams SET hmac_key_sealed = $2, key_version = $3 WHERE id = $1`, intake.KeyAD); err != nil {
		return out, err
	}
	if out.Users, err = reseal("OTP seed of user", `SELECT id, otp_sealed FROM users WHERE otp_sealed IS NOT NULL ORDER BY id`,
		`UPDATE users SET otp_sealed = $2, otp_key_version = $3 WHERE id = $1`, OTPSeedAD); err != nil {
		return out, err
	}
	for _, v := range rot.Older {
		tag, err := tx.Exec(ctx, `UPDATE key_versions SET mac_key_sealed = $2, retired_at = COALESCE(retired_at, now()) WHERE version = $1`,
			v.Version, v.SealedMACKey)
		if err != nil {
			return out, fmt.Errorf("postgres: key rotate: version %d: %w", v.Version, err)
		}
		if tag.RowsAffected() != 1 {
			return out, fmt.Errorf("postgres: key rotate: key version %d is not recorded", v.Version)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO key_versions (version, key_check) VALUES ($1, $2)`, rot.Next.Version, rot.Next.Check); err != nil {
		return out, fmt.Errorf("postgres: key rotate: record version %d: %w", rot.Next.Version, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return out, fmt.Errorf("postgres: key rotate: %w", err)
	}
	return out, nil
}
