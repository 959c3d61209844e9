package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

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
	return WithDatabase(baseURL, name)
}
