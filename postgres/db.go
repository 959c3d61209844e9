// Package postgres is b2bpay's storage on PostgreSQL with pgx: the registry,
// payments and their timelines, the intake ledger and the outbox. Each
// method that changes state runs one transaction: it loads and locks what it
// needs, lets the domain decide, and writes the new state, the timeline entry
// and the outgoing messages before it commits.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"time"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/schema"
	"github.com/b2bpay/b2bpay/seal"
)

// Config configures a Store.
type Config struct {
	// Now is the clock; tests pin it. Defaults to time.Now.
	Now func() time.Time
	// Location is the customers' time zone, used for business dates.
	Location *time.Location
	// EventMessage turns a status event into the message that carries it.
	EventMessage func(payment.Event) (outbox.Message, error)
	// TaskMessage, when set, turns a payment waiting for a stage into the
	// task message staff take (authorizationsDone counts those applied).
	TaskMessage func(p *payment.Payment, s payment.Stage, authorizationsDone int) (outbox.Message, error)
	// Seal makes the MACs of decisions and timeline entries and checks
	// them at the export claim; its key is derived from the master key
	// and never stored (older versions' keys check older MACs). Without it
	// the store writes no timeline entry.
	Seal *seal.Key
	// LoginKey names the rows of the sign-in lock (login_throttle): an
	// HMAC of the user id as typed, so that an unknown id (perhaps a
	// password typed in the wrong field) is never stored in clear. It is
	// derived from the master key; without it (tests) a plain SHA-256.
	LoginKey []byte
	Logger   *slog.Logger
}

// Store is the PostgreSQL implementation of b2bpay's storage.
type Store struct {
	pool *pgxpool.Pool
	cfg  Config
}

// New returns a Store over pool.
func New(pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if cfg.EventMessage == nil {
		return nil, errors.New("postgres: Config.EventMessage is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Store{pool: pool, cfg: cfg}, nil
}

// Pool returns the store's connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Open connects a pool to url and checks that the database answers.
func Open(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse database url: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	requirePrimary(&cfg.ConnConfig.Config)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: ping %s: %w", RedactURL(url), err)
	}
	return pool, nil
}

// Migrate applies every embedded migration not yet applied to the database
// at url and returns the resulting version. Running it twice is harmless.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (uint, error) {
	src, err := iofs.New(schema.Migrations, "migrations")
	if err != nil {
		return 0, fmt.Errorf("postgres: read migrations: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	driver, err := migratepgx.WithInstance(db, &migratepgx.Config{MigrationsTable: "schema_migrations"})
	if err != nil {
		return 0, fmt.Errorf("postgres: migration driver: %w", err)
	}
	// The driver holds a connection taken from pool; close it, or the pool's
	// Close blocks forever waiting for that connection to come back.
	defer func() { _ = driver.Close() }()
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", driver)
	if err != nil {
		return 0, fmt.Errorf("postgres: migrator: %w", err)
	}
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return 0, fmt.Errorf("postgres: migrate up: %w", err)
	}
	v, dirty, err := m.Version()
	if err != nil {
		return 0, fmt.Errorf("postgres: migration version: %w", err)
	}
	if dirty {
		return v, fmt.Errorf("postgres: migration %d is dirty; fix it by hand before going on", v)
	}
	_ = ctx
	return v, nil
}

// LatestMigration is the version of the newest migration in this binary.
func LatestMigration() (uint, error) {
	ups, err := fs.Glob(schema.Migrations, "migrations/*.up.sql")
	if err != nil {
		return 0, err
	}
	var latest uint
	for _, name := range ups {
		var v uint
		if _, err := fmt.Sscanf(path.Base(name), "%d_", &v); err == nil && v > latest {
			latest = v
		}
	}
	return latest, nil
}

// CheckMigrated refuses a database that is not at this binary's latest
// migration (or is dirty), so a process never runs against a schema it
// does not know.
func CheckMigrated(ctx context.Context, pool *pgxpool.Pool) error {
	want, err := LatestMigration()
	if err != nil {
		return err
	}
	var have int64
	var dirty bool
	err = pool.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations LIMIT 1`).Scan(&have, &dirty)
	if err != nil {
		return fmt.Errorf("postgres: the database has no migrations (%v): run `b2bpay migrate`", err)
	}
	switch {
	case dirty:
		return fmt.Errorf("postgres: migration %d is dirty; fix it by hand before going on", have)
	case uint(have) != want:
		return fmt.Errorf("postgres: the database is at migration %d, this build needs %d: run `b2bpay migrate`", have, want)
	}
	return nil
}
