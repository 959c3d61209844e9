package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/secret"
	"github.com/b2bpay/b2bpay/testkit"
)

// scrape reads one sample of /metrics, after a refresh of the figures
// read from the database (serve refreshes them in the background).
func scrape(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	m.db.refresh(t.Context())
	return scrapeOnly(t, m, name)
}

// scrapeOnly reads one sample of /metrics as it stands.
func scrapeOnly(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	match := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(body)
	require.NotNil(t, match, "%s in /metrics:\n%s", name, body)
	v, err := strconv.ParseFloat(string(match[1]), 64)
	require.NoError(t, err)
	return v
}

// TestCutoffMetrics reads the export's alert figures from /metrics: the
// age of the last completed cutoff (+Inf before any), the batches stuck in
// claimed, and the cutoffs missed and caught up by the scheduler (a first
// start long after the latest cutoff: that cutoff was missed, and is run).
func TestCutoffMetrics(t *testing.T) {
	ctx := context.Background()
	url := testkit.NewDatabase(t)
	sec, err := NewSecurity(secret.NewKey(), 15*time.Minute, nil)
	require.NoError(t, err)
	a, err := Open(ctx, Config{DatabaseURL: url, Location: shanghai(), Logger: slog.New(slog.DiscardHandler)}, sec)
	require.NoError(t, err)
	t.Cleanup(a.Close)
	m := NewMetrics(a.Store)

	require.Equal(t, "+Inf", strconv.FormatFloat(scrape(t, m, "b2bpay_cutoff_last_completed_age_seconds"), 'f', -1, 64))
	require.Zero(t, scrape(t, m, "b2bpay_batches_claimed_stuck"))
	require.Zero(t, scrape(t, m, "b2bpay_cutoffs_missed_total"))

	// Two batches left claimed: one for 10 minutes (stuck), one for a
	// minute (being written, as far as anyone knows).
	require.NoError(t, a.Store.BankCreate(ctx, payment.Bank{ID: bankB2B, Name: "Bank", B2B: true}))
	var run int64
	require.NoError(t, a.Pool.QueryRow(ctx, `INSERT INTO cutoff_runs (cutoff_at, started_at, runner, kind)
		VALUES (now() - interval '1 day', now(), 'test', 'manual') RETURNING id`).Scan(&run))
	for i, age := range []string{"10 minutes", "1 minute"} {
		_, err := a.Pool.Exec(ctx, `INSERT INTO batches (id, cutoff_run_id, debtor_bank_id, currency, settlement_date, format,
			file_name, count, control_sum_minor, state, created_at) VALUES ($1, $2, $3, 'CNY', current_date, 'pacs.008.001.08',
			$1 || '.xml', 1, 100, 'claimed', now() - $4::interval)`, "B-STUCK-"+strconv.Itoa(i), run, bankB2B, age)
		require.NoError(t, err)
	}
	require.Equal(t, 1.0, scrape(t, m, "b2bpay_batches_claimed_stuck"))
	_, err = a.Pool.Exec(ctx, `DELETE FROM batches; DELETE FROM cutoff_runs`)
	require.NoError(t, err)

	// The scheduler starts long after the latest cutoff of its schedule
	// (every day at 00:00 in Shanghai): that cutoff was missed, it is
	// caught up.
	sched, err := calendar.NewSchedule(shanghai(), calendar.Weekdays(), "0 0 * * *")
	require.NoError(t, err)
	x, err := export.New(a.Store, export.Config{Dir: t.TempDir(), Format: iso20022.Pacs008(), Schedule: sched,
		Calendar: calendar.Weekdays(), Location: shanghai(), Runner: "test", Log: a.Log})
	require.NoError(t, err)
	latest := sched.Between(time.Now().Add(-7*24*time.Hour), time.Now())
	require.NotEmpty(t, latest)
	if time.Since(latest[len(latest)-1]) < 6*time.Minute {
		t.Skip("the latest cutoff is too recent to be missed")
	}
	s, err := a.schedule(ServeOptions{Export: x, CutoffTick: time.Hour}, m)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return scrape(t, m, "b2bpay_cutoffs_caught_up_total") == 1 }, 20*time.Second, 50*time.Millisecond)
	require.NoError(t, s.Shutdown())
	require.Equal(t, 1.0, scrape(t, m, "b2bpay_cutoffs_missed_total"))
	age := scrape(t, m, "b2bpay_cutoff_last_completed_age_seconds")
	require.InDelta(t, time.Since(latest[len(latest)-1]).Seconds(), age, 5)
}

// TestSecurityMetricsCheap: a scrape reads from memory what a background
// refresh read from the database: with the database gone, scrapes still
// answer the last figures instead of querying it (-1). That /metrics is
// apart from the API is TestSecurityMetricsApart (cmd/b2bpay).
func TestSecurityMetricsCheap(t *testing.T) {
	ctx := context.Background()
	url := testkit.NewDatabase(t)
	a, err := Open(ctx, Config{DatabaseURL: url, Location: shanghai(), Logger: slog.New(slog.DiscardHandler)}, nil)
	require.NoError(t, err)
	m := NewMetrics(a.Store)
	m.db.refresh(ctx)
	a.Pool.Close() // every query fails from here on
	for range 3 {
		require.Zero(t, scrapeOnly(t, m, "b2bpay_outbox_pending"), "the scrape did not query the database")
		require.Zero(t, scrapeOnly(t, m, "b2bpay_batches_claimed_stuck"))
	}
	m.db.refresh(ctx)
	require.Equal(t, -1.0, scrapeOnly(t, m, "b2bpay_outbox_pending"), "a failed refresh says unknown")
}
