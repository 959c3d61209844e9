package server

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/b2bpay/b2bpay/keyring"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/secret"
)

// openRing checks master against the database's key versions and returns
// its ring. A database that records none gets master as version 1, once
// master is seen to open what is already sealed there.
func openRing(ctx context.Context, pool *pgxpool.Pool, master []byte) (*keyring.Ring, error) {
	for attempt := 0; attempt < 2; attempt++ {
		versions, err := postgres.KeyVersions(ctx, pool)
		if errors.Is(err, postgres.ErrNoKeyVersions) {
			// Not migrated yet (the demo and the benchmark migrate after
			// opening; serve refuses such a database right after): the key
			// is recorded by the first start after the migration.
			return keyring.Open(master, nil)
		}
		if err != nil {
			return nil, err
		}
		ring, err := keyring.Open(master, versions)
		if err != nil {
			return nil, err
		}
		if ring.First == nil {
			return ring, nil
		}
		sealed, ad, ok, err := postgres.SealedSample(ctx, pool)
		if err != nil {
			return nil, err
		}
		if ok {
			if _, err := ring.Sealer.Open(sealed, ad); err != nil {
				return nil, fmt.Errorf("%w: it does not open the secrets sealed in this database (%s); "+
					"set B2BPAY_MASTER_KEY_FILE or B2BPAY_MASTER_KEY to the key they were sealed with", keyring.ErrWrongKey, adKind(ad))
			}
		}
		if err := postgres.KeyVersionFirst(ctx, pool, *ring.First); err != nil {
			return nil, err
		}
		// Read the versions again: another process may have recorded
		// its key first.
	}
	return nil, errors.New("keyring: the key versions changed while starting; start again")
}

// adKind is the kind of secret additional data names ("upstream-hmac",
// "otp-seed"), never the secret.
func adKind(ad []byte) string {
	for i, c := range ad {
		if c == ':' {
			return string(ad[:i])
		}
	}
	return "secret"
}

// Sealer is the sealer of the master key's version, for the commands that
// seal secrets (user enroll, upstream add --hmac).
func (a *App) Sealer() (*secret.Sealer, error) {
	if a.Ring == nil {
		return nil, ErrNoKey
	}
	return a.Ring.Sealer, nil
}

// KeyStatus writes the database's key versions and which one the
// configured master key is.
func (a *App) KeyStatus(ctx context.Context, w io.Writer) error {
	if a.Ring == nil {
		return ErrNoKey
	}
	versions, err := postgres.KeyVersions(ctx, a.Pool)
	if err != nil {
		return err
	}
	for _, v := range versions {
		state := "retired"
		if v.Version == a.Ring.Version {
			state = "current (the configured key)"
		}
		fmt.Fprintf(w, "key version %d  check %x…  %s\n", v.Version, v.Check[:4], state)
	}
	return nil
}

// KeyRotate switches to the master key next: every upstream HMAC key and
// OTP seed is sealed again with it, the older MAC keys are kept sealed
// with it so old decisions and timeline entries still verify. It runs
// with the current key configured, every serve stopped.
func (a *App) KeyRotate(ctx context.Context, w io.Writer, next []byte) error {
	if a.Ring == nil {
		return fmt.Errorf("key rotate needs the current key: %w", ErrNoKey)
	}
	versions, err := postgres.KeyVersions(ctx, a.Pool)
	if err != nil {
		return err
	}
	rot, err := a.Ring.Rotate(next, versions)
	if err != nil {
		return err
	}
	done, err := postgres.KeyRotate(ctx, a.Pool, rot)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "master key rotated to version %d: %d upstream HMAC keys and %d OTP seeds re-sealed; "+
		"%d older MAC keys kept sealed with the new key\n", done.Version, done.Upstreams, done.Users, len(rot.Older))
	fmt.Fprintln(w, "now point B2BPAY_MASTER_KEY_FILE at the new key and start serve; the old key opens nothing any more "+
		"(destroy it once every serve runs with the new one); everyone signs in again")
	return nil
}
