package main

import (
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/demo"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/server"
	"github.com/b2bpay/b2bpay/testkit"
)

// TestDemo runs the demo (intake of every kind of request, then the
// approval walk-through) on a database and vhost of its own: `make demo`
// must keep working.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	amqpURL := testkit.OwnVhost(t)
	dbURL := testkit.NewDatabase(t)
	cfg := server.Config{DatabaseURL: dbURL, AMQPURL: amqpURL, Location: shanghai(), Logger: slog.New(slog.DiscardHandler)}
	dir := t.TempDir()
	require.NoError(t, demo.Run(ctx, cfg, 60, dir, ""))

	// Whatever today is (a Sunday, a holiday), the file is valid and
	// settles on a business day of the demo's calendar, on or after today.
	files, err := filepath.Glob(filepath.Join(dir, "outbound", "*.xml"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	settles, err := calendar.ParseDate(requireValidFile(t, files[0]))
	require.NoError(t, err)
	require.True(t, calendar.Weekdays().IsBusinessDay(settles), "settles %s", settles)
	require.False(t, settles.Before(calendar.DateOf(time.Now(), shanghai())))

	// `b2bpay status` of the payment the demo's report returned prints the
	// return's reason code, as the API does.
	pool, err := postgres.Open(ctx, dbURL, 1)
	require.NoError(t, err)
	defer pool.Close()
	var returned string
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM payments WHERE state = 'returned'`).Scan(&returned))
	out, err := runCLI(t, dbURL, "status", returned)
	require.NoError(t, err)
	require.Regexp(t, `(?m)^\d+ .* returned +AM04 `, out)
	require.Regexp(t, `(?m)^#\s+WHEN\s+WHO\s+ACTION\s+FROM\s+TO\s+CODE\s+NOTE$`, out)

	// The bank's camt.054 was valid, picked up and processed, and the
	// settled payment is booked: the day balances.
	camts, err := filepath.Glob(filepath.Join(dir, "inbound", server.ReconSubdir, "processed", "*.xml"))
	require.NoError(t, err)
	require.Len(t, camts, 1)
	xout, err := exec.Command("xmllint", "--noout", "--schema", "../../iso20022/testdata/xsd/camt.054.001.08.xsd", camts[0]).CombinedOutput()
	require.NoError(t, err, string(xout))
	var settled int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM recon_entries WHERE class = 'settled'`).Scan(&settled))
	require.Equal(t, 1, settled)
	out, err = runCLI(t, dbURL, "recon", "report", "--date", settles.String())
	require.NoError(t, err)
	require.Contains(t, out, settles.String()+" balanced")
}
