package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/b2bpay/b2bpay/calendar"
)

// calendarWarnDays is how many days before the calendar's data runs out
// serve starts warning, and cutoff next too.
const calendarWarnDays = 60

// builtInCalendar names the embedded China calendar in messages.
const builtInCalendar = "calendar/data/cn.txt"

// calendarSource is the business-day calendar --calendar names: the live
// calendar every schedule and exporter of the process holds, and where it
// came from, to reload it.
type calendarSource struct {
	// cal is the calendar in use; a reload replaces its data in place
	// (calendar.Calendar.Replace).
	cal *calendar.Calendar
	// file is the calendar file, "" for a built-in calendar.
	file string
	// source names the data in messages: the file, or the embedded one.
	source string

	mu  sync.Mutex // serializes reloads
	sum [sha256.Size]byte
}

// loadCalendar reads the calendar --calendar names: cn, weekdays or a file.
func loadCalendar(name string) (*calendarSource, error) {
	switch name {
	case "cn":
		return &calendarSource{cal: calendar.China(), source: builtInCalendar}, nil
	case "weekdays":
		return &calendarSource{cal: calendar.Weekdays(), source: "weekdays"}, nil
	}
	cal, sum, err := readCalendarFile(name)
	if err != nil {
		return nil, err
	}
	return &calendarSource{cal: cal, file: name, source: name, sum: sum}, nil
}

func readCalendarFile(path string) (*calendar.Calendar, [sha256.Size]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, [sha256.Size]byte{}, fmt.Errorf("calendar: %w", err)
	}
	cal, err := calendar.Load(path, bytes.NewReader(b))
	if err != nil {
		return nil, [sha256.Size]byte{}, err
	}
	return cal, sha256.Sum256(b), nil
}

// reload reads the calendar file again and, when its content changed and
// it loads, swaps the new data in. A file that does not load leaves the
// calendar in use as it was. A built-in calendar has nothing to reload.
func (s *calendarSource) reload() (changed bool, err error) {
	if s.file == "" {
		return false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cal, sum, err := readCalendarFile(s.file)
	if err != nil {
		return false, err
	}
	if sum == s.sum {
		return false, nil
	}
	s.cal.Replace(cal)
	s.sum = sum
	return true, nil
}

// daysLeft returns how many days of real data (State Council notices, for
// China) are left after today in loc: negative once they have run out. ok
// is false for a calendar with no data at all (weekdays), which has nothing
// to run out of.
func (s *calendarSource) daysLeft(now time.Time, loc *time.Location) (days int, through calendar.Date, ok bool) {
	if len(s.cal.Years()) == 0 {
		return 0, calendar.Date{}, false
	}
	today := calendar.DateOf(now, loc)
	through = s.cal.CoveredThrough(today)
	return through.Sub(today), through, true
}

// fallbackNote says how the calendar answers for year when its data does
// not cover it, or "" when it does.
func (s *calendarSource) fallbackNote(year int) string {
	switch {
	case s.cal.Fallback(year):
		return fmt.Sprintf("calendar: %d has no State Council notice in %s; using statutory holidays only (no make-up workdays)", year, s.source)
	case !s.cal.Covers(calendar.Date{Year: year, Month: time.January, Day: 1}) && len(s.cal.Years()) > 0:
		return fmt.Sprintf("warning: calendar %s has no holiday data for %d; only weekends are known", s.source, year)
	}
	return ""
}

// calendarWatch keeps serve's calendar current and says when its data runs
// out: at start, once a day and on a reload request (SIGHUP) it reloads a
// calendar file that changed, and warns while fewer than
// calendarWarnDays days of data are left.
type calendarWatch struct {
	src *calendarSource
	loc *time.Location
	log *slog.Logger
	now func() time.Time
}

// runOnce reloads the calendar file if it changed, then warns if the data
// runs out soon. It returns the days of data left.
func (w *calendarWatch) runOnce(ctx context.Context) int {
	changed, err := w.src.reload()
	switch {
	case err != nil:
		w.log.ErrorContext(ctx, "calendar reload failed; keeping the calendar in use", "calendar", w.src.source, "error", err)
	case changed:
		w.log.InfoContext(ctx, "calendar reloaded", "calendar", w.src.source, "years", w.src.cal.Years())
	}
	days, through, ok := w.src.daysLeft(w.now(), w.loc)
	if ok && days < calendarWarnDays {
		next := through.Year + 1
		rule := "weekends only"
		if w.src.cal.Fallback(next) {
			rule = "statutory holidays only, no make-up workdays"
		}
		w.log.WarnContext(ctx, "calendar data runs out: add the next State Council notice to the calendar file",
			"calendar", w.src.source, "covered_through", through.String(), "days_left", days,
			"from_year", next, "then", rule)
	}
	return days
}

// run calls runOnce now, every every, and on each reload request, until
// ctx is done.
func (w *calendarWatch) run(ctx context.Context, every time.Duration, reload <-chan os.Signal) {
	if every <= 0 {
		every = 24 * time.Hour
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	w.runOnce(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			w.runOnce(ctx)
		case <-reload:
			if w.src.file == "" {
				w.log.InfoContext(ctx, "calendar is built in; nothing to reload (give a file with --calendar)", "calendar", w.src.source)
			}
			w.runOnce(ctx)
		}
	}
}

// Cutoffs writes the count cutoffs after t (now when zero) of the
// schedule the export settings s give, in loc, as CutoffNext does.
func Cutoffs(w io.Writer, s ExportSettings, loc *time.Location, t time.Time, count int) error {
	ec, err := LoadExport(s, loc)
	if err != nil {
		return err
	}
	if t.IsZero() {
		t = time.Now()
	}
	CutoffNext(w, ec, t, count, loc)
	return nil
}

// CutoffNext writes the count cutoffs after t, each marked when its year
// has no data (on the calendar's fallback, or weekends only), then a line
// for every such year; with no such year, a warning when the calendar's
// data runs out within calendarWarnDays of t.
func CutoffNext(w io.Writer, ec ExportConfig, t time.Time, count int, loc *time.Location) {
	from := t
	var years []int
	seen := map[int]bool{}
	for range count {
		t = ec.schedule.Next(t)
		if t.IsZero() {
			fmt.Fprintln(w, "no cutoff on a business day within five years")
			break
		}
		y := calendar.DateOf(t, loc).Year
		mark := ""
		if ec.calSource.fallbackNote(y) != "" {
			mark = "  (no notice: " + fallbackShort(ec.calSource, y) + ")"
			if !seen[y] {
				seen[y] = true
				years = append(years, y)
			}
		}
		fmt.Fprintln(w, t.In(loc).Format("Mon 2006-01-02 15:04 MST")+mark)
	}
	for _, y := range years {
		fmt.Fprintln(w, ec.calSource.fallbackNote(y))
	}
	if days, through, ok := ec.calSource.daysLeft(from, loc); ok && len(years) == 0 && days < calendarWarnDays {
		fmt.Fprintf(w, "calendar: the data in %s ends %s, in %d days; add the next State Council notice\n", ec.calSource.source, through, days)
	}
}

// fallbackShort is the mark of a cutoff in a year without data.
func fallbackShort(s *calendarSource, year int) string {
	if s.cal.Fallback(year) {
		return "statutory holidays only"
	}
	return "weekends only"
}
