package postgres

import (
	"context"
	"time"
)

// CutoffHorizon returns where the search for due cutoffs starts: the
// latest scheduled run at or before now; with none, the latest run of any
// kind at or before now; with none either, the zero Time. The scheduler
// runs cutoffs in order, so every scheduled instant up to its latest run is
// done; a manual run does not move the horizon (it may be at any instant,
// even one in the future).
func (s *Store) CutoffHorizon(ctx context.Context, now time.Time) (time.Time, error) {
	var t *time.Time
	err := s.pool.QueryRow(ctx, `SELECT coalesce(
			(SELECT max(cutoff_at) FROM cutoff_runs WHERE kind = 'scheduled' AND cutoff_at <= $1),
			(SELECT max(cutoff_at) FROM cutoff_runs WHERE cutoff_at <= $1))`, now).Scan(&t)
	if err != nil || t == nil {
		return time.Time{}, err
	}
	return *t, nil
}

// CutoffRunsBetween returns the instants of the cutoff runs of any kind in
// (from, to], in order.
func (s *Store) CutoffRunsBetween(ctx context.Context, from, to time.Time) ([]time.Time, error) {
	rows, err := s.pool.Query(ctx, `SELECT cutoff_at FROM cutoff_runs WHERE cutoff_at > $1 AND cutoff_at <= $2
		ORDER BY cutoff_at`, from, to)
	if err != nil {
		return nil, err
	}
	var out []time.Time
	for rows.Next() {
		var t time.Time
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// CutoffStats is what the alerts watch of the export.
type CutoffStats struct {
	// LastCompleted is the latest cutoff instant, at or before now, whose
	// run finished (every file written); zero when none did.
	LastCompleted time.Time
	// ClaimedStuck counts the batches still claimed (file not known to be
	// written) that were claimed before the threshold.
	ClaimedStuck int
}

// CutoffStatsAt reads the export's alert figures at now, counting as stuck
// the batches claimed more than stuckAfter ago.
func (s *Store) CutoffStatsAt(ctx context.Context, now time.Time, stuckAfter time.Duration) (CutoffStats, error) {
	var st CutoffStats
	var last *time.Time
	err := s.pool.QueryRow(ctx, `SELECT
			(SELECT max(cutoff_at) FROM cutoff_runs WHERE finished_at IS NOT NULL AND cutoff_at <= $1),
			(SELECT count(*) FROM batches WHERE state = 'claimed' AND created_at < $2)`,
		now, now.Add(-stuckAfter)).Scan(&last, &st.ClaimedStuck)
	if last != nil {
		st.LastCompleted = *last
	}
	return st, err
}
