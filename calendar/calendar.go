// Package calendar knows which dates are business days and when the
// cutoffs of a business day fall.
//
// A Calendar is a set of weekend days, public holidays and make-up working
// days. China moves weekend days around its public holidays: the Saturday or
// Sunday before or after a long holiday becomes a working day (调休), so a
// calendar cannot be derived from the weekdays alone. China's mainland
// calendar comes from an embedded data file that operators extend every year
// when the State Council publishes the next year's arrangements; other
// countries' calendars load from files in the same format (see Load). For a
// year without its notice, China's calendar falls back to the holidays the
// law fixes (statutory.go), never to plain weekdays.
//
// A Schedule (cutoff.go) is a set of cron cutoffs in a time zone, run only on
// the business days of a calendar. Everything here is pure: no clock, no I/O
// but the reader Load is given.
package calendar

import (
	"bytes"
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"
)

// Calendar knows which dates are business days: weekends off, public
// holidays off, make-up working days on (China moves weekend days to work
// around its holidays), and, for the years its data does not cover, the days
// off of its fallback rule if it has one (see WithChinaStatutory).
//
// A Calendar is safe for concurrent use. What it knows changes only when
// Replace swaps in another calendar's data whole (a reload of the file it
// came from); each method answers from one version of the data.
type Calendar struct {
	cur atomic.Pointer[data]
}

// data is one version of a calendar's knowledge; it is never changed once
// built.
type data struct {
	name     string
	weekend  [7]bool
	holidays map[Date]bool
	workdays map[Date]bool
	years    map[int]bool
	// statutory, when set, gives the days off of the years the data does
	// not cover (chinaStatutoryOff).
	statutory func(year int) (map[Date]bool, bool)
}

// New returns a calendar named name (for logs) with the given weekend days,
// public holidays and make-up working days. A date listed both as a holiday
// and as a workday is a holiday (Load refuses such data). The years of the
// holidays and workdays are the years the calendar covers (see Covers).
//
// New panics when every day of the week is a weekend day: such a calendar
// has no business day to find.
func New(name string, weekend []time.Weekday, holidays, workdays []Date) *Calendar {
	c := &data{
		name:     name,
		holidays: make(map[Date]bool, len(holidays)),
		workdays: make(map[Date]bool, len(workdays)),
		years:    make(map[int]bool),
	}
	off := 0
	for _, w := range weekend {
		if w < time.Sunday || w > time.Saturday {
			panic(fmt.Sprintf("calendar %s: weekday %d out of range", name, w))
		}
		if !c.weekend[w] {
			off++
		}
		c.weekend[w] = true
	}
	if off == 7 {
		panic(fmt.Sprintf("calendar %s: every day of the week is a weekend day", name))
	}
	for _, d := range holidays {
		d = d.AddDays(0)
		c.holidays[d] = true
		c.years[d.Year] = true
	}
	for _, d := range workdays {
		d = d.AddDays(0)
		if !c.holidays[d] {
			c.workdays[d] = true
		}
		c.years[d.Year] = true
	}
	return wrap(c)
}

func wrap(d *data) *Calendar {
	c := new(Calendar)
	c.cur.Store(d)
	return c
}

// Weekdays returns a calendar of Monday to Friday with no holidays: the
// fallback where no holiday data is configured. It covers no year.
func Weekdays() *Calendar {
	return New("weekdays", []time.Weekday{time.Saturday, time.Sunday}, nil, nil)
}

//go:embed data/cn.txt
var chinaData []byte

// China returns the calendar of mainland China from the embedded file
// data/cn.txt, which holds the State Council's holiday arrangements year by
// year and names the fallback for the other years: China's statutory
// holidays (see ChinaStatutory), with no make-up working days. Check
// Fallback to warn about those years.
func China() *Calendar {
	c, err := Load("CN", bytes.NewReader(chinaData))
	if err != nil {
		// The file is embedded and its test loads it: this is a build defect.
		panic(err)
	}
	return c
}

// WithChinaStatutory returns a calendar with c's data that, for every year
// the data does not cover and ChinaStatutory knows, takes the statutory days
// off as well as the weekends. Such a year has no make-up working days: they
// are only known from the State Council's notice. Load gives a calendar this
// fallback when its file says "fallback cn-statutory".
func (c *Calendar) WithChinaStatutory() *Calendar {
	d := *c.cur.Load()
	d.statutory = chinaStatutoryOff
	return wrap(&d)
}

// Replace makes c answer from now on with what n knows (its name, weekend,
// dates and fallback), atomically: every holder of c, such as a Schedule,
// sees the new data at once, and no question is answered from a mix of the
// two. It is how a calendar file is reloaded without a restart.
func (c *Calendar) Replace(n *Calendar) {
	c.cur.Store(n.cur.Load())
}

