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

// requireTimes checks two lists of instants are the same, whatever zones.
func requireTimes(t *testing.T, want, got []time.Time) {
	t.Helper()
	format := func(ts []time.Time) []string {
		var out []string
		for _, x := range ts {
			out = append(out, x.In(shanghai()).Format("Mon 2006-01-02 15:04"))
		}
		return out
	}
	require.Equal(t, format(want), format(got))
}

// TestDue: with no cutoff run yet only the latest is due; after a pause,
// every cutoff missed is due, in order, business days only (weekends,
// China's holidays skipped, its make-up Saturdays kept).
func TestDue(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	dir := t.TempDir()
	weekdays := f.exporter(t, f.store, dir)
	china := f.exporter(t, f.store, dir, func(c *export.Config) {
		c.Calendar, c.Schedule = calendar.China(), schedule(t, calendar.China())
	})
	// record runs a cutoff (nothing is authorized) so it is the last one.
	record := func(x *export.Exporter, cutoff time.Time) {
		f.clock.Set(cutoff.Add(time.Second))
		res, err := x.RunCutoff(ctx, cutoff)
		require.NoError(t, err)
		require.Empty(t, res.Batches)
	}

	// No cutoff run yet: only the latest, even days after the previous.
	f.clock.Set(at(2026, 2, 10, 15, 0))
	due, err := weekdays.Due(ctx)
	require.NoError(t, err)
	requireTimes(t, []time.Time{at(2026, 2, 10, 14, 0)}, due)
	f.clock.Set(at(2026, 2, 9, 8, 0)) // Monday before the first cutoff
	due, err = weekdays.Due(ctx)
	require.NoError(t, err)
	requireTimes(t, []time.Time{at(2026, 2, 6, 22, 30)}, due)

	// Spring Festival: Saturday 14 February is a make-up working day, 15-23
	// February are holidays.
	record(china, at(2026, 2, 13, 22, 30))
	f.clock.Set(at(2026, 2, 24, 10, 0).Add(30 * time.Second))
	due, err = china.Due(ctx)
	require.NoError(t, err)
	requireTimes(t, []time.Time{
		at(2026, 2, 14, 10, 0), at(2026, 2, 14, 14, 0), at(2026, 2, 14, 22, 30),
		at(2026, 2, 24, 10, 0),
	}, due)
	// The weekdays calendar knows no holidays but skips the Saturday.
	due, err = weekdays.Due(ctx)
	require.NoError(t, err)
	require.Len(t, due, 3*6+1)
	require.Equal(t, time.Monday, due[0].In(shanghai()).Weekday())

	// Nothing is due again until the next cutoff passes.
	record(china, at(2026, 2, 24, 10, 0))
	due, err = china.Due(ctx)
	require.NoError(t, err)
	require.Empty(t, due)
	f.clock.Set(at(2026, 2, 24, 14, 0))
	due, err = china.Due(ctx)
	require.NoError(t, err)
	requireTimes(t, []time.Time{at(2026, 2, 24, 14, 0)}, due)

	// A weekend: Friday 6 March 22:30 to Tuesday 10:00, two business days on.
	record(weekdays, at(2026, 3, 6, 22, 30))
	f.clock.Set(at(2026, 3, 10, 10, 0).Add(30 * time.Second))
	due, err = weekdays.Due(ctx)
	require.NoError(t, err)
	requireTimes(t, []time.Time{
		at(2026, 3, 9, 10, 0), at(2026, 3, 9, 14, 0), at(2026, 3, 9, 22, 30),
		at(2026, 3, 10, 10, 0),
	}, due)

	// Qingming: 4-6 April are holidays (Saturday to Monday).
	record(china, at(2026, 4, 2, 22, 30))
	f.clock.Set(at(2026, 4, 8, 10, 0).Add(30 * time.Second))
	due, err = china.Due(ctx)
	require.NoError(t, err)
	requireTimes(t, []time.Time{
		at(2026, 4, 3, 10, 0), at(2026, 4, 3, 14, 0), at(2026, 4, 3, 22, 30),
		at(2026, 4, 7, 10, 0), at(2026, 4, 7, 14, 0), at(2026, 4, 7, 22, 30),
		at(2026, 4, 8, 10, 0),
	}, due)
}

