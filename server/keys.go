package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/urfave/cli/v3"

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

// sealer is the sealer of the master key's version, for the commands that
// seal secrets (user enroll, upstream add --hmac).
func (a *app) sealer() (*secret.Sealer, error) {
	if a.ring == nil {
		return nil, errNoKey
	}
	return a.ring.Sealer, nil
}

func keyCommand() *cli.Command {
	return &cli.Command{
		Name:  "key",
		Usage: "master key versions: show them, rotate to a new key",
		Commands: []*cli.Command{{
			Name:  "status",
			Usage: "check the configured master key against the database and list the key versions",
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return withDB(ctx, cmd, func(a *app) error {
					if a.ring == nil {
						return errNoKey
					}
					versions, err := postgres.KeyVersions(ctx, a.pool)
					if err != nil {
						return err
					}
					for _, v := range versions {
						state := "retired"
						if v.Version == a.ring.Version {
							state = "current (the configured key)"
						}
						fmt.Printf("key version %d  check %x…  %s\n", v.Version, v.Check[:4], state)
					}
					return nil
				})
			},
		}, {
			Name: "rotate",
			Usage: "switch to a new master key: re-seal every upstream HMAC key and OTP seed with it, keep the older MAC keys " +
				"sealed with it so old decisions and timeline entries still verify; run with the configured (current) key and " +
				"the owner's database URL, with every serve stopped, then start them with the new key",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "new-key-file", Required: true, Usage: "file with the new 32-byte key (`b2bpay keygen`, chmod 600)"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				next, err := secret.LoadKeyFile(cmd.String("new-key-file"))
				if err != nil {
					return err
				}
				return withDB(ctx, cmd, func(a *app) error {
					if a.ring == nil {
						return fmt.Errorf("key rotate needs the current key: %w", errNoKey)
					}
					versions, err := postgres.KeyVersions(ctx, a.pool)
					if err != nil {
						return err
					}
					rot, err := a.ring.Rotate(next, versions)
					if err != nil {
						return err
					}
					done, err := postgres.KeyRotate(ctx, a.pool, rot)
					if err != nil {
						return err
					}
					fmt.Printf("master key rotated to version %d: %d upstream HMAC keys and %d OTP seeds re-sealed; "+
						"%d older MAC keys kept sealed with the new key\n", done.Version, done.Upstreams, done.Users, len(rot.Older))
					fmt.Println("now point B2BPAY_MASTER_KEY_FILE at the new key and start serve; the old key opens nothing any more " +
						"(destroy it once every serve runs with the new one); everyone signs in again")
					return nil
				})
			},
		}},
	}
}
