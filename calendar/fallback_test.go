package calendar_test

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/calendar"
)

// china2026 is China's calendar as cn.txt stood at the end of 2026, with
// the 2025 and 2026 notices: the lines of later years are left out, so that
// the tests below hold once they are added.
func china2026(t *testing.T) *calendar.Calendar {
	t.Helper()
	b, err := os.ReadFile("data/cn.txt")
	require.NoError(t, err)
	var kept strings.Builder
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if y, err := strconv.Atoi(strings.SplitN(line, "-", 2)[0]); err == nil && y > 2026 {
			continue
		}
		kept.WriteString(line)
	}
	c, err := calendar.Load("CN", strings.NewReader(kept.String()))
	require.NoError(t, err)
	require.Equal(t, []int{2025, 2026}, c.Years())
	return c
}

// The year after the last notice in cn.txt runs on the fallback.
func TestChinaFallbackAfterTheData(t *testing.T) {
	t.Parallel()
	cn := calendar.China()
	years := cn.Years()
	last := years[len(years)-1]
	require.False(t, cn.Fallback(last))
	require.True(t, cn.Fallback(last+1))
	require.False(t, cn.IsBusinessDay(calendar.Date{Year: last + 1, Month: time.October, Day: 1}))
}

// China's calendar past the last notice in cn.txt: the statutory holidays,
// never plain weekdays.
func TestChinaFallsBackToStatutoryHolidays(t *testing.T) {
	t.Parallel()
	cn := china2026(t)
	require.False(t, cn.Fallback(2026), "a year with its notice")
	require.True(t, cn.Fallback(2027))
	require.True(t, cn.Fallback(2099))
	require.False(t, cn.Fallback(2024), "before the amended law: weekends only")
	require.False(t, cn.Fallback(2100))

	hs, _ := calendar.ChinaStatutory(2027)
	off := make(map[calendar.Date]bool)
	for _, h := range hs {
		off[h.Date] = true
	}
	for d := date(t, "2027-01-01"); d.Year == 2027; d = d.AddDays(1) {
		weekend := d.Weekday() == time.Saturday || d.Weekday() == time.Sunday
		require.Equal(t, !weekend && !off[d], cn.IsBusinessDay(d), d.String())
	}
	for _, tc := range []struct{ from, want, why string }{
		{"2026-12-31", "2027-01-04", "New Year's Day, then the weekend"},
		{"2027-02-04", "2027-02-11", "Spring Festival 5-8 February and the two days made up for its weekend"},
		{"2027-04-02", "2027-04-06", "Qingming on Monday 5 April"},
		{"2027-04-30", "2027-05-05", "Labour Day on a weekend, made up on 3 and 4 May"},
		{"2027-06-08", "2027-06-10", "Dragon Boat on Wednesday 9 June"},
		{"2027-09-14", "2027-09-16", "Mid-Autumn on Wednesday 15 September"},
		{"2027-09-30", "2027-10-06", "National Day 1-3 October, made up on 4 and 5 October"},
		{"2027-12-31", "2028-01-04", "2028 on the fallback too: New Year's Day on a Saturday, made up on Monday 3 January"},
	} {
		require.Equal(t, tc.want, cn.NextBusinessDay(date(t, tc.from)).String(), tc.why)
	}
	// No make-up working day: weekends stay off.
	require.False(t, cn.IsBusinessDay(date(t, "2027-01-31")))
	require.False(t, cn.IsBusinessDay(date(t, "2027-02-14")))

	// A schedule on it.
	sh := zone(t, "Asia/Shanghai")
	s := schedule(t, sh, cn, cutoffs...)
	for _, tc := range []struct{ after, want, why string }{
		{"2026-12-31 22:30:00", "2027-01-04 10:00", "New Year's Day from the statutory fallback"},
		{"2027-01-02 12:00:00", "2027-01-04 10:00", "weekends still skipped"},
		{"2027-02-04 22:30:00", "2027-02-11 10:00", "over the statutory Spring Festival and its made-up days"},
	} {
		require.Equal(t, tc.want, s.Next(at(t, sh, tc.after)).Format("2006-01-02 15:04"), tc.why)
	}
}

func TestWeekdaysHasNoFallback(t *testing.T) {
	t.Parallel()
	wk := calendar.Weekdays()
	require.False(t, wk.Fallback(2027))
	require.True(t, wk.IsBusinessDay(date(t, "2027-01-01")))
	require.True(t, wk.WithChinaStatutory().Fallback(2027))
	require.False(t, wk.WithChinaStatutory().IsBusinessDay(date(t, "2027-01-01")))
	require.True(t, wk.IsBusinessDay(date(t, "2027-01-01")), "WithChinaStatutory returns a new calendar")
}