// TestCatchUpSettlesToday: a cutoff caught up late settles today, or on
// the next business day when today is not one; never in the past.
func TestCatchUpSettlesToday(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	dir := t.TempDir()
	x := f.exporter(t, f.store, dir)

	// The last run was Friday 6 March 22:30. Payments authorized after it
	// wait over the weekend while every process is down.
	f.clock.Set(at(2026, 3, 6, 22, 30).Add(time.Second))
	_, err := x.RunCutoff(ctx, at(2026, 3, 6, 22, 30))
	require.NoError(t, err)
	f.clock.Set(at(2026, 3, 6, 23, 0))
	monday := f.submit(t, bankCNAPS, "CNY", 2, "2026-03-09")
	tuesday := f.submit(t, bankCNAPS, "CNY", 1, "2026-03-10")
	f.authorize(t, append(monday, tuesday...), at(2026, 3, 6, 23, 5))

	// Back on Tuesday at 10:00:30: four cutoffs are due, run in order.
	f.clock.Set(at(2026, 3, 10, 10, 0).Add(30 * time.Second))
	due, err := x.Due(ctx)
	require.NoError(t, err)
	require.Len(t, due, 4)
	var batches []string
	for _, c := range due {
		res, err := x.RunCutoff(ctx, c)
		require.NoError(t, err)
		for _, b := range res.Batches {
			batches = append(batches, b.ID)
			require.Equal(t, "2026-03-10", b.SettlementDate.Format(payment.DateLayout),
				"a cutoff of %s caught up on Tuesday settles Tuesday", c.In(shanghai()).Format(time.DateTime))
			raw, err := os.ReadFile(filepath.Join(dir, b.FileName))
			require.NoError(t, err)
			require.Contains(t, string(raw), "<IntrBkSttlmDt>2026-03-10</IntrBkSttlmDt>")
		}
	}
	// Monday 10:00, settling Tuesday, takes all three: what executes by
	// the settlement date.
	require.Equal(t, []string{"B20260309100000-0001"}, batches)
	f.requireComplete(t, dir, append(monday, tuesday...))
	due, err = x.Due(ctx)
	require.NoError(t, err)
	require.Empty(t, due)

	// Caught up on a Saturday: the next business day, Monday 16 March.
	f.clock.Set(at(2026, 3, 13, 10, 0).Add(time.Second))
	_, err = x.RunCutoff(ctx, at(2026, 3, 13, 10, 0))
	require.NoError(t, err)
	f.clock.Set(at(2026, 3, 13, 11, 0))
	friday := f.submit(t, bankBIC, "USD", 1, "2026-03-13")
	f.authorize(t, friday, at(2026, 3, 13, 11, 0))
	f.clock.Set(at(2026, 3, 14, 9, 0))
	due, err = x.Due(ctx)
	require.NoError(t, err)
	requireTimes(t, []time.Time{at(2026, 3, 13, 14, 0), at(2026, 3, 13, 22, 30)}, due)
	res, err := x.RunCutoff(ctx, due[0])
	require.NoError(t, err)
	require.Len(t, res.Batches, 1)
	require.Equal(t, "2026-03-16", res.Batches[0].SettlementDate.Format(payment.DateLayout))

	// On time, a cutoff settles its own day, even a nightly one.
	res, err = x.RunCutoff(ctx, due[1])
	require.NoError(t, err)
	require.Empty(t, res.Batches)
	f.clock.Set(at(2026, 3, 16, 9, 0))
	late := f.submit(t, bankCNAPS, "USD", 1, "2026-03-16")
	f.authorize(t, late, at(2026, 3, 16, 21, 0))
	f.clock.Set(at(2026, 3, 16, 22, 30).Add(time.Second))
	res, err = x.RunCutoff(ctx, at(2026, 3, 16, 22, 30))
	require.NoError(t, err)
	require.Len(t, res.Batches, 1)
	require.Equal(t, "2026-03-16", res.Batches[0].SettlementDate.Format(payment.DateLayout))
}

