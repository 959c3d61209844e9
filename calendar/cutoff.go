package calendar

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// horizon bounds the search for a cutoff: a schedule that finds none within
// it (a spec that only matches days the calendar never works) has none.
const horizon = 5 * 366 * 24 * time.Hour

// Schedule is a set of cutoffs: cron expressions (standard 5-field,
// robfig/cron ParseStandard) in a named time zone, run only on business days
// of a calendar. A Schedule is immutable and safe for concurrent use; its
// calendar may be reloaded (Calendar.Replace), and each Next answers from one
// version of it.
//
// The expressions are read in the schedule's zone, wall clock: "0 10 * * *"
// is 10:00 in that zone on every business day, whatever the zone's offset
// that day. Around daylight-saving changes a wall-clock time a change skips
// (02:30 in New York on the March change) does not happen that day (robfig's
// rule), and one a change repeats (01:30 on the November change) happens
// once, at its first occurrence. Cutoffs between 00:00 and 03:00 in zones
// with DST are best avoided.
type Schedule struct {
	loc   *time.Location
	cal   *Calendar
	specs []string
	sched []cron.Schedule
}

// NewSchedule parses the cutoffs specs, e.g. "0 10 * * *", "0 14 * * *",
// "15 17 * * *" (intraday) and "30 22 * * *" (the nightly settlement run),
// in loc, on the business days of cal. Descriptors such as "@daily" are
// accepted; "@every" (not a time of day) and a TZ= or CRON_TZ= prefix (the
// zone is loc) are refused, as is a spec that never fires. Errors name the
// bad spec.
func NewSchedule(loc *time.Location, cal *Calendar, specs ...string) (*Schedule, error) {
	if loc == nil {
		return nil, errors.New("cutoff schedule: no time zone")
	}
	if cal == nil {
		return nil, errors.New("cutoff schedule: no calendar")
	}
	if len(specs) == 0 {
		return nil, errors.New("cutoff schedule: no cutoff")
	}
	s := &Schedule{loc: loc, cal: cal}
	for _, spec := range specs {
		sc, err := parseCutoff(spec)
		if err != nil {
			return nil, fmt.Errorf("cutoff %q: %w", spec, err)
		}
		s.specs = append(s.specs, spec)
		s.sched = append(s.sched, sc)
	}
	return s, nil
}

func parseCutoff(spec string) (cron.Schedule, error) {
	trimmed := strings.TrimSpace(spec)
	if strings.HasPrefix(trimmed, "TZ=") || strings.HasPrefix(trimmed, "CRON_TZ=") {
		return nil, errors.New("a zone prefix is not allowed: cutoffs are in the schedule's zone")
	}
	sc, err := cron.ParseStandard(trimmed)
	if err != nil {
		return nil, err
	}
	if _, ok := sc.(*cron.SpecSchedule); !ok {
		return nil, errors.New("not a time of day (@every is not a cutoff)")
	}
	// Every spec that can match does so within five years of any time.
	if sc.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, errors.New("never fires")
	}
	return sc, nil
}

// Location returns the zone the cutoffs are read in.
func (s *Schedule) Location() *time.Location { return s.loc }

// Calendar returns the calendar whose business days the cutoffs run on.
func (s *Schedule) Calendar() *Calendar { return s.cal }

// Specs returns the cron expressions, as given.
func (s *Schedule) Specs() []string { return append([]string(nil), s.specs...) }

// Next returns the first cutoff strictly after after that falls on a
// business day (in the schedule's zone), in that zone. A payment authorized
// at t makes cutoff Next(t): a payment authorized at a cutoff's very instant
// waits for the following one. After the last cutoff of a day it is the next
// business day's first. Next returns the zero Time when no cutoff falls on a
// business day within five years (a spec matching only days the calendar
// never works).
func (s *Schedule) Next(after time.Time) time.Time {
	t := after.In(s.loc)
	limit := t.Add(horizon)
	cal := s.cal.Snapshot()
	for {
		c := s.nextAny(t)
		if c.IsZero() || c.After(limit) {
			return time.Time{}
		}
		if repeatedWallClock(c) {
			t = c
			continue
		}
		d := DateOf(c, s.loc)
		if cal.IsBusinessDay(d) {
			return c
		}
		// Skip the rest of the day off, and any days off after it: search
		// again from just before the next business day starts.
		t = cal.NextBusinessDay(d).Time(s.loc).Add(-time.Nanosecond)
	}
}

// nextAny returns the earliest time any spec fires strictly after t, on any
// day, or the zero Time.
func (s *Schedule) nextAny(t time.Time) time.Time {
	var first time.Time
	for _, sc := range s.sched {
		c := sc.Next(t)
		if !c.IsZero() && (first.IsZero() || c.Before(first)) {
			first = c
		}
	}
	return first
}

// repeatedWallClock reports whether c's wall-clock time already happened
// earlier the same day: c lies in the hour (or so) a change to a smaller UTC
// offset repeats.
func repeatedWallClock(c time.Time) bool {
	start, _ := c.ZoneBounds()
	if start.IsZero() {
		return false
	}
	_, before := start.Add(-time.Nanosecond).Zone()
	_, now := c.Zone()
	return before > now && c.Before(start.Add(time.Duration(before-now)*time.Second))
}

// Between returns every cutoff in (from, to], in order: the cutoffs missed
// while every process was down, to catch up on at start. It returns nil when
// to is not after from.
func (s *Schedule) Between(from, to time.Time) []time.Time {
	var out []time.Time
	for c := s.Next(from); !c.IsZero() && !c.After(to); c = s.Next(c) {
		out = append(out, c)
	}
	return out
}

// SettlementDate returns the business date a cutoff settles on: the
// cutoff's own date in the schedule's zone when that is a business day of
// the calendar (a 22:30 nightly run settles the day it closes, not the
// next), else the next business day. A scheduled cutoff always falls on a
// business day; a run at another instant (a manual run on a Sunday or a
// holiday) settles on the first business day after it: a clearing system
// refuses a file that settles on a day it is closed.
func (s *Schedule) SettlementDate(cutoff time.Time) Date {
	d := DateOf(cutoff, s.loc)
	if !s.cal.IsBusinessDay(d) {
		d = s.cal.NextBusinessDay(d)
	}
	return d
}

// CutoffFor returns the cutoff that takes a payment executing on
// execution once it is authorized at after: the first cutoff after after
// whose settlement date is on or after the execution date (the claim
// takes a payment whose execution date is due by the cutoff's settlement
// date), and that settlement date. It returns the zero Time when no
// cutoff within the schedule's horizon does.
func (s *Schedule) CutoffFor(execution Date, after time.Time) (time.Time, Date) {
	t := after
	start := execution.Time(s.loc).Add(-48 * time.Hour)
	if t.Before(start) {
		t = start // no need to walk every cutoff up to a far execution date
	}
	for range 1000 {
		c := s.Next(t)
		if c.IsZero() {
			return time.Time{}, Date{}
		}
		if d := s.SettlementDate(c); !d.Before(execution) {
			return c, d
		}
		t = c
	}
	return time.Time{}, Date{}
}
