// Package calendar knows which dates are business days and when the
// cutoffs of a business day fall.
//
// A Calendar is a set of weekend days, public holidays and make-up working
// days. China moves weekend days around its public holidays: the Saturday or
// Sunday before or after a long holiday becomes a working day (调休), so a
// calendar cannot be derived from the weekdays alone. China's mainland
// calendar comes from an embedded data file that operators extend every year
// when the State Council publishes the next year's arrangements; other
// countries' calendars load from files in the same format (see Load).
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
	"time"
)

// Calendar knows which dates are business days: weekends off, public
// holidays off, make-up working days on (China moves weekend days to work
// around its holidays). A Calendar is immutable and safe for concurrent use.
type Calendar struct {
	name     string
	weekend  [7]bool
	holidays map[Date]bool
	workdays map[Date]bool
	years    map[int]bool
}

// New returns a calendar named name (for logs) with the given weekend days,
// public holidays and make-up working days. A date listed both as a holiday
// and as a workday is a holiday (Load refuses such data). The years of the
// holidays and workdays are the years the calendar covers (see Covers).
//
// New panics when every day of the week is a weekend day: such a calendar
// has no business day to find.
func New(name string, weekend []time.Weekday, holidays, workdays []Date) *Calendar {
	c := &Calendar{
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
// year. Years the file does not hold are treated as plain Monday-Friday
// weeks; check Covers to warn about them.
func China() *Calendar {
	c, err := Load("CN", bytes.NewReader(chinaData))
	if err != nil {
		// The file is embedded and its test loads it: this is a build defect.
		panic(err)
	}
	return c
}

// Name returns the calendar's name, as given to New or Load.
func (c *Calendar) Name() string { return c.name }

// IsBusinessDay reports whether d is a business day: a make-up working day,
// or a day that is neither a weekend day nor a public holiday.
func (c *Calendar) IsBusinessDay(d Date) bool {
	d = d.AddDays(0)
	if c.workdays[d] {
		return true
	}
	return !c.holidays[d] && !c.weekend[d.Weekday()]
}

// NextBusinessDay returns the first business day strictly after d.
func (c *Calendar) NextBusinessDay(d Date) Date {
	// Terminates: holidays are finite and at least one weekday is not a
	// weekend day (New guarantees it).
	for d = d.AddDays(1); !c.IsBusinessDay(d); d = d.AddDays(1) {
	}
	return d
}

// Covers reports whether the calendar's data covers d's year, that is
// whether it lists any holiday or make-up working day in that year. Past the
// last year it covers a calendar still answers, with weekends only: callers
// should warn that the data needs the next year.
func (c *Calendar) Covers(d Date) bool {
	return c.years[d.AddDays(0).Year]
}

// Years returns the years the calendar covers, in order.
func (c *Calendar) Years() []int {
	return slices.Sorted(maps.Keys(c.years))
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
