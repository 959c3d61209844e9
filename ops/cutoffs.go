package ops

import (
	"context"
	"github.com/b2bpay/b2bpay/calendar"
	"time"

	"github.com/b2bpay/b2bpay/jobs"
)

// CutoffRun is one cutoff run as stored.
type CutoffRun struct {
	CutoffAt  time.Time
	StartedAt time.Time
	// FinishedAt is when every file of the run was written; zero while not.
	FinishedAt time.Time
	// Kind is "scheduled" or "manual"; Runner the process that ran it.
	Kind, Runner string
	// Batches and Payments are what the run claimed.
	Batches, Payments int
	// Unwritten counts its batches whose files are not known to be written.
	Unwritten int
}

// The results of a cutoff run.
const (
	RunFinished   = "finished"   // every file written
	RunEmpty      = "empty"      // nothing was due
	RunUnfinished = "unfinished" // files not yet written (being written, or left by a crash)
)

// CutoffRunView is a run and its result.
type CutoffRunView struct {
	CutoffRun
	Result string
}

// CutoffsView is the cutoff page: the schedule, the next cutoff, the last
// runs and the scheduled cutoffs missed.
type CutoffsView struct {
	// Specs are the schedule's cron expressions, in Zone; Calendar names
	// the business-day calendar.
	Specs    []string
	Zone     string
	Calendar string
	// Now is when the view was read, Next the next scheduled cutoff (zero
	// when none within five years).
	Now, Next time.Time
	Runs      []CutoffRunView
	// Missed are the scheduled cutoffs more than Grace past with no run,
	// oldest first (at most MaxMissed: MissedMore counts the others); the
	// scheduler catches them up on its next tick.
	Missed     []time.Time
	MissedMore int
	Grace      time.Duration
}

// Bounds of the cutoff page.
const (
	// RunsShown is how many runs the cutoff page lists.
	RunsShown = 20
	// MaxMissed bounds the missed cutoffs listed.
	MaxMissed = 50
	// missedWindow is how far back missed cutoffs are looked for when no
	// run was ever made (the exporter then runs only the latest of them).
	missedWindow = 7 * 24 * time.Hour
)

// Cutoffs reads the cutoff page.
func (s *Service) Cutoffs(ctx context.Context) (CutoffsView, error) {
	now := s.now().UTC()
	v := CutoffsView{Specs: s.sched.Specs(), Zone: s.sched.Location().String(), Calendar: s.sched.Calendar().Name(),
		Now: now, Next: utc(s.sched.Next(now)), Grace: jobs.DefaultGrace}
	runs, err := s.store.CutoffRuns(ctx, RunsShown)
	if err != nil {
		return CutoffsView{}, err
	}
	for _, r := range runs {
		v.Runs = append(v.Runs, runView(r))
	}
	v.Missed, v.MissedMore, err = s.missed(ctx, now)
	if err != nil {
		return CutoffsView{}, err
	}
	return v, nil
}

// runView names a run's result.
func runView(r CutoffRun) CutoffRunView {
	r.CutoffAt, r.StartedAt, r.FinishedAt = utc(r.CutoffAt), utc(r.StartedAt), utc(r.FinishedAt)
	res := RunFinished
	switch {
	case r.FinishedAt.IsZero() || r.Unwritten > 0:
		res = RunUnfinished
	case r.Batches == 0:
		res = RunEmpty
	}
	return CutoffRunView{CutoffRun: r, Result: res}
}

// missed returns the scheduled cutoffs the exporter would find due (after
// its horizon, with no run of any kind) that are more than the grace past.
func (s *Service) missed(ctx context.Context, now time.Time) ([]time.Time, int, error) {
	from, err := s.store.CutoffHorizon(ctx, now)
	if err != nil {
		return nil, 0, err
	}
	if from.IsZero() {
		from = now.Add(-missedWindow)
	}
	until := now.Add(-jobs.DefaultGrace)
	all := s.sched.Between(from, until)
	if len(all) == 0 {
		return nil, 0, nil
	}
	ran, err := s.store.CutoffRunsBetween(ctx, from, until)
	if err != nil {
		return nil, 0, err
	}
	done := make(map[int64]bool, len(ran))
	for _, t := range ran {
		done[t.UnixMicro()] = true
	}
	var out []time.Time
	more := 0
	for _, t := range all {
		switch {
		case done[t.UnixMicro()]:
		case len(out) < MaxMissed:
			out = append(out, t.UTC())
		default:
			more++
		}
	}
	return out, more, nil
}

// Plan says which cutoff of the schedule takes a payment executing on
// execution (a date in the schedule's zone) once authorized at now, and
// the date it settles on (export.Exporter.Plan's answer, for a console
// serving without the exporter).
func (s *Service) Plan(execution, now time.Time) (cutoff, settlement time.Time, ok bool) {
	loc := s.sched.Location()
	c, d := s.sched.CutoffFor(calendar.DateOf(execution, loc), now)
	if c.IsZero() {
		return time.Time{}, time.Time{}, false
	}
	return c, d.Time(loc), true
}
