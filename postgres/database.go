package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// NewDatabase creates a fresh database named prefix followed by random hex
// on the server of baseURL, applies the migrations, and returns its URL
// and a drop that removes it. The test kit and the benchmark run on such
// databases, so runs never see each other's data.
func NewDatabase(ctx context.Context, baseURL, prefix string) (string, func(), error) {
	admin, err := connectPrimary(ctx, baseURL)
	if err != nil {
		return "", nil, fmt.Errorf("connect %s: %w", RedactURL(baseURL), err)
	}
	defer admin.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := prefix + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	dbURL, err := WithDatabase(baseURL, name)
	if err != nil {
		return "", nil, err
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := connectPrimary(ctx, baseURL)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	if err := waitVisible(ctx, dbURL); err != nil {
		drop()
		return "", nil, err
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		drop()
		return "", nil, err
	}
	defer pool.Close()
	if _, err := Migrate(ctx, pool); err != nil {
		drop()
		return "", nil, err
	}
	return dbURL, drop, nil
}

// RecreateDatabase drops database name (letters, digits and _ only: the
// caller checks) on the server of baseURL, creates it empty and returns
// its URL. The demo starts from such a database every run.
func RecreateDatabase(ctx context.Context, baseURL, name string) (string, error) {
	admin, err := WithDatabase(baseURL, "postgres")
	if err != nil {
		return "", err
	}
	conn, err := connectPrimary(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	dbURL, err := WithDatabase(baseURL, name)
	if err != nil {
		return "", err
	}
	return dbURL, waitVisible(ctx, dbURL)
}

// waitVisible waits, up to 30 s, until a database just created can be
// connected to through dbURL. With several hosts (a primary and its
// standby) pgx tries them in order but gives up at the first server that
// says the database does not exist (SQLSTATE 3D000), which a standby
// listed before the primary says until it has replayed the CREATE
// DATABASE: a synchronous commit waits for the standby's flush, not its
// replay. The fault suite met this after a failover had put the standby
// first in the URL.
func waitVisible(ctx context.Context, dbURL string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := connectPrimary(ctx, dbURL)
		if err == nil {
			return c.Close(ctx)
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "3D000" || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("connect to the new database: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
