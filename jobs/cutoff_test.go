package jobs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/jobs"
	"github.com/b2bpay/b2bpay/payment"
)

func shanghai(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	return loc
}

// cutoffExporter is an exporter on the fixture's store and clock: cutoffs
// at 10:00, 14:00 and 22:30 in Shanghai on weekdays.
func cutoffExporter(t *testing.T, f *expiryFixture, dir string, crash func(string)) *export.Exporter {
	t.Helper()
	sched, err := calendar.NewSchedule(shanghai(t), calendar.Weekdays(), "0 10 * * *", "0 14 * * *", "30 22 * * *")
	require.NoError(t, err)
	x, err := export.New(f.store, export.Config{Dir: dir, Format: iso20022.Pacs008(), MaxPerFile: 100, Schedule: sched,
		Calendar: calendar.Weekdays(), Location: shanghai(t), Runner: "test", Now: f.clock.Now, Crash: crash,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	return x
}

// executeMonday makes payments execute on Monday 9 March: the fixture
// submits them for the day after they are received.
func executeMonday(t *testing.T, f *expiryFixture, ids []string) {
	t.Helper()
	_, err := f.pool.Exec(t.Context(), `UPDATE payments SET execution_date = '2026-03-09' WHERE id::text = ANY($1)`, ids)
	require.NoError(t, err)
}

// TestCutoffsRunOnce runs the cutoffs missed since the last one, in order,
// and finishes a batch a crash left when nothing is due.
func TestCutoffsRunOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newExpiryFixture(t)
	loc := shanghai(t)
	sh := func(d, h, m int) time.Time { return time.Date(2026, 3, d, h, m, 0, 0, loc) }
	dir := t.TempDir()
	job := &jobs.Cutoffs{Export: cutoffExporter(t, f, dir, nil), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cutoffs := func(rs []export.Result) []time.Time {
		var out []time.Time
		for _, r := range rs {
			out = append(out, r.CutoffAt.In(loc))
		}
		return out
	}

	// First start, Friday night: only the latest cutoff runs.
	f.clock.Set(sh(6, 22, 31))
	res, err := job.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, []time.Time{sh(6, 22, 30)}, cutoffs(res))

	// Payments authorized Friday night and Monday morning; the processes
	// are down until Monday 15:00, when two cutoffs are due.
	f.clock.Set(sh(6, 23, 0))
	friday := f.submit(t, 2)
	f.move(t, friday, payment.StateAuthorized, sh(6, 23, 0)) // the approvals, as a fixture
	f.clock.Set(sh(9, 11, 0))
	monday := f.submit(t, 1)
	executeMonday(t, f, monday) // before the approvals: they seal the content
	f.move(t, monday, payment.StateAuthorized, sh(9, 11, 0))
	f.clock.Set(sh(9, 15, 0))
	res, err = job.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, []time.Time{sh(9, 10, 0), sh(9, 14, 0)}, cutoffs(res))
	require.Equal(t, 2, res[0].Payments, "Monday 10:00 takes Friday night's payments")
	require.Equal(t, 1, res[1].Payments, "Monday 14:00 takes the one of 11:00")
	require.Equal(t, map[payment.State]int{payment.StateExported: 3}, f.states(t, append(friday, monday...)))
	for _, r := range res {
		require.FileExists(t, filepath.Join(dir, r.Batches[0].FileName))
	}

	// Nothing due: nothing runs.
	res, err = job.RunOnce(ctx)
	require.NoError(t, err)
	require.Empty(t, res)

	// A run that crashed after its claim left a batch unwritten; the next
	// tick has no cutoff due and writes it.
	f.clock.Set(sh(9, 16, 0))
	evening := f.submit(t, 1)
	executeMonday(t, f, evening)
	f.move(t, evening, payment.StateAuthorized, sh(9, 16, 0))
	f.clock.Set(sh(9, 22, 30).Add(time.Second))
	crashing := cutoffExporter(t, f, dir, func(p string) {
		if p == export.CrashAfterClaim {
			panic(p)
		}
	})
	require.PanicsWithValue(t, export.CrashAfterClaim, func() { _, _ = crashing.RunCutoff(ctx, sh(9, 22, 30)) })
	var batchID, file, state string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT b.id, b.file_name, b.state FROM batches b JOIN batch_payments bp ON bp.batch_id = b.id
		WHERE bp.payment_id = $1`, evening[0]).Scan(&batchID, &file, &state))
	require.Equal(t, "claimed", state)
	require.NoFileExists(t, filepath.Join(dir, file))

	f.clock.Set(sh(9, 22, 31))
	res, err = job.RunOnce(ctx)
	require.NoError(t, err)
	require.Empty(t, res, "no cutoff was due")
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT state FROM batches WHERE id = $1`, batchID).Scan(&state))
	require.Equal(t, "written", state)
	raw, err := os.ReadFile(filepath.Join(dir, file))
	require.NoError(t, err)
	require.Contains(t, string(raw), "<MsgId>"+batchID+"</MsgId>")
}

