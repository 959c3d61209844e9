package calendar

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Load reads a calendar named name from r. The format is a line per date,
// and # starts a comment:
//
//	# Public holidays of Examplestan, from the government's notice of ...
//	weekend saturday sunday
//	2026-01-01 holiday New Year's Day
//	2026-01-04 workday make-up working day for New Year
//
// A holiday is a day off even when it falls on a weekday; a workday is a
// weekend day worked instead (China's 调休), so a workday on a day that is not
// a weekend day is refused as a likely typo. The optional weekend line (at
// most one, English day names or their first three letters) replaces the
// default Saturday and Sunday. Every problem is reported with its line
// number, all of them at once.
func Load(name string, r io.Reader) (*Calendar, error) {
	p := parser{name: name, seen: make(map[Date]int)}
	sc := bufio.NewScanner(r)
	n := 1
	for ; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		p.line(n, line)
	}
	if err := sc.Err(); err != nil {
		p.errs = append(p.errs, fmt.Errorf("calendar %s: line %d: read: %w", name, n, err))
	}
	p.checkWorkdays()
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	c := New(name, p.weekend(), p.holidays, p.workdayDates())
	if p.fallback == fallbackCNStatutory {
		c = c.WithChinaStatutory()
	}
	return c, nil
}

// fallbackCNStatutory names China's statutory holidays in a fallback line.
const fallbackCNStatutory = "cn-statutory"

// entry is a workday line, kept until the weekend is known.
type entry struct {
	line int
	date Date
}

type parser struct {
	name        string
	weekendDays []time.Weekday
	weekendLine int
	fallback    string
	fallbackAt  int
	holidays    []Date
	workdays    []entry
	seen        map[Date]int // date → line that listed it
	errs        []error
}

func (p *parser) errorf(line int, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("calendar %s: line %d: %s", p.name, line, fmt.Sprintf(format, args...)))
}

func (p *parser) line(n int, line string) {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	fields := strings.Fields(line)
	switch {
	case len(fields) == 0:
		return
	case strings.EqualFold(fields[0], "weekend"):
		p.weekendDirective(n, fields[1:])
		return
	case strings.EqualFold(fields[0], "fallback"):
		p.fallbackDirective(n, fields[1:])
		return
	case len(fields) < 2:
		p.errorf(n, "want \"YYYY-MM-DD holiday|workday [description]\", \"weekend DAY...\" or \"fallback %s\", got %q", fallbackCNStatutory, strings.TrimSpace(line))
		return
	}
	d, err := ParseDate(fields[0])
	if err != nil {
		p.errorf(n, "%v", err)
		return
	}
	if prev, ok := p.seen[d]; ok {
		p.errorf(n, "%s already listed on line %d", d, prev)
		return
	}
	p.seen[d] = n
	switch strings.ToLower(fields[1]) {
	case "holiday":
		p.holidays = append(p.holidays, d)
	case "workday":
		p.workdays = append(p.workdays, entry{line: n, date: d})
	default:
		p.errorf(n, "%s: kind %q: want holiday or workday", d, fields[1])
	}
}

func (p *parser) weekendDirective(n int, names []string) {
	if p.weekendLine != 0 {
		p.errorf(n, "weekend already set on line %d", p.weekendLine)
		return
	}
	p.weekendLine = n
	if len(names) == 0 {
		p.errorf(n, "weekend names no day (want e.g. \"weekend saturday sunday\")")
		return
	}
	var days []time.Weekday
	seen := make(map[time.Weekday]bool)
	for _, s := range names {
		w, ok := parseWeekday(s)
		if !ok {
			p.errorf(n, "weekend: unknown day %q", s)
			return
		}
		if !seen[w] {
			seen[w] = true
			days = append(days, w)
		}
	}
	if len(days) == 7 {
		p.errorf(n, "weekend: every day of the week is a weekend day")
		return
	}
	p.weekendDays = days
}

func (p *parser) fallbackDirective(n int, args []string) {
	switch {
	case p.fallbackAt != 0:
		p.errorf(n, "fallback already set on line %d", p.fallbackAt)
	case len(args) != 1 || !strings.EqualFold(args[0], fallbackCNStatutory):
		p.errorf(n, "fallback: want \"fallback %s\", got %q", fallbackCNStatutory, strings.Join(args, " "))
	default:
		p.fallbackAt, p.fallback = n, fallbackCNStatutory
	}
}

// checkWorkdays refuses make-up working days that are not weekend days.
func (p *parser) checkWorkdays() {
	off := make(map[time.Weekday]bool)
	for _, w := range p.weekend() {
		off[w] = true
	}
	for _, e := range p.workdays {
		if !off[e.date.Weekday()] {
			p.errorf(e.line, "%s is a %s, already a working day: a make-up workday falls on a weekend day", e.date, e.date.Weekday())
		}
	}
}

func (p *parser) weekend() []time.Weekday {
	if p.weekendLine == 0 || p.weekendDays == nil {
		return []time.Weekday{time.Saturday, time.Sunday}
	}
	return p.weekendDays
}

func (p *parser) workdayDates() []Date {
	ds := make([]Date, len(p.workdays))
	for i, e := range p.workdays {
		ds[i] = e.date
	}
	return ds
}

// parseWeekday reads an English day name or its first three letters, in any
// case.
func parseWeekday(s string) (time.Weekday, bool) {
	s = strings.ToLower(s)
	for w := time.Sunday; w <= time.Saturday; w++ {
		full := strings.ToLower(w.String())
		if s == full || s == full[:3] {
			return w, true
		}
	}
	return 0, false
}
