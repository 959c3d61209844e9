package calendar_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/calendar"
)

// cutoffs are the intraday cutoffs and the nightly settlement run.
var cutoffs = []string{"0 10 * * *", "0 14 * * *", "15 17 * * *", "30 22 * * *"}

// at reads a wall-clock time in loc.
func at(t *testing.T, loc *time.Location, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", s, loc)
	require.NoError(t, err)
	return v
}

func schedule(t *testing.T, loc *time.Location, cal *calendar.Calendar, specs ...string) *calendar.Schedule {
	t.Helper()
	s, err := calendar.NewSchedule(loc, cal, specs...)
	require.NoError(t, err)
	return s
}

func TestNewScheduleErrors(t *testing.T) {
	t.Parallel()
	sh := zone(t, "Asia/Shanghai")
	cn := calendar.China()
	for _, tc := range []struct{ spec, want string }{
		{"0 25 * * *", `cutoff "0 25 * * *": end of range (25) above maximum (23)`},
		{"61 10 * * *", `cutoff "61 10 * * *"`},
		{"0 10 * *", `cutoff "0 10 * *": expected exactly 5 fields`},
		{"0 0 10 * * *", `cutoff "0 0 10 * * *": expected exactly 5 fields`},
		{"", `cutoff ""`},
		{"@every 1h", `cutoff "@every 1h": not a time of day`},
		{"TZ=UTC 0 10 * * *", `cutoff "TZ=UTC 0 10 * * *": a zone prefix is not allowed`},
		{"CRON_TZ=Asia/Tokyo 0 10 * * *", `cutoff "CRON_TZ=Asia/Tokyo 0 10 * * *": a zone prefix`},
		{"0 10 30 2 *", `cutoff "0 10 30 2 *": never fires`},
	} {
		_, err := calendar.NewSchedule(sh, cn, "0 10 * * *", tc.spec)
		require.ErrorContains(t, err, tc.want, tc.spec)
	}
	_, err := calendar.NewSchedule(nil, cn, cutoffs...)
	require.ErrorContains(t, err, "no time zone")
	_, err = calendar.NewSchedule(sh, nil, cutoffs...)
	require.ErrorContains(t, err, "no calendar")
	_, err = calendar.NewSchedule(sh, cn)
	require.ErrorContains(t, err, "no cutoff")

	s := schedule(t, sh, cn, "@daily", "0 10 29 2 *")
	require.Equal(t, []string{"@daily", "0 10 29 2 *"}, s.Specs())
	require.Equal(t, sh, s.Location())
	require.Equal(t, cn, s.Calendar())
}