// TestDueManualRuns: a manual run neither freezes nor hides the schedule.
// After a manual run three minutes in the future, the scheduled cutoffs
// in between are still due; a manual run at a scheduled instant is that
// instant's run (never run twice); a manual run at another instant hides
// none; every scheduled instant runs exactly once.
func TestDueManualRuns(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	x := f.exporter(t, f.store, t.TempDir())
	due := func() []time.Time {
		t.Helper()
		d, err := x.Due(ctx)
		require.NoError(t, err)
		return d
	}
	run := func(manual bool, at time.Time) {
		t.Helper()
		var err error
		if manual {
			_, err = x.RunManual(ctx, at)
		} else {
			_, err = x.RunCutoff(ctx, at)
		}
		require.NoError(t, err)
	}

	// The scheduler ran Tuesday 10:00.
	f.clock.Set(at(2026, 3, 10, 10, 0).Add(time.Second))
	run(false, at(2026, 3, 10, 10, 0))
	// At 13:58 an operator runs a cutoff --at 14:01 (forced).
	f.clock.Set(at(2026, 3, 10, 13, 58))
	run(true, at(2026, 3, 10, 14, 1))
	require.Empty(t, due())
	// 14:00 passes: it is due, the manual run at 14:01 notwithstanding.
	f.clock.Set(at(2026, 3, 10, 14, 0).Add(30 * time.Second))
	requireTimes(t, []time.Time{at(2026, 3, 10, 14, 0)}, due())
	// The scheduler is down until Wednesday 10:05; meanwhile an operator
	// runs the 22:30 cutoff by hand (at its instant) and one at 23:00.
	f.clock.Set(at(2026, 3, 10, 22, 30).Add(time.Second))
	run(true, at(2026, 3, 10, 22, 30))
	f.clock.Set(at(2026, 3, 10, 23, 0).Add(time.Second))
	run(true, at(2026, 3, 10, 23, 0))
	f.clock.Set(at(2026, 3, 11, 10, 5))
	got := due()
	requireTimes(t, []time.Time{at(2026, 3, 10, 14, 0), at(2026, 3, 11, 10, 0)}, got)
	for _, c := range got {
		run(false, c)
	}
	require.Empty(t, due())

	// Every scheduled instant from the first to now: exactly one run each.
	rows, err := f.pool.Query(ctx, `SELECT cutoff_at, kind FROM cutoff_runs ORDER BY cutoff_at`)
	require.NoError(t, err)
	runs := map[string]string{}
	for rows.Next() {
		var c time.Time
		var kind string
		require.NoError(t, rows.Scan(&c, &kind))
		runs[c.In(shanghai()).Format("Mon 15:04")] = kind
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]string{
		"Tue 10:00": "scheduled", "Tue 14:00": "scheduled", "Tue 14:01": "manual", "Tue 22:30": "manual", "Tue 23:00": "manual",
		"Wed 10:00": "scheduled",
	}, runs)
}

// TestDueOnlyManualRuns: with no scheduled run on record, the scheduler
// catches up from the latest manual run that has come (none in the
// future), and with none, runs only the latest cutoff.
func TestDueOnlyManualRuns(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	x := f.exporter(t, f.store, t.TempDir())
	f.clock.Set(at(2026, 3, 10, 9, 0))
	_, err := x.RunManual(ctx, at(2026, 3, 10, 15, 0)) // forced, in the future
	require.NoError(t, err)
	f.clock.Set(at(2026, 3, 10, 14, 30))
	due, err := x.Due(ctx)
	require.NoError(t, err)
	requireTimes(t, []time.Time{at(2026, 3, 10, 14, 0)}, due)
	f.clock.Set(at(2026, 3, 11, 10, 30))
	due, err = x.Due(ctx)
	require.NoError(t, err)
	requireTimes(t, []time.Time{at(2026, 3, 10, 22, 30), at(2026, 3, 11, 10, 0)}, due)
}
