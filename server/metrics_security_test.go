package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/postgres/pgtest"
)

// TestSecurityMetricsApartAndCheap: /metrics is not on the API port that
// clients reach (there it is a 404 like any unknown route), but on its own
// address; and a scrape reads from memory what a background refresh read
// from the database: with the database gone, scrapes still answer the
// last figures instead of querying it (-1).
func TestSecurityMetricsApartAndCheap(t *testing.T) {
	e := newEnv(t)
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	status, _ := get("http://" + e.apiAddr + "/metrics")
	require.Equal(t, http.StatusNotFound, status, "no metrics on the API port")
	status, body := get("http://" + e.metricsAddr + "/metrics")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "b2bpay_outbox_pending")

	ctx := context.Background()
	url, drop, err := pgtest.NewDatabase(ctx)
	require.NoError(t, err)
	t.Cleanup(drop)
	a, err := openDB(ctx, config{DatabaseURL: url, Location: shanghai(), Logger: slog.New(slog.DiscardHandler)}, nil)
	require.NoError(t, err)
	m := newMetrics(a.store)
	m.db.refresh(ctx)
	a.pool.Close() // every query fails from here on
	for range 3 {
		require.Zero(t, scrapeOnly(t, m, "b2bpay_outbox_pending"), "the scrape did not query the database")
		require.Zero(t, scrapeOnly(t, m, "b2bpay_batches_claimed_stuck"))
	}
	m.db.refresh(ctx)
	require.Equal(t, -1.0, scrapeOnly(t, m, "b2bpay_outbox_pending"), "a failed refresh says unknown")
}