func TestNext(t *testing.T) {
	t.Parallel()
	sh, ny, utc := zone(t, "Asia/Shanghai"), zone(t, "America/New_York"), time.UTC
	cn, wk := calendar.China(), calendar.Weekdays()
	for _, tc := range []struct {
		why   string
		loc   *time.Location
		cal   *calendar.Calendar
		after time.Time
		want  string // wall clock in loc
	}{
		// Shanghai, China's calendar: around each cutoff of an ordinary Tuesday.
		{"midnight", sh, cn, at(t, sh, "2026-03-10 00:00:00"), "2026-03-10 10:00"},
		{"just before 10:00", sh, cn, at(t, sh, "2026-03-10 09:59:59.999999999"), "2026-03-10 10:00"},
		{"at 10:00", sh, cn, at(t, sh, "2026-03-10 10:00:00"), "2026-03-10 14:00"},
		{"just after 10:00", sh, cn, at(t, sh, "2026-03-10 10:00:00.000000001"), "2026-03-10 14:00"},
		{"just before 14:00", sh, cn, at(t, sh, "2026-03-10 13:59:59"), "2026-03-10 14:00"},
		{"at 14:00", sh, cn, at(t, sh, "2026-03-10 14:00:00"), "2026-03-10 17:15"},
		{"just before 17:15", sh, cn, at(t, sh, "2026-03-10 17:14:59.5"), "2026-03-10 17:15"},
		{"at 17:15", sh, cn, at(t, sh, "2026-03-10 17:15:00"), "2026-03-10 22:30"},
		{"just after 17:15", sh, cn, at(t, sh, "2026-03-10 17:15:01"), "2026-03-10 22:30"},
		{"just before 22:30", sh, cn, at(t, sh, "2026-03-10 22:29:59"), "2026-03-10 22:30"},
		{"at 22:30", sh, cn, at(t, sh, "2026-03-10 22:30:00"), "2026-03-11 10:00"},
		{"late evening", sh, cn, at(t, sh, "2026-03-10 23:59:59"), "2026-03-11 10:00"},
		{"the same instant given in UTC", sh, cn, at(t, utc, "2026-03-10 01:59:59"), "2026-03-10 10:00"},
		// Weekends and holidays.
		{"Friday evening to Monday", sh, cn, at(t, sh, "2026-03-13 22:30:00"), "2026-03-16 10:00"},
		{"Saturday to Monday", sh, cn, at(t, sh, "2026-03-14 12:00:00"), "2026-03-16 10:00"},
		{"before Spring Festival: the make-up Saturday", sh, cn, at(t, sh, "2026-02-13 22:30:00"), "2026-02-14 10:00"},
		{"make-up Saturday's cutoffs", sh, cn, at(t, sh, "2026-02-14 14:00:00"), "2026-02-14 17:15"},
		{"over Spring Festival 2026", sh, cn, at(t, sh, "2026-02-14 22:30:00"), "2026-02-24 10:00"},
		{"inside Spring Festival 2026", sh, cn, at(t, sh, "2026-02-17 09:00:00"), "2026-02-24 10:00"},
		{"Saturday before the make-up Sunday", sh, cn, at(t, sh, "2026-09-19 12:00:00"), "2026-09-20 10:00"},
		{"over Mid-Autumn 2026", sh, cn, at(t, sh, "2026-09-24 22:30:00"), "2026-09-28 10:00"},
		{"before National Day 2026", sh, cn, at(t, sh, "2026-09-30 17:15:00"), "2026-09-30 22:30"},
		{"over National Day 2026", sh, cn, at(t, sh, "2026-09-30 22:30:00"), "2026-10-08 10:00"},
		{"to the make-up Saturday after National Day", sh, cn, at(t, sh, "2026-10-09 22:30:00"), "2026-10-10 10:00"},
		{"over New Year 2026 to the make-up Sunday", sh, cn, at(t, sh, "2025-12-31 22:30:00"), "2026-01-04 10:00"},
		{"over National Day 2025", sh, cn, at(t, sh, "2025-09-30 22:30:00"), "2025-10-09 10:00"},
		{"never on New Year's Day 2027 (fallback_test.go has the fallback's cutoffs)", sh, cn, at(t, sh, "2026-12-31 22:30:00"), "2027-01-04 10:00"},
		{"2027: weekends still skipped", sh, cn, at(t, sh, "2027-01-02 12:00:00"), "2027-01-04 10:00"},
		// UTC on weekdays.
		{"UTC at 10:00", utc, wk, at(t, utc, "2026-03-10 10:00:00"), "2026-03-10 14:00"},
		{"UTC Friday evening", utc, wk, at(t, utc, "2026-03-13 22:31:00"), "2026-03-16 10:00"},
		{"UTC, given in Shanghai time", utc, wk, at(t, sh, "2026-03-11 06:29:59"), "2026-03-10 22:30"},
		// New York, whose Monday follows the clocks' change.
		{"New York Friday before the spring change", ny, wk, at(t, ny, "2026-03-06 22:30:00"), "2026-03-09 10:00"},
		{"New York Monday after the spring change", ny, wk, at(t, ny, "2026-03-09 09:59:59"), "2026-03-09 10:00"},
		{"New York Friday before the autumn change", ny, wk, at(t, ny, "2026-10-30 22:30:00"), "2026-11-02 10:00"},
		{"New York 22:30 is the next day in Shanghai", ny, wk, at(t, sh, "2026-03-11 10:29:00"), "2026-03-10 22:30"},
	} {
		s := schedule(t, tc.loc, tc.cal, cutoffs...)
		got := s.Next(tc.after)
		require.Equal(t, tc.want, got.Format("2006-01-02 15:04"), tc.why)
		require.Equal(t, tc.loc, got.Location(), tc.why)
		require.True(t, got.After(tc.after), tc.why)
		require.True(t, tc.cal.IsBusinessDay(s.SettlementDate(got)), tc.why)
	}
}

func TestNextAcrossDaylightSaving(t *testing.T) {
	t.Parallel()
	ny := zone(t, "America/New_York")
	s := schedule(t, ny, calendar.Weekdays(), cutoffs...)
	// Friday 22:30 EST to Monday 10:00 EDT is an hour shorter than usual,
	// and an hour longer over the autumn change.
	spring := s.Next(at(t, ny, "2026-03-06 22:30:00"))
	require.Equal(t, 59*time.Hour+30*time.Minute-time.Hour, spring.Sub(at(t, ny, "2026-03-06 22:30:00")))
	require.Equal(t, time.Date(2026, 3, 9, 14, 0, 0, 0, time.UTC), spring.UTC())
	autumn := s.Next(at(t, ny, "2026-10-30 22:30:00"))
	require.Equal(t, 59*time.Hour+30*time.Minute+time.Hour, autumn.Sub(at(t, ny, "2026-10-30 22:30:00")))

	// On a calendar that works every day: a time the spring change skips
	// does not happen that day, and one the autumn change repeats happens once.
	every := calendar.New("every day", nil, nil, nil)
	skip := schedule(t, ny, every, "30 2 * * *")
	require.Equal(t, []string{"2026-03-07 02:30 EST", "2026-03-09 02:30 EDT"},
		format(skip.Between(at(t, ny, "2026-03-06 12:00:00"), at(t, ny, "2026-03-09 12:00:00"))))
	twice := schedule(t, ny, every, "30 1 * * *", "0 12 * * *")
	require.Equal(t, []string{"2026-10-31 12:00 EDT", "2026-11-01 01:30 EDT", "2026-11-01 12:00 EST", "2026-11-02 01:30 EST"},
		format(twice.Between(at(t, ny, "2026-10-31 06:00:00"), at(t, ny, "2026-11-02 06:00:00"))))
	// Asked from inside the repeated hour, the second 01:30 is not a cutoff.
	inside := time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC) // 01:00 EST, the second time
	require.Equal(t, "2026-11-01 12:00 EST", twice.Next(inside).Format("2006-01-02 15:04 MST"))
}

