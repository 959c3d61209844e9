package server

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/testlog"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(data), 0o600))
}

// cnWith is cn.txt as it stood at the end of 2026 (the 2025 and 2026
// notices: later years' lines are left out, so these tests hold once they
// are added) with extra lines, as an operator adds a year's notice.
func cnWith(t *testing.T, extra string) string {
	t.Helper()
	b, err := os.ReadFile("../calendar/data/cn.txt")
	require.NoError(t, err)
	var out strings.Builder
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if y, err := strconv.Atoi(strings.SplitN(line, "-", 2)[0]); err == nil && y > 2026 {
			continue
		}
		out.WriteString(line)
	}
	return out.String() + extra
}

// notice2027 stands for the 2027 notice in these tests: its New Year's Day
// only (the real notice's lines are for an operator to copy from its text).
const notice2027 = "\n# 2027 (test)\n2027-01-01 holiday New Year's Day (元旦)\n"

func TestCalendarSourceReload(t *testing.T) {
	t.Parallel()
	sh := shanghai()
	path := filepath.Join(t.TempDir(), "cn.txt")
	writeFile(t, path, cnWith(t, ""))
	src, err := loadCalendar(path)
	require.NoError(t, err)
	sched, err := calendar.NewSchedule(sh, src.cal, "0 10 * * *")
	require.NoError(t, err)
	newYearsEve := time.Date(2026, 12, 31, 12, 0, 0, 0, sh)
	jan2 := calendar.Date{Year: 2027, Month: time.January, Day: 2}
	require.True(t, src.cal.Fallback(2027))

	changed, err := src.reload()
	require.NoError(t, err)
	require.False(t, changed, "the same content")

	// The operator adds 2027 (one file) and reloads.
	writeFile(t, path, cnWith(t, notice2027))
	changed, err = src.reload()
	require.NoError(t, err)
	require.True(t, changed)
	require.False(t, src.cal.Fallback(2027))
	require.Equal(t, []int{2025, 2026, 2027}, src.cal.Years())
	require.Equal(t, "2027-01-04 10:00", sched.Next(newYearsEve).Format("2006-01-02 15:04"), "New Year's Day from the file, the schedule sees it")
	require.False(t, src.cal.IsBusinessDay(jan2), "a Saturday")

	// A bad file keeps the calendar in use.
	writeFile(t, path, cnWith(t, notice2027+"2027-02-30 holiday typo\n"))
	changed, err = src.reload()
	require.ErrorContains(t, err, `date "2027-02-30"`)
	require.False(t, changed)
	require.Equal(t, []int{2025, 2026, 2027}, src.cal.Years())
	require.NoError(t, os.Remove(path))
	_, err = src.reload()
	require.ErrorContains(t, err, "no such file")
	require.Equal(t, []int{2025, 2026, 2027}, src.cal.Years())

	// Fixed again: back to the file's content.
	writeFile(t, path, cnWith(t, ""))
	changed, err = src.reload()
	require.NoError(t, err)
	require.True(t, changed)
	require.True(t, src.cal.Fallback(2027))

	// The built-in calendars have nothing to reload.
	for _, name := range []string{"cn", "weekdays"} {
		b, err := loadCalendar(name)
		require.NoError(t, err)
		changed, err := b.reload()
		require.NoError(t, err)
		require.False(t, changed)
	}
	_, err = loadCalendar(filepath.Join(t.TempDir(), "missing.txt"))
	require.ErrorContains(t, err, "calendar: open")
}

