package calendar

import (
	"slices"
	"sync"
	"time"

	lunar "github.com/6tail/lunar-go/calendar"
)

// China's statutory holidays: the fallback for a year whose State Council
// notice is not in the data.
//
// 全国年节及纪念日放假办法 (as amended, in force from 2025-01-01), article 2,
// gives every citizen these days off:
//
//	New Year's Day  元旦    1 day   1 January
//	Spring Festival 春节    4 days  lunar New Year's Eve (the last day of the
//	                                12th lunar month, the 29th or the 30th)
//	                                and the 1st to 3rd of the 1st lunar month
//	Qingming        清明节  1 day   the day of the Qingming solar term
//	                                (4 or 5 April)
//	Labour Day      劳动节  2 days  1 and 2 May
//	Dragon Boat     端午节  1 day   the 5th of the 5th lunar month
//	Mid-Autumn      中秋节  1 day   the 15th of the 8th lunar month
//	National Day    国庆节  3 days  1 to 3 October
//
// Article 6: a day of these that falls on a Saturday or Sunday is made up
// on a working day (补假). Where is for the State Council; every notice has
// put it on the working days right after the holiday (2025-06-02 for the
// Dragon Boat Festival on Saturday 31 May, 2026-04-06 for Qingming on Sunday
// 5 April), and so does the fallback. Two holidays on the same day (the
// Mid-Autumn Festival in the first days of October) are not made up: the law
// does not say they are.
//
// What the fallback cannot know is the rest of a notice: the days bridged
// into longer holidays and the weekend days worked instead (调休), which
// only the notice fixes. A fallback year has more business days than its
// notice will have, and no make-up working days.
//
// Lunar dates and the solar term come from github.com/6tail/lunar-go, which
// computes them astronomically in China's time (UTC+8); its answers are
// checked in statutory_test.go against the notices in cn.txt, ICU's Chinese
// calendar, the Qingming formula and published dates.

// Holiday is a day off and what it is for.
type Holiday struct {
	Date Date
	Name string
}

// The years ChinaStatutory knows: from the amended law's first year to the
// end of the century (lunar-go's astronomy stays exact there; the law may
// not).
const (
	statutoryFirst = 2025
	statutoryLast  = 2099
)

// statutoryYear is one year's statutory days off, computed once.
type statutoryYear struct {
	holidays []Holiday
	off      map[Date]bool
}

// statutoryCache holds the years computed so far (year → *statutoryYear):
// the days off of a year never change, and computing them takes the
// astronomy of a lunar year.
var statutoryCache sync.Map

// ChinaStatutory returns the days off that China's law fixes for year, in
// date order: the statutory holidays and, for each of them that falls on a
// Saturday or Sunday, a working day made up after the holiday. ok is false
// for a year before 2025 (an older law) or after 2099.
func ChinaStatutory(year int) (holidays []Holiday, ok bool) {
	y, ok := statutory(year)
	if !ok {
		return nil, false
	}
	return slices.Clone(y.holidays), true
}

// chinaStatutoryOff is ChinaStatutory as a set, for Calendar.
func chinaStatutoryOff(year int) (map[Date]bool, bool) {
	y, ok := statutory(year)
	if !ok {
		return nil, false
	}
	return y.off, true
}

func statutory(year int) (*statutoryYear, bool) {
	if year < statutoryFirst || year > statutoryLast {
		return nil, false
	}
	if y, ok := statutoryCache.Load(year); ok {
		return y.(*statutoryYear), true
	}
	y, _ := statutoryCache.LoadOrStore(year, computeStatutory(year))
	return y.(*statutoryYear), true
}

// festival is one statutory holiday of a year: its name and its days.
type festival struct {
	name string
	days []Date
}

func computeStatutory(year int) *statutoryYear {
	newYear := lunarDate(year, 1, 1)
	qingming := lunar.NewSolarFromYmd(year, 4, 1).GetLunar().GetJieQiTable()["清明"]
	festivals := []festival{
		{"New Year's Day (元旦)", run(Date{year, time.January, 1}, 1)},
		{"Spring Festival (春节)", run(newYear.AddDays(-1), 4)},
		{"Qingming Festival (清明节)", run(Date{year, time.Month(qingming.GetMonth()), qingming.GetDay()}, 1)},
		{"Labour Day (劳动节)", run(Date{year, time.May, 1}, 2)},
		{"Dragon Boat Festival (端午节)", run(lunarDate(year, 5, 5), 1)},
		{"Mid-Autumn Festival (中秋节)", run(lunarDate(year, 8, 15), 1)},
		{"National Day (国庆节)", run(Date{year, time.October, 1}, 3)},
	}
	y := &statutoryYear{off: make(map[Date]bool)}
	at := make(map[Date]int) // date → index in y.holidays
	for _, f := range festivals {
		for _, d := range f.days {
			if i, ok := at[d]; ok {
				y.holidays[i].Name += " and " + f.name
				continue
			}
			y.off[d] = true
			at[d] = len(y.holidays)
			y.holidays = append(y.holidays, Holiday{Date: d, Name: f.name})
		}
	}
	// Article 6: each day of a holiday on a Saturday or Sunday is made up on
	// the first working day after the holiday that is not already off.
	for _, f := range festivals {
		next := f.days[len(f.days)-1]
		for _, d := range f.days {
			if !weekendCN(d) {
				continue
			}
			for next = next.AddDays(1); weekendCN(next) || y.off[next]; next = next.AddDays(1) {
			}
			y.off[next] = true
			y.holidays = append(y.holidays, Holiday{Date: next, Name: f.name + ", made up for " + d.String() + " (补假)"})
		}
	}
	slices.SortFunc(y.holidays, func(a, b Holiday) int { return a.Date.compare(b.Date) })
	return y
}

// lunarDate returns the Gregorian date of a day of a (non-leap) month of
// the Chinese lunar year that starts in Gregorian year year.
func lunarDate(year, month, day int) Date {
	s := lunar.NewLunarFromYmd(year, month, day).GetSolar()
	return Date{Year: s.GetYear(), Month: time.Month(s.GetMonth()), Day: s.GetDay()}
}

// run returns n consecutive dates from first.
func run(first Date, n int) []Date {
	ds := make([]Date, n)
	for i := range ds {
		ds[i] = first.AddDays(i)
	}
	return ds
}

// weekendCN reports whether d is a Saturday or Sunday, the weekend the law
// speaks of.
func weekendCN(d Date) bool {
	w := d.Weekday()
	return w == time.Saturday || w == time.Sunday
}