func TestLoadFallback(t *testing.T) {
	t.Parallel()
	const notice2026 = "2026-01-01 holiday\n2026-01-04 workday\n"
	with, err := calendar.Load("T", strings.NewReader("# a copy of cn.txt\nFallback CN-Statutory # comment\n"+notice2026))
	require.NoError(t, err)
	require.True(t, with.Fallback(2027))
	require.False(t, with.Fallback(2026))
	require.False(t, with.IsBusinessDay(date(t, "2027-01-01")))
	require.True(t, with.IsBusinessDay(date(t, "2026-02-17")), "2026 is covered: its days off come from the file alone")

	without, err := calendar.Load("T", strings.NewReader(notice2026))
	require.NoError(t, err)
	require.False(t, without.Fallback(2027))
	require.True(t, without.IsBusinessDay(date(t, "2027-01-01")), "another country's file: weekends only past its data")

	for _, tc := range []struct{ data, want string }{
		{"fallback\n", "line 1: fallback: want \"fallback cn-statutory\", got \"\""},
		{"fallback weekdays\n", "line 1: fallback: want \"fallback cn-statutory\", got \"weekdays\""},
		{"fallback cn-statutory extra\n", "got \"cn-statutory extra\""},
		{"fallback cn-statutory\nfallback cn-statutory\n", "line 2: fallback already set on line 1"},
	} {
		_, err := calendar.Load("T", strings.NewReader(tc.data))
		require.ErrorContains(t, err, tc.want, tc.data)
	}
}

func TestCoveredThrough(t *testing.T) {
	t.Parallel()
	cn := china2026(t)
	for _, tc := range []struct {
		today, through string
		left           int
	}{
		{"2026-12-06", "2026-12-31", 25},
		{"2026-11-01", "2026-12-31", 60},
		{"2026-11-02", "2026-12-31", 59},
		{"2025-01-01", "2026-12-31", 729},
		{"2026-12-31", "2026-12-31", 0},
		{"2027-01-01", "2026-12-31", -1},
		{"2027-03-01", "2026-12-31", -60},
		{"2024-06-01", "2023-12-31", -153},
	} {
		today := date(t, tc.today)
		through := cn.CoveredThrough(today)
		require.Equal(t, tc.through, through.String(), tc.today)
		require.Equal(t, tc.left, through.Sub(today), tc.today)
	}
	// A gap ends the run.
	gap, err := calendar.Load("T", strings.NewReader("2026-01-01 holiday\n2028-01-01 holiday\n"))
	require.NoError(t, err)
	require.Equal(t, "2026-12-31", gap.CoveredThrough(date(t, "2026-05-01")).String())
	require.Equal(t, "2028-12-31", gap.CoveredThrough(date(t, "2028-05-01")).String())
}

func TestDateSub(t *testing.T) {
	t.Parallel()
	require.Equal(t, 0, date(t, "2026-03-08").Sub(date(t, "2026-03-08")))
	require.Equal(t, 365, date(t, "2027-01-01").Sub(date(t, "2026-01-01")))
	require.Equal(t, -366, date(t, "2028-01-01").Sub(date(t, "2029-01-01")))
	require.Equal(t, 1, date(t, "2026-03-09").Sub(date(t, "2026-03-08")))
	require.Equal(t, 146097, calendar.Date{Year: 2400, Month: 1, Day: 1}.Sub(calendar.Date{Year: 2000, Month: 1, Day: 1}), "400 years, beyond a Duration")
}

// Replace swaps what a calendar knows for every holder at once, and a
// Snapshot keeps the version it was taken from.
func TestReplace(t *testing.T) {
	t.Parallel()
	sh := zone(t, "Asia/Shanghai")
	old, err := calendar.Load("old", strings.NewReader("2026-01-01 holiday\n"))
	require.NoError(t, err)
	live := old.Snapshot()
	s := schedule(t, sh, live, "0 10 * * *")
	snap := live.Snapshot()
	require.Equal(t, "2027-01-01 10:00", s.Next(at(t, sh, "2026-12-31 12:00:00")).Format("2006-01-02 15:04"))

	live.Replace(china2026(t))
	require.Equal(t, "CN", live.Name())
	require.Equal(t, []int{2025, 2026}, live.Years())
	require.Same(t, live, s.Calendar())
	require.Equal(t, "2027-01-04 10:00", s.Next(at(t, sh, "2026-12-31 12:00:00")).Format("2006-01-02 15:04"), "the schedule sees the new data")
	require.True(t, snap.IsBusinessDay(date(t, "2027-01-01")), "the snapshot keeps the old")
	require.Equal(t, "old", snap.Name())
	require.True(t, old.IsBusinessDay(date(t, "2027-01-01")), "the calendar replaced from is untouched")
}

// Reloads racing with schedules (run with -race).
func TestReplaceConcurrent(t *testing.T) {
	t.Parallel()
	sh := zone(t, "Asia/Shanghai")
	a, b := calendar.China(), calendar.Weekdays()
	live := a.Snapshot()
	s := schedule(t, sh, live, "0 10 * * *", "30 22 * * *")
	from := at(t, sh, "2026-12-31 22:30:00")
	today := date(t, "2026-12-06")
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 200 {
			if i%2 == 0 {
				live.Replace(b)
			} else {
				live.Replace(a)
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 200 {
				// One version or the other.
				got := s.Next(from).Format("2006-01-02 15:04")
				assert.Contains(t, []string{"2027-01-01 10:00", "2027-01-04 10:00"}, got)
				_ = live.Fallback(2027)
				_ = live.CoveredThrough(today)
			}
		})
	}
	wg.Wait()
}