// Snapshot returns a calendar that keeps answering from c's current data
// whatever Replace does to c later: for a computation that asks several
// questions and needs them answered by one version.
func (c *Calendar) Snapshot() *Calendar {
	return wrap(c.cur.Load())
}

// Name returns the calendar's name, as given to New or Load.
func (c *Calendar) Name() string { return c.cur.Load().name }

// IsBusinessDay reports whether d is a business day: a make-up working day,
// or a day that is neither a weekend day nor a public holiday (from the data,
// or from the fallback in a year the data does not cover).
func (c *Calendar) IsBusinessDay(d Date) bool {
	return c.cur.Load().isBusinessDay(d.AddDays(0))
}

func (c *data) isBusinessDay(d Date) bool {
	if c.workdays[d] {
		return true
	}
	if c.holidays[d] || c.weekend[d.Weekday()] {
		return false
	}
	if c.statutory != nil && !c.years[d.Year] {
		if off, ok := c.statutory(d.Year); ok && off[d] {
			return false
		}
	}
	return true
}

// NextBusinessDay returns the first business day strictly after d.
func (c *Calendar) NextBusinessDay(d Date) Date {
	cd := c.cur.Load()
	// Terminates: holidays are finite and at least one weekday is not a
	// weekend day (New guarantees it).
	for d = d.AddDays(1); !cd.isBusinessDay(d); d = d.AddDays(1) {
	}
	return d
}

// Covers reports whether the calendar's data covers d's year, that is
// whether it lists any holiday or make-up working day in that year. Past the
// last year it covers a calendar still answers, from its fallback (see
// Fallback) or with weekends only: callers should warn that the data needs
// the next year.
func (c *Calendar) Covers(d Date) bool {
	return c.cur.Load().years[d.AddDays(0).Year]
}

// Fallback reports whether the calendar answers for year from its fallback
// rule rather than from its data: the data does not cover year and the rule
// knows it (China's statutory holidays, see WithChinaStatutory). A year
// neither covered nor on the fallback knows weekends only.
func (c *Calendar) Fallback(year int) bool {
	cd := c.cur.Load()
	if cd.statutory == nil || cd.years[year] {
		return false
	}
	_, ok := cd.statutory(year)
	return ok
}

// Years returns the years the calendar covers, in order.
func (c *Calendar) Years() []int {
	return slices.Sorted(maps.Keys(c.cur.Load().years))
}

// CoveredThrough returns the last date of the run of covered years that
// starts with from's year: the day the data, as far as it is unbroken from
// from on, runs out. When from's year is not covered it is the last day of
// the year before, so that CoveredThrough(from).Sub(from) counts the days of
// data left, negative once they have run out.
func (c *Calendar) CoveredThrough(from Date) Date {
	years := c.cur.Load().years
	y := from.AddDays(0).Year
	for years[y] {
		y++
	}
	return Date{Year: y - 1, Month: time.December, Day: 31}
}

// Date is a civil date: a day on a wall calendar, with no time and no zone.
// Business days are dates; the instant a date starts depends on a zone
// (see Time).
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the date that t falls on in loc.
func DateOf(t time.Time, loc *time.Location) Date {
	y, m, d := t.In(loc).Date()
	return Date{Year: y, Month: m, Day: d}
}

// ParseDate reads a date written YYYY-MM-DD and refuses dates that do not
// exist (2026-02-30).
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	return DateOf(t, time.UTC), nil
}

// String writes the date as YYYY-MM-DD.
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
}

// AddDays returns the date n days after d (before it when n is negative);
// it normalizes, so Date{2026, 1, 32} is read as 2026-02-01.
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, time.UTC), time.UTC)
}

// Before reports whether d is an earlier date than o.
func (d Date) Before(o Date) bool { return d.compare(o) < 0 }

// Sub returns the number of days from o to d: positive when d is later.
func (d Date) Sub(o Date) int {
	a := time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Unix()
	b := time.Date(o.Year, o.Month, o.Day, 12, 0, 0, 0, time.UTC).Unix()
	return int((a - b) / (24 * 60 * 60))
}

// After reports whether d is a later date than o.
func (d Date) After(o Date) bool { return d.compare(o) > 0 }

// Weekday returns the day of the week of d.
func (d Date) Weekday() time.Weekday {
	return time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Weekday()
}

// Time returns the instant d starts in loc: midnight, or the first instant
// of the day where a daylight-saving change skips midnight.
func (d Date) Time(loc *time.Location) time.Time {
	t := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
	if DateOf(t, loc) != d {
		// Midnight does not exist (Havana, Santiago): time.Date may answer
		// with 23:00 the day before; the day starts when the new offset does.
		_, t = t.ZoneBounds()
	}
	return t
}

func (d Date) compare(o Date) int {
	switch {
	case d.Year != o.Year:
		return d.Year - o.Year
	case d.Month != o.Month:
		return int(d.Month - o.Month)
	default:
		return d.Day - o.Day
	}
}