func format(ts []time.Time) []string {
	out := make([]string, len(ts))
	for i, c := range ts {
		out[i] = c.Format("2006-01-02 15:04 MST")
	}
	return out
}

func TestBetween(t *testing.T) {
	t.Parallel()
	sh := zone(t, "Asia/Shanghai")
	s := schedule(t, sh, calendar.China(), cutoffs...)
	for _, tc := range []struct {
		why      string
		from, to string
		want     []string
	}{
		{"over a weekend, to inclusive", "2026-03-13 17:00:00", "2026-03-16 14:00:00",
			[]string{"2026-03-13 17:15 CST", "2026-03-13 22:30 CST", "2026-03-16 10:00 CST", "2026-03-16 14:00 CST"}},
		{"from exclusive", "2026-03-16 10:00:00", "2026-03-16 17:14:59",
			[]string{"2026-03-16 14:00 CST"}},
		{"over Spring Festival with its make-up Saturday", "2026-02-13 22:00:00", "2026-02-24 12:00:00",
			[]string{"2026-02-13 22:30 CST", "2026-02-14 10:00 CST", "2026-02-14 14:00 CST", "2026-02-14 17:15 CST",
				"2026-02-14 22:30 CST", "2026-02-24 10:00 CST"}},
		{"inside a holiday", "2026-10-02 00:00:00", "2026-10-07 23:59:59", nil},
		{"empty interval", "2026-03-16 10:00:00", "2026-03-16 10:00:00", nil},
		{"reversed interval", "2026-03-17 10:00:00", "2026-03-16 10:00:00", nil},
	} {
		got := s.Between(at(t, sh, tc.from), at(t, sh, tc.to))
		if tc.want == nil {
			require.Empty(t, got, tc.why)
			continue
		}
		require.Equal(t, tc.want, format(got), tc.why)
	}
}

// TestEveryCutoffOfEveryBusinessDay walks three years of cutoffs: each
// business day has its four, in order, and no other day has any.
func TestEveryCutoffOfEveryBusinessDay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		loc *time.Location
		cal *calendar.Calendar
	}{
		{zone(t, "Asia/Shanghai"), calendar.China()},
		{zone(t, "America/New_York"), calendar.Weekdays()},
		{time.UTC, calendar.China()},
	} {
		s := schedule(t, tc.loc, tc.cal, "30 22 * * *", "15 17 * * *", "0 10 * * *", "0 14 * * *", "0 14 * * *")
		first, last := date(t, "2025-01-01"), date(t, "2027-12-31")
		all := s.Between(first.Time(tc.loc).Add(-time.Nanosecond), last.AddDays(1).Time(tc.loc))
		var want []string
		for d := first; !d.After(last); d = d.AddDays(1) {
			if tc.cal.IsBusinessDay(d) {
				for _, hm := range []string{"10:00", "14:00", "17:15", "22:30"} {
					want = append(want, d.String()+" "+hm)
				}
			}
		}
		got := make([]string, len(all))
		for i, c := range all {
			got[i] = c.Format("2006-01-02 15:04")
			require.Equal(t, c, s.Next(c.Add(-time.Nanosecond)), "Next agrees with Between")
		}
		require.Equal(t, want, got, tc.loc.String())
	}
}

func TestNextNeverFindsABusinessDay(t *testing.T) {
	t.Parallel()
	sh := zone(t, "Asia/Shanghai")
	// Saturdays only: China works some Saturdays in 2025 and 2026, none after.
	s := schedule(t, sh, calendar.China(), "0 10 * * 6")
	require.Equal(t, "2026-10-10 10:00", s.Next(at(t, sh, "2026-06-01 00:00:00")).Format("2006-01-02 15:04"))
	require.True(t, s.Next(at(t, sh, "2026-10-10 10:00:00")).IsZero())
}

