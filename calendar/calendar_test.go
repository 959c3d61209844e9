package calendar_test

import (
	"os"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones below even where the system has no zoneinfo

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/calendar"
)

func date(t *testing.T, s string) calendar.Date {
	t.Helper()
	d, err := calendar.ParseDate(s)
	require.NoError(t, err)
	return d
}

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func TestDate(t *testing.T) {
	t.Parallel()
	d := date(t, "2026-02-28")
	require.Equal(t, calendar.Date{Year: 2026, Month: time.February, Day: 28}, d)
	require.Equal(t, "2026-02-28", d.String())
	require.Equal(t, "2026-03-01", d.AddDays(1).String())
	require.Equal(t, "2025-12-31", date(t, "2026-01-01").AddDays(-1).String())
	require.Equal(t, "2028-02-29", date(t, "2028-02-28").AddDays(1).String(), "leap year")
	require.Equal(t, "2026-02-01", calendar.Date{Year: 2026, Month: time.January, Day: 32}.AddDays(0).String())
	require.Equal(t, "0987-01-02", calendar.Date{Year: 987, Month: 1, Day: 2}.String())
	require.Equal(t, time.Saturday, d.Weekday())

	require.True(t, d.Before(d.AddDays(1)))
	require.True(t, d.Before(date(t, "2027-01-01")))
	require.True(t, d.After(date(t, "2026-01-31")))
	require.False(t, d.Before(d))
	require.False(t, d.After(d))

	for _, bad := range []string{"", "2026-02-30", "2026-2-1", "26-02-01", "2026-02-01T00:00:00Z", "2026/02/01"} {
		_, err := calendar.ParseDate(bad)
		require.Error(t, err, bad)
		require.Contains(t, err.Error(), "YYYY-MM-DD")
	}
}

func TestDateOfAndTime(t *testing.T) {
	t.Parallel()
	sh, ny := zone(t, "Asia/Shanghai"), zone(t, "America/New_York")
	instant := time.Date(2026, 3, 9, 20, 0, 0, 0, time.UTC) // 04:00 on the 10th in Shanghai, 16:00 on the 9th in New York
	require.Equal(t, "2026-03-10", calendar.DateOf(instant, sh).String())
	require.Equal(t, "2026-03-09", calendar.DateOf(instant, ny).String())
	require.Equal(t, "2026-03-09", calendar.DateOf(instant, time.UTC).String())

	require.True(t, time.Date(2026, 3, 9, 16, 0, 0, 0, time.UTC).Equal(date(t, "2026-03-10").Time(sh)))
	require.True(t, time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC).Equal(date(t, "2026-03-08").Time(ny)), "the DST day starts at midnight EST")

	// Havana moves its clocks from 00:00 to 01:00: that day starts at 01:00 CDT.
	hav := zone(t, "America/Havana")
	start := date(t, "2024-03-10").Time(hav)
	require.True(t, time.Date(2024, 3, 10, 5, 0, 0, 0, time.UTC).Equal(start), "got %s", start)
	require.Equal(t, "2024-03-10", calendar.DateOf(start, hav).String())
	require.Equal(t, "2024-03-09", calendar.DateOf(start.Add(-time.Nanosecond), hav).String())
}

func TestNew(t *testing.T) {
	t.Parallel()
	both := date(t, "2026-03-07") // a Saturday listed as both
	c := calendar.New("test", []time.Weekday{time.Friday, time.Saturday},
		[]calendar.Date{date(t, "2026-03-10"), both},
		[]calendar.Date{date(t, "2026-03-13"), both})
	require.Equal(t, "test", c.Name())
	require.False(t, c.IsBusinessDay(date(t, "2026-03-06")), "Friday is a weekend day")
	require.True(t, c.IsBusinessDay(date(t, "2026-03-08")), "Sunday is a working day")
	require.False(t, c.IsBusinessDay(date(t, "2026-03-10")), "holiday")
	require.True(t, c.IsBusinessDay(date(t, "2026-03-13")), "make-up Friday")
	require.False(t, c.IsBusinessDay(both), "a date listed as both is a holiday")
	require.Equal(t, []int{2026}, c.Years())

	require.PanicsWithValue(t, "calendar never: every day of the week is a weekend day", func() {
		calendar.New("never", []time.Weekday{0, 1, 2, 3, 4, 5, 6, 6}, nil, nil)
	})
	require.Panics(t, func() { calendar.New("bad", []time.Weekday{7}, nil, nil) })
}

func TestWeekdays(t *testing.T) {
	t.Parallel()
	c := calendar.Weekdays()
	d := date(t, "2026-03-09") // a Monday
	for i := range 14 {
		day := d.AddDays(i)
		want := day.Weekday() != time.Saturday && day.Weekday() != time.Sunday
		require.Equal(t, want, c.IsBusinessDay(day), day.String())
	}
	require.Equal(t, "2026-03-16", c.NextBusinessDay(date(t, "2026-03-13")).String())
	require.Equal(t, "2026-03-16", c.NextBusinessDay(date(t, "2026-03-14")).String())
	require.Equal(t, "2026-03-11", c.NextBusinessDay(date(t, "2026-03-10")).String())
	require.Equal(t, "2027-01-01", c.NextBusinessDay(date(t, "2026-12-31")).String())
	require.False(t, c.Covers(d))
	require.Empty(t, c.Years())
}

// notice is one holiday arrangement of a State Council notice: the days off
// from first to last and the make-up working days.
type notice struct {
	name        string
	first, last string
	workdays    []string
}