func TestCalendarWatchWarns(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cn.txt")
	writeFile(t, path, cnWith(t, ""))
	src, err := loadCalendar(path)
	require.NoError(t, err)
	var buf testlog.Buffer
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, shanghai())
	w := &calendarWatch{src: src, loc: shanghai(), log: slog.New(slog.NewTextHandler(&buf, nil)), now: func() time.Time { return now }}

	require.Equal(t, 25, w.runOnce(context.Background()))
	require.Contains(t, buf.String(), `level=WARN msg="calendar data runs out: add the next State Council notice to the calendar file" calendar=`+path+
		` covered_through=2026-12-31 days_left=25 from_year=2027 then="statutory holidays only, no make-up workdays"`)

	for _, tc := range []struct {
		now  time.Time
		left int
		warn bool
	}{
		{time.Date(2026, 11, 1, 9, 0, 0, 0, shanghai()), 60, false},
		{time.Date(2026, 11, 2, 9, 0, 0, 0, shanghai()), 59, true},
		{time.Date(2026, 11, 1, 15, 59, 0, 0, time.UTC), 60, false}, // 23:59 on 1 November in Shanghai
		{time.Date(2026, 11, 1, 16, 0, 0, 0, time.UTC), 59, true},   // 00:00 on 2 November in Shanghai
		{time.Date(2027, 3, 1, 9, 0, 0, 0, shanghai()), -60, true},
	} {
		buf.Reset()
		now = tc.now
		require.Equal(t, tc.left, w.runOnce(context.Background()), tc.now)
		require.Equal(t, tc.warn, strings.Contains(buf.String(), "calendar data runs out"), tc.now)
	}

	// A calendar without data never warns.
	wk, err := loadCalendar("weekdays")
	require.NoError(t, err)
	buf.Reset()
	(&calendarWatch{src: wk, loc: shanghai(), log: slog.New(slog.NewTextHandler(&buf, nil)), now: time.Now}).runOnce(context.Background())
	require.Empty(t, buf.String())
	// A file without a fallback says what happens after.
	xsPath := filepath.Join(t.TempDir(), "xs.txt")
	writeFile(t, xsPath, "2026-03-10 holiday Founders' Day\n")
	xs, err := loadCalendar(xsPath)
	require.NoError(t, err)
	(&calendarWatch{src: xs, loc: shanghai(), log: slog.New(slog.NewTextHandler(&buf, nil)), now: func() time.Time { return now }}).runOnce(context.Background())
	require.Contains(t, buf.String(), `from_year=2027 then="weekends only"`)
}

// The watch runs at start, on every tick and on every reload signal; a
// reload that fails keeps the calendar and says so.
func TestCalendarWatchRun(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cn.txt")
	writeFile(t, path, cnWith(t, ""))
	src, err := loadCalendar(path)
	require.NoError(t, err)
	var buf testlog.Buffer
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, shanghai())
	w := &calendarWatch{src: src, loc: shanghai(), log: slog.New(slog.NewTextHandler(&buf, nil)), now: func() time.Time { return now }}
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() { defer close(done); w.run(ctx, time.Hour, hup) }()
	warnings := func() int { return strings.Count(buf.String(), "calendar data runs out") }
	require.Eventually(t, func() bool { return warnings() == 1 }, 5*time.Second, 5*time.Millisecond, "at start")

	writeFile(t, path, cnWith(t, "2027-02-30 holiday typo\n"))
	hup <- os.Interrupt
	require.Eventually(t, func() bool {
		return strings.Contains(buf.String(), "calendar reload failed; keeping the calendar in use")
	}, 5*time.Second, 5*time.Millisecond)
	require.True(t, src.cal.Fallback(2027))

	writeFile(t, path, cnWith(t, notice2027))
	hup <- os.Interrupt
	require.Eventually(t, func() bool { return strings.Contains(buf.String(), "calendar reloaded") }, 5*time.Second, 5*time.Millisecond)
	require.Contains(t, buf.String(), "years=\"[2025 2026 2027]\"")
	require.False(t, src.cal.Fallback(2027))
	require.Equal(t, 2, warnings(), "no warning once 2027 is in: 390 days left")
	cancel()
	<-done

	// Daily: a short period stands for a day.
	buf.Reset()
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	now = time.Date(2027, 12, 6, 9, 0, 0, 0, shanghai())
	go w.run(ctx, 10*time.Millisecond, nil)
	require.Eventually(t, func() bool { return warnings() >= 3 }, 5*time.Second, 5*time.Millisecond, "at start and on every tick")
}

func TestCalendarDaysLeftGauge(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cn.txt")
	writeFile(t, path, cnWith(t, ""))
	src, err := loadCalendar(path)
	require.NoError(t, err)
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, shanghai())
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.calendarDaysLeft(src, shanghai(), clock)
	require.Equal(t, []float64{25}, gauge(t, m.reg, "b2bpay_calendar_days_left"))
	mu.Lock()
	now = now.AddDate(0, 0, 1)
	mu.Unlock()
	require.Equal(t, []float64{24}, gauge(t, m.reg, "b2bpay_calendar_days_left"), "it follows the clock")
	writeFile(t, path, cnWith(t, notice2027))
	_, err = src.reload()
	require.NoError(t, err)
	require.Equal(t, []float64{389}, gauge(t, m.reg, "b2bpay_calendar_days_left"), "and reloads")

	wk, err := loadCalendar("weekdays")
	require.NoError(t, err)
	none := &Metrics{reg: prometheus.NewRegistry()}
	none.calendarDaysLeft(wk, shanghai(), clock)
	require.Empty(t, gauge(t, none.reg, "b2bpay_calendar_days_left"), "no gauge for a calendar without data")
}

// gauge returns the values of the gauge name in reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) []float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var out []float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				out = append(out, m.GetGauge().GetValue())
			}
		}
	}
	return out
}
