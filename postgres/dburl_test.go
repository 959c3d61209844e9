package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/postgres/pgtest"
	"github.com/b2bpay/b2bpay/testkit"
)

func TestDatabaseURLHelpers(t *testing.T) {
	t.Parallel()
	multi := "postgres://app:s3cret@h1:5432,h2:5433/b2bpay?target_session_attrs=read-write"
	got, err := postgres.WithDatabase(multi, "other")
	require.NoError(t, err)
	require.Equal(t, "postgres://app:s3cret@h1:5432,h2:5433/other?target_session_attrs=read-write", got)
	got, err = postgres.WithParam(multi, "application_name", "b2bpay-x")
	require.NoError(t, err)
	require.Equal(t, "postgres://app:s3cret@h1:5432,h2:5433/b2bpay?application_name=b2bpay-x&target_session_attrs=read-write", got)
	require.Equal(t, "postgres://app:xxxxx@h1:5432,h2:5433/b2bpay?target_session_attrs=read-write", postgres.RedactURL(multi))
	require.Equal(t, "postgres://app@h1/db?password=xxxxx", postgres.RedactURL("postgres://app@h1/db?password=s3cret"))

	kv := "host=h1,h2 port=5432,5433 user=app password='s3 cret' dbname=b2bpay"
	got, err = postgres.WithDatabase(kv, "other")
	require.NoError(t, err)
	require.Equal(t, kv+" dbname='other'", got)
	require.Equal(t, "host=h1,h2 port=5432,5433 user=app password=xxxxx dbname=b2bpay", postgres.RedactURL(kv))
	require.Equal(t, "host=h1 password=xxxxx", postgres.RedactURL("host=h1 password=s3cret"))
}

// deadFirst returns raw (a URL) with a closed port, 127.0.0.1:1, listed
// before its own host.
func deadFirst(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	u.Host = "127.0.0.1:1," + u.Host
	return u.String()
}

// TestMultiHostURL: a database URL whose first host is dead reaches the
// live one, for the pool, the elector and a fresh database alike.
func TestMultiHostURL(t *testing.T) {
	t.Parallel()
	testkit.Services(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	raw := deadFirst(t, testkit.DatabaseURL(t))

	pool, err := postgres.Open(ctx, raw, 2)
	require.NoError(t, err)
	defer pool.Close()
	var db string
	require.NoError(t, pool.QueryRow(ctx, `SELECT current_database()`).Scan(&db))
	require.Equal(t, testPool(t).Config().ConnConfig.Database, db)
	require.Len(t, pool.Config().ConnConfig.Fallbacks, 1, "the dead host and the live one")

	e := postgres.NewElector(raw, electorKey(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer func() { require.NoError(t, e.Close()) }()
	require.NoError(t, e.IsLeader(ctx))

	// NewDatabase rewrites the multi-host base URL and keeps both hosts.
	dbURL, drop, err := postgres.NewDatabase(ctx, deadFirst(t, pgtest.BaseURL()), "b2bpay_test_multi_")
	require.NoError(t, err)
	defer drop()
	require.Contains(t, dbURL, "127.0.0.1:1,")
	p2, err := postgres.Open(ctx, dbURL, 1)
	require.NoError(t, err)
	defer p2.Close()
	v, err := postgres.LatestMigration()
	require.NoError(t, err)
	var got uint
	require.NoError(t, p2.QueryRow(ctx, `SELECT version FROM schema_migrations`).Scan(&got))
	require.Equal(t, v, got)
}
