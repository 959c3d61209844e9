package calendar_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/calendar"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	const data = "\uFEFF# Examplestan, from the 2026 notice\n" +
		"\n" +
		"WEEKEND fri Saturday   # Friday and Saturday off\n" +
		"2026-03-10 holiday Founders' Day # a Tuesday\n" +
		"  2026-03-13   WORKDAY   make-up Friday\n" +
		"2027-01-01 Holiday\n"
	c, err := calendar.Load("XS", strings.NewReader(data))
	require.NoError(t, err)
	require.Equal(t, "XS", c.Name())
	require.Equal(t, []int{2026, 2027}, c.Years())
	for _, tc := range []struct {
		day  string
		want bool
	}{
		{"2026-03-06", false}, // Friday
		{"2026-03-07", false}, // Saturday
		{"2026-03-08", true},  // Sunday
		{"2026-03-09", true},
		{"2026-03-10", false}, // Founders' Day
		{"2026-03-12", true},
		{"2026-03-13", true}, // make-up Friday
		{"2027-01-01", false},
		{"2027-01-03", true}, // Sunday
	} {
		require.Equal(t, tc.want, c.IsBusinessDay(date(t, tc.day)), tc.day)
	}
	require.Equal(t, "2026-03-11", c.NextBusinessDay(date(t, "2026-03-09")).String())
	require.True(t, c.Covers(date(t, "2026-12-31")))
	require.False(t, c.Covers(date(t, "2028-01-01")))

	empty, err := calendar.Load("empty", strings.NewReader("# nothing yet\n"))
	require.NoError(t, err)
	require.True(t, empty.IsBusinessDay(date(t, "2026-03-09")))
	require.False(t, empty.IsBusinessDay(date(t, "2026-03-08")))
	require.Empty(t, empty.Years())
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, data string
		want       []string
	}{
		{"no kind", "# header\n2026-01-01\n", []string{"calendar T: line 2: want \"YYYY-MM-DD holiday|workday [description]\""}},
		{"junk", "hello world\n", []string{"line 1: date \"hello\": want YYYY-MM-DD"}},
		{"bad date", "2026-02-30 holiday\n", []string{"line 1: date \"2026-02-30\""}},
		{"short date", "2026-2-3 holiday\n", []string{"line 1: date \"2026-2-3\""}},
		{"unknown kind", "2026-01-01 vacation New Year\n", []string{"line 1: 2026-01-01: kind \"vacation\": want holiday or workday"}},
		{"duplicate", "2026-01-01 holiday\n\n2026-01-01 holiday again\n", []string{"line 3: 2026-01-01 already listed on line 1"}},
		{"holiday and workday", "2026-01-03 holiday\n2026-01-03 workday\n", []string{"line 2: 2026-01-03 already listed on line 1"}},
		{"workday on a weekday", "2026-01-05 workday\n", []string{"line 1: 2026-01-05 is a Monday, already a working day"}},
		{"workday off the declared weekend", "weekend friday saturday\n2026-01-04 workday\n", []string{"line 2: 2026-01-04 is a Sunday"}},
		{"weekend twice", "weekend sat sun\nweekend sun\n", []string{"line 2: weekend already set on line 1"}},
		{"weekend empty", "weekend\n", []string{"line 1: weekend names no day"}},
		{"weekend unknown day", "weekend saturday caturday\n", []string{"line 1: weekend: unknown day \"caturday\""}},
		{"weekend every day", "weekend mon tue wed thu fri sat sun\n", []string{"line 1: weekend: every day of the week is a weekend day"}},
		{"several at once", "2026-01-01 holiday\nnonsense\n2026-13-01 holiday\n2026-01-01 workday\n2026-01-06 workday\n",
			[]string{"line 2: ", "line 3: date \"2026-13-01\"", "line 4: 2026-01-01 already listed on line 1", "line 5: 2026-01-06 is a Tuesday"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := calendar.Load("T", strings.NewReader(tc.data))
			require.Error(t, err)
			require.Nil(t, c)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			require.Len(t, strings.Split(err.Error(), "\n"), len(tc.want), err.Error())
		})
	}
}

// failingReader fails after its data.
type failingReader struct{ data *strings.Reader }

func (r failingReader) Read(p []byte) (int, error) {
	if r.data.Len() == 0 {
		return 0, errors.New("disk on fire")
	}
	return r.data.Read(p)
}

func TestLoadReadError(t *testing.T) {
	t.Parallel()
	_, err := calendar.Load("T", failingReader{strings.NewReader("2026-01-01 holiday\n")})
	require.ErrorContains(t, err, "calendar T: line 2: read: disk on fire")

	long := "2026-01-01 holiday\n2026-01-02 holiday " + strings.Repeat("x", 70000) + "\n"
	_, err = calendar.Load("T", strings.NewReader(long))
	require.ErrorContains(t, err, "calendar T: line 2: read: bufio.Scanner: token too long")
}

func TestLoadWeekendNames(t *testing.T) {
	t.Parallel()
	for w := time.Sunday; w <= time.Saturday; w++ {
		for _, name := range []string{w.String(), strings.ToUpper(w.String()[:3])} {
			c, err := calendar.Load("T", strings.NewReader("weekend "+name+"\n"))
			require.NoError(t, err, name)
			d := date(t, "2026-03-08") // a Sunday
			for i := range 7 {
				day := d.AddDays(i)
				require.Equal(t, day.Weekday() != w, c.IsBusinessDay(day), "%s: %s", name, day)
			}
		}
	}
}
