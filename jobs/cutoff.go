package jobs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/b2bpay/b2bpay/export"
)

// Exporter is the export as the cutoff job drives it.
type Exporter interface {
	Due(ctx context.Context) ([]time.Time, error)
	RunCutoff(ctx context.Context, cutoffAt time.Time) (export.Result, error)
	WritePending(ctx context.Context) error
}

// Cutoffs runs the cutoffs that are due: on every tick it runs each cutoff
// of the schedule passed since the last one run (so cutoffs missed while
// every process was down are caught up, in order), and finishes any batch
// a crash left unwritten. Several processes may tick: the scheduler's
// elector lets one run, and the database's unique cutoff record settles
// any race.
type Cutoffs struct {
	Export Exporter
	Log    *slog.Logger
}

// RunOnce runs what is due now and returns the results.
func (j *Cutoffs) RunOnce(ctx context.Context) ([]export.Result, error) {
	due, err := j.Export.Due(ctx)
	if err != nil {
		return nil, err
	}
	var results []export.Result
	var errs []error
	for _, at := range due {
		res, err := j.Export.RunCutoff(ctx, at)
		if err != nil {
			errs = append(errs, err)
			break // later cutoffs wait: they must not overtake this one
		}
		results = append(results, res)
	}
	if len(due) == 0 {
		if err := j.Export.WritePending(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil && j.Log != nil {
		j.Log.ErrorContext(ctx, "cutoff job failed", "error", err)
	}
	return results, errors.Join(errs...)
}