func TestSettlementDate(t *testing.T) {
	t.Parallel()
	sh, ny := zone(t, "Asia/Shanghai"), zone(t, "America/New_York")
	nightly := schedule(t, sh, calendar.China(), cutoffs...).Next(at(t, sh, "2026-09-30 22:00:00"))
	require.Equal(t, "2026-09-30", schedule(t, sh, calendar.China(), cutoffs...).SettlementDate(nightly).String())
	// 22:30 in New York is 02:30 UTC the next day: it settles on New York's date.
	s := schedule(t, ny, calendar.Weekdays(), cutoffs...)
	c := s.Next(at(t, ny, "2026-03-13 22:00:00"))
	require.Equal(t, "2026-03-14", c.UTC().Format("2006-01-02"))
	require.Equal(t, "2026-03-13", s.SettlementDate(c).String())
	require.Equal(t, "2026-03-13", s.SettlementDate(c.UTC()).String())
}

// TestSettlementDateBusinessDay: a cutoff settles on its own date only when
// that is a business day; a run on a day off (a manual run on a Sunday or
// on a holiday) settles on the next business day.
func TestSettlementDateBusinessDay(t *testing.T) {
	t.Parallel()
	sh := zone(t, "Asia/Shanghai")
	cn := calendar.China()
	s := schedule(t, sh, cn, cutoffs...)
	for _, tc := range []struct{ at, want, why string }{
		{"2026-12-06 10:00:00", "2026-12-07", "Sunday: Monday"},
		{"2026-12-13 10:00:00", "2026-12-14", "Sunday: Monday"},
		{"2026-12-12 23:59:59", "2026-12-14", "Saturday night: Monday"},
		{"2026-10-01 10:00:00", "2026-10-08", "National Day: the first day after the holiday"},
		{"2026-10-07 22:30:00", "2026-10-08", "the holiday's last day"},
		{"2026-10-10 10:00:00", "2026-10-10", "a make-up Saturday is a business day"},
		{"2026-12-07 10:00:00", "2026-12-07", "a Monday settles the same day"},
	} {
		require.Equal(t, tc.want, s.SettlementDate(at(t, sh, tc.at)).String(), tc.why)
	}
	// A year the data may not cover yet: still a business day of the
	// calendar, on or after the run's date.
	for _, day := range []string{"2027-01-01", "2027-01-02", "2027-01-03", "2027-02-06", "2027-10-01"} {
		run := at(t, sh, day+" 10:00:00")
		got := s.SettlementDate(run)
		require.True(t, cn.IsBusinessDay(got), "%s settles on %s, a business day", day, got)
		require.False(t, got.Before(calendar.DateOf(run, sh)), day)
		if cn.IsBusinessDay(calendar.DateOf(run, sh)) {
			require.Equal(t, day, got.String())
		} else {
			require.Equal(t, cn.NextBusinessDay(calendar.DateOf(run, sh)), got)
		}
	}
}

func TestCutoffFor(t *testing.T) {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	s, err := calendar.NewSchedule(loc, calendar.China(), "30 15 * * *")
	if err != nil {
		t.Fatal(err)
	}
	// Friday 4 Dec 2026 at 10:00: a payment due today makes today's 15:30
	// cutoff; one due on Sunday 6 Dec settles on Monday 7 Dec.
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, loc)
	c, d := s.CutoffFor(calendar.Date{2026, 12, 4}, now)
	if want := time.Date(2026, 12, 4, 15, 30, 0, 0, loc); !c.Equal(want) || d != (calendar.Date{2026, 12, 4}) {
		t.Fatalf("due today: got %s settling %s, want %s", c, d, want)
	}
	c, d = s.CutoffFor(calendar.Date{2026, 12, 6}, now)
	if want := time.Date(2026, 12, 7, 15, 30, 0, 0, loc); !c.Equal(want) || d != (calendar.Date{2026, 12, 7}) {
		t.Fatalf("due Sunday: got %s settling %s, want %s", c, d, want)
	}
	// Authorized after today's cutoff, due yesterday: the next business
	// day's cutoff.
	c, _ = s.CutoffFor(calendar.Date{2026, 12, 3}, time.Date(2026, 12, 4, 16, 0, 0, 0, loc))
	if want := time.Date(2026, 12, 7, 15, 30, 0, 0, loc); !c.Equal(want) {
		t.Fatalf("late: got %s, want %s", c, want)
	}
	// Next year's date: the cutoff of that day, not a walk that gives up.
	c, d = s.CutoffFor(calendar.Date{2027, 3, 10}, now)
	if want := time.Date(2027, 3, 10, 15, 30, 0, 0, loc); !c.Equal(want) || d != (calendar.Date{2027, 3, 10}) {
		t.Fatalf("next year: got %s settling %s, want %s", c, d, want)
	}
}