var notices = []notice{
	{"2025 New Year's Day", "2025-01-01", "2025-01-01", nil},
	{"2025 Spring Festival", "2025-01-28", "2025-02-04", []string{"2025-01-26", "2025-02-08"}},
	{"2025 Qingming", "2025-04-04", "2025-04-06", nil},
	{"2025 Labour Day", "2025-05-01", "2025-05-05", []string{"2025-04-27"}},
	{"2025 Dragon Boat", "2025-05-31", "2025-06-02", nil},
	{"2025 National Day and Mid-Autumn", "2025-10-01", "2025-10-08", []string{"2025-09-28", "2025-10-11"}},
	{"2026 New Year's Day", "2026-01-01", "2026-01-03", []string{"2026-01-04"}},
	{"2026 Spring Festival", "2026-02-15", "2026-02-23", []string{"2026-02-14", "2026-02-28"}},
	{"2026 Qingming", "2026-04-04", "2026-04-06", nil},
	{"2026 Labour Day", "2026-05-01", "2026-05-05", []string{"2026-05-09"}},
	{"2026 Dragon Boat", "2026-06-19", "2026-06-21", nil},
	{"2026 Mid-Autumn", "2026-09-25", "2026-09-27", nil},
	{"2026 National Day", "2026-10-01", "2026-10-07", []string{"2026-09-20", "2026-10-10"}},
}

func TestChinaMatchesTheNotices(t *testing.T) {
	t.Parallel()
	cn := calendar.China()
	require.Equal(t, "CN", cn.Name())
	require.Equal(t, []int{2025, 2026}, cn.Years())
	off := make(map[calendar.Date]bool)
	on := make(map[calendar.Date]bool)
	for _, n := range notices {
		first, last := date(t, n.first), date(t, n.last)
		for d := first; !d.After(last); d = d.AddDays(1) {
			require.False(t, cn.IsBusinessDay(d), "%s: %s is a day off", n.name, d)
			off[d] = true
		}
		// The day before and after the period is a business day or a weekend day.
		for _, d := range []calendar.Date{first.AddDays(-1), last.AddDays(1)} {
			weekend := d.Weekday() == time.Saturday || d.Weekday() == time.Sunday
			require.True(t, cn.IsBusinessDay(d) || weekend, "%s: %s", n.name, d)
		}
		for _, w := range n.workdays {
			d := date(t, w)
			require.Contains(t, []time.Weekday{time.Saturday, time.Sunday}, d.Weekday(), "%s: %s", n.name, d)
			require.True(t, cn.IsBusinessDay(d), "%s: make-up day %s works", n.name, d)
			on[d] = true
		}
	}
	// No other date differs from a Monday-Friday week.
	counts := make(map[int]int)
	for d := date(t, "2025-01-01"); d.Year < 2027; d = d.AddDays(1) {
		weekend := d.Weekday() == time.Saturday || d.Weekday() == time.Sunday
		want := (!weekend || on[d]) && !off[d]
		require.Equal(t, want, cn.IsBusinessDay(d), d.String())
		require.True(t, cn.Covers(d), d.String())
		if want {
			counts[d.Year]++
		}
	}
	// 2025: 261 weekdays, 18 of them holidays, 5 make-up days.
	// 2026: 261 weekdays, 19 of them holidays, 6 make-up days.
	require.Equal(t, map[int]int{2025: 248, 2026: 248}, counts)
}

func TestChinaNextBusinessDay(t *testing.T) {
	t.Parallel()
	cn := calendar.China()
	for _, tc := range []struct{ from, want, why string }{
		{"2026-03-10", "2026-03-11", "an ordinary Tuesday"},
		{"2026-03-13", "2026-03-16", "Friday to Monday"},
		{"2026-02-13", "2026-02-14", "Friday before Spring Festival to the make-up Saturday"},
		{"2026-02-14", "2026-02-24", "the make-up Saturday over Spring Festival"},
		{"2026-02-17", "2026-02-24", "from inside Spring Festival"},
		{"2026-02-27", "2026-02-28", "Friday to the make-up Saturday after Spring Festival"},
		{"2026-09-18", "2026-09-20", "Friday to the make-up Sunday before National Day"},
		{"2026-09-24", "2026-09-28", "over Mid-Autumn"},
		{"2026-09-30", "2026-10-08", "over National Day"},
		{"2026-10-09", "2026-10-10", "to the make-up Saturday after National Day"},
		{"2026-10-10", "2026-10-12", "from the make-up Saturday to Monday"},
		{"2025-12-31", "2026-01-04", "over New Year's Day 2026 to the make-up Sunday"},
		{"2025-01-27", "2025-02-05", "over Spring Festival 2025"},
		{"2025-09-30", "2025-10-09", "over National Day 2025"},
		{"2026-12-31", "2027-01-04", "2027 has no notice: New Year's Day from the statutory fallback, then the weekend"},
		{"2024-12-31", "2025-01-02", "into a covered year"},
	} {
		require.Equal(t, tc.want, cn.NextBusinessDay(date(t, tc.from)).String(), tc.why)
	}
	require.False(t, cn.Covers(date(t, "2027-01-01")))
	require.False(t, cn.Covers(date(t, "2024-12-31")))
	require.True(t, cn.Covers(date(t, "2026-12-31")))
}

func TestChinaDataFileHeader(t *testing.T) {
	t.Parallel()
	// The header names each year's notice and tells operators to add the next.
	b, err := os.ReadFile("data/cn.txt")
	require.NoError(t, err)
	header := string(b[:strings.Index(string(b), "\n2025-")])
	for _, want := range []string{
		"国务院办公厅关于2025年部分节假日安排的通知",
		"国务院办公厅关于2026年部分节假日安排的通知",
		"OPERATORS",
		"add that year's lines",
	} {
		require.Contains(t, header, want)
	}
}