// fakeExporter records what the job asks of it.
type fakeExporter struct {
	due          []time.Time
	dueErr       error
	failAt       time.Time
	writeErr     error
	ran          []time.Time
	wrotePending int
}

func (x *fakeExporter) Due(context.Context) ([]time.Time, error) { return x.due, x.dueErr }

func (x *fakeExporter) RunCutoff(_ context.Context, at time.Time) (export.Result, error) {
	x.ran = append(x.ran, at)
	if at.Equal(x.failAt) {
		return export.Result{}, errors.New("disk full")
	}
	return export.Result{CutoffAt: at}, nil
}

func (x *fakeExporter) WritePending(context.Context) ([]export.Batch, error) {
	x.wrotePending++
	return nil, x.writeErr
}

// TestCutoffsRunOnceStops: a cutoff that fails stops the later ones (they
// must not overtake it); errors from Due and WritePending are returned.
func TestCutoffsRunOnceStops(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, c := time.Unix(1000, 0), time.Unix(2000, 0), time.Unix(3000, 0)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	x := &fakeExporter{due: []time.Time{a, b, c}, failAt: b}
	res, err := (&jobs.Cutoffs{Export: x, Log: log}).RunOnce(ctx)
	require.ErrorContains(t, err, "disk full")
	require.Equal(t, []time.Time{a, b}, x.ran, "c waits for b")
	require.Equal(t, []export.Result{{CutoffAt: a}}, res)
	require.Zero(t, x.wrotePending, "a cutoff run writes pending batches itself")

	x = &fakeExporter{dueErr: errors.New("database down")}
	res, err = (&jobs.Cutoffs{Export: x}).RunOnce(ctx)
	require.ErrorContains(t, err, "database down")
	require.Empty(t, res)
	require.Empty(t, x.ran)
	require.Zero(t, x.wrotePending)

	x = &fakeExporter{writeErr: errors.New("outbound directory gone")}
	_, err = (&jobs.Cutoffs{Export: x, Log: log}).RunOnce(ctx)
	require.ErrorContains(t, err, "outbound directory gone")
	require.Equal(t, 1, x.wrotePending)
}

// TestCutoffsMissedCaughtUp: a cutoff found due past its grace is told to
// Missed once, however many ticks find it, and to CaughtUp once it runs;
// one on time is neither.
func TestCutoffsMissedCaughtUp(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	late, onTime := time.Unix(0, 0), time.Unix(3600, 0)
	now := onTime.Add(time.Minute)
	var missed, caught []time.Time
	x := &fakeExporter{due: []time.Time{late, onTime}, failAt: late}
	job := &jobs.Cutoffs{Export: x, Now: func() time.Time { return now },
		Missed: func(at time.Time) { missed = append(missed, at) }, CaughtUp: func(at time.Time) { caught = append(caught, at) }}
	for range 2 {
		_, err := job.RunOnce(ctx)
		require.ErrorContains(t, err, "disk full")
	}
	require.Equal(t, []time.Time{late}, missed, "told once")
	require.Empty(t, caught)
	x.failAt = time.Time{}
	_, err := job.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, []time.Time{late}, missed)
	require.Equal(t, []time.Time{late}, caught)
}
