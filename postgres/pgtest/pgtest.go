// Package pgtest gives each test run a database of its own on the real
// PostgreSQL server, migrated to the current schema, so runs never see each
// other's data.
package pgtest

import (
	"context"
	"fmt"
	"os"

	"github.com/b2bpay/b2bpay/postgres"
)

// DefaultURL is the server used when B2BPAY_TEST_DATABASE_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// BaseURL returns the URL of the database used to create test databases.
func BaseURL() string {
	if u := os.Getenv("B2BPAY_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// NewDatabase creates a fresh database named b2bpay_test_<random>, applies
// the migrations, and returns its URL and a cleanup that drops it.
func NewDatabase(ctx context.Context) (string, func(), error) {
	dbURL, drop, err := postgres.NewDatabase(ctx, BaseURL(), "b2bpay_test_")
	if err != nil {
		return "", nil, fmt.Errorf("pgtest: %w", err)
	}
	return dbURL, drop, nil
}
