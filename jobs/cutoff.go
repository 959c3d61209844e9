package jobs

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/b2bpay/b2bpay/export"
)

// Exporter is the export as the cutoff job drives it.
type Exporter interface {
	Due(ctx context.Context) ([]time.Time, error)
	RunCutoff(ctx context.Context, cutoffAt time.Time) (export.Result, error)
	WritePending(ctx context.Context) ([]export.Batch, error)
}

// DefaultGrace is how long after its instant a scheduled cutoff still
// counts as run on time.
const DefaultGrace = 5 * time.Minute

// Cutoffs runs the cutoffs that are due: on every tick it runs each
// scheduled cutoff that has no run yet (so cutoffs missed while every
// process was down are caught up, in order), and finishes any batch a crash
// left unwritten. Several processes may tick: the scheduler's elector lets
// one run, and the database's unique cutoff record settles any race.
type Cutoffs struct {
	Export Exporter
	Log    *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Grace is how late a cutoff may run and still count as on time
	// (DefaultGrace when zero).
	Grace time.Duration
	// Missed, when set, is told once of each cutoff found due later than
	// its grace; CaughtUp of each such cutoff once it has run (by this
	// process or, taken, by another).
	Missed, CaughtUp func(cutoffAt time.Time)

	mu     sync.Mutex
	missed map[int64]bool
}

// RunOnce runs what is due now and returns the results.
func (j *Cutoffs) RunOnce(ctx context.Context) ([]export.Result, error) {
	due, err := j.Export.Due(ctx)
	if err != nil {
		return nil, err
	}
	j.noteMissed(due)
	var results []export.Result
	var errs []error
	for _, at := range due {
		res, err := j.Export.RunCutoff(ctx, at)
		if err != nil {
			errs = append(errs, err)
			break // later cutoffs wait: they must not overtake this one
		}
		j.noteRun(at)
		results = append(results, res)
		if len(res.Recovered) > 0 {
			j.logRecovered(ctx, res.Recovered)
		}
	}
	if len(due) == 0 {
		written, err := j.Export.WritePending(ctx)
		if err != nil {
			errs = append(errs, err)
		}
		if len(written) > 0 {
			j.logRecovered(ctx, written)
		}
	}
	if err := errors.Join(errs...); err != nil && j.Log != nil {
		j.Log.ErrorContext(ctx, "cutoff job failed", "error", err)
	}
	return results, errors.Join(errs...)
}

// logRecovered reports the files of earlier runs, left by a crash, that a
// tick wrote.
func (j *Cutoffs) logRecovered(ctx context.Context, bs []export.Batch) {
	if j.Log == nil {
		return
	}
	files, payments := make([]string, len(bs)), 0
	for i, b := range bs {
		files[i] = b.FileName
		payments += b.Count
	}
	j.Log.WarnContext(ctx, "files left unwritten by an earlier run written", "files", files, "count", len(bs), "payments", payments)
}

// noteMissed tells Missed of the due cutoffs past their grace, once each.
func (j *Cutoffs) noteMissed(due []time.Time) {
	now, grace := time.Now(), j.Grace
	if j.Now != nil {
		now = j.Now()
	}
	if grace <= 0 {
		grace = DefaultGrace
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.missed == nil {
		j.missed = map[int64]bool{}
	}
	for _, at := range due {
		if now.Sub(at) <= grace || j.missed[at.UnixMicro()] {
			continue
		}
		j.missed[at.UnixMicro()] = true
		if j.Missed != nil {
			j.Missed(at)
		}
		if j.Log != nil {
			j.Log.Warn("cutoff missed: catching up", "alert", "cutoff_missed", "cutoff_at", at.Format(time.RFC3339), "late", now.Sub(at).Round(time.Second).String())
		}
	}
}

// noteRun tells CaughtUp of a missed cutoff once it has run.
func (j *Cutoffs) noteRun(at time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.missed[at.UnixMicro()] {
		return
	}
	delete(j.missed, at.UnixMicro())
	if j.CaughtUp != nil {
		j.CaughtUp(at)
	}
}
