package export_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/payment"
)

// TestSettlesOnBusinessDay: a run on a day the clearing system is closed
// (a Sunday, China's National Day, a weekend in 2027) writes a file that
// settles on the next business day of the calendar, never on the day off;
// it claims what executes by that business day. The files are XSD-valid.
func TestSettlesOnBusinessDay(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	dir := t.TempDir()
	cn := calendar.China()
	x := f.exporter(t, f.store, dir, func(c *export.Config) { c.Calendar, c.Schedule = cn, schedule(t, cn) })

	for _, tc := range []struct {
		run          time.Time
		exec, settle string
		why          string
	}{
		{at(2026, 10, 1, 10, 0), "2026-10-08", "2026-10-08", "National Day (1-7 October): the first business day after"},
		{at(2026, 12, 6, 10, 0), "2026-12-07", "2026-12-07", "Sunday 6 December, the demo's day: Monday"},
		{at(2026, 12, 13, 10, 0), "2026-12-14", "2026-12-14", "Sunday 13 December: Monday"},
		{at(2027, 1, 2, 10, 0), "", "", "Saturday 2 January 2027: a business day per the calendar"},
	} {
		day := calendar.DateOf(tc.run, shanghai())
		settle := tc.settle
		if settle == "" {
			d := cn.NextBusinessDay(day)
			require.True(t, cn.IsBusinessDay(d))
			settle = d.String()
		}
		exec := tc.exec
		if exec == "" {
			exec = settle
		}
		// Payments received and authorized the day before, one executing
		// on the business day the run settles on, one the day after.
		f.clock.Set(tc.run.Add(-24 * time.Hour))
		due := f.submit(t, bankCNAPS, "CNY", 1, exec)
		later := f.submit(t, bankCNAPS, "CNY", 1, calendar.DateOf(tc.run, shanghai()).AddDays(0).String())
		_, err := f.pool.Exec(ctx, `UPDATE payments SET execution_date = $2 WHERE id::text = ANY($1)`, later,
			must(calendar.ParseDate(settle)).AddDays(1).Time(time.UTC))
		require.NoError(t, err)
		f.authorize(t, append(due, later...), tc.run.Add(-time.Hour))

		f.clock.Set(tc.run.Add(5 * time.Second))
		res, err := x.RunCutoff(ctx, tc.run)
		require.NoError(t, err, tc.why)
		require.Len(t, res.Batches, 1, tc.why)
		b := res.Batches[0]
		require.Equal(t, settle, b.SettlementDate.Format(payment.DateLayout), tc.why)
		require.NotEqual(t, day.String(), b.SettlementDate.Format(payment.DateLayout), tc.why)
		path := filepath.Join(dir, b.FileName)
		validate(t, path)
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Contains(t, string(raw), "<IntrBkSttlmDt>"+settle+"</IntrBkSttlmDt>", tc.why)
		require.Equal(t, settle, readManifest(t, path).SettlementDate)
		require.Equal(t, due, paymentsInFile(t, path), "%s: what executes by the business day it settles on", tc.why)
		f.requireStates(t, later, payment.StateAuthorized)
		// The payment left for later goes with the next run.
		_, err = f.pool.Exec(ctx, `UPDATE payments SET state = 'cancelled' WHERE id::text = ANY($1)`, later)
		require.NoError(t, err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
