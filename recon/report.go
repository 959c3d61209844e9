package recon

import (
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// Figure is a count of payments (or entries) and their sum in minor units.
type Figure struct {
	Count    int
	SumMinor int64
}

// Add adds one amount.
func (f *Figure) Add(minor int64) { f.Count++; f.SumMinor += minor }

// Plus is f and g together.
func (f Figure) Plus(g Figure) Figure { return Figure{f.Count + g.Count, f.SumMinor + g.SumMinor} }

// Row is one line of the end-of-day report: a batch (one file, one
// currency), a currency's total over the day's batches, or the entries of
// the day that matched no payment.
type Row struct {
	// Kind is "batch", "total" or "unmatched".
	Kind     string
	BatchID  string
	FileName string
	Currency string
	// State is the batch's state (claimed, written, or a delivery state).
	State string
	// Exported are the batch's payments; Delivered and Acknowledged are
	// the payments of a delivered (acknowledged) batch, as the batch table
	// says (see Day.DeliveryKnown).
	Exported, Delivered, Acknowledged Figure
	// Settled and Returned are the payments in those states; Unanswered
	// those still exported (neither a pacs.002 nor a camt.054 answered).
	Settled, Returned, Unanswered Figure
	// NotBooked are settled payments without a booked camt.054 debit.
	NotBooked Figure
	// Short, Duplicated, Conflict and Unmatched count notification entries
	// (amounts as booked).
	Short, Duplicated, Conflict, Unmatched Figure
}

// Issue is one reason a day does not balance: the payments or entries of
// one kind in one currency. Kind is unanswered, notbooked, short,
// duplicated, conflict or unmatched.
type Issue struct {
	Kind     string
	Currency string
	Figure
}

// issueKinds are the kinds of Issue in report order, with their names in
// the English reports.
var issueKinds = []struct{ kind, name string }{{"unanswered", "unanswered"}, {"notbooked", "not booked"},
	{"short", "short"}, {"duplicated", "duplicated"}, {"conflict", "conflict"}, {"unmatched", "unmatched"}}

// String is the issue as the English reports print it:
// "1 unmatched (CNY 42.00)".
func (i Issue) String() string {
	name := i.Kind
	for _, k := range issueKinds {
		if k.kind == i.Kind {
			name = k.name
		}
	}
	return fmt.Sprintf("%d %s (%s %s)", i.Count, name, i.Currency, payment.FormatAmount(i.SumMinor, i.Currency))
}

// issues are the figures that unbalance a row.
func (r Row) issues() []Issue {
	figures := map[string]Figure{"unanswered": r.Unanswered, "notbooked": r.NotBooked, "short": r.Short,
		"duplicated": r.Duplicated, "conflict": r.Conflict, "unmatched": r.Unmatched}
	var out []Issue
	for _, k := range issueKinds {
		if f := figures[k.kind]; f.Count > 0 {
			out = append(out, Issue{Kind: k.kind, Currency: r.Currency, Figure: f})
		}
	}
	return out
}

// Day is the end-of-day report of one settlement date.
type Day struct {
	Date time.Time
	// Batches are the batches settling that day, by id.
	Batches []Row
	// Unmatched are the day's booked entries (by booking date) that
	// matched no payment, one row per currency.
	Unmatched []Row
	// DeliveryKnown says whether the batch table records delivery; when
	// false Delivered and Acknowledged are empty.
	DeliveryKnown bool
}

// Totals are the day's figures per currency: its batches and its
// unmatched entries, one row per currency, by currency.
func (d Day) Totals() []Row {
	by := map[string]*Row{}
	get := func(ccy string) *Row {
		if by[ccy] == nil {
			by[ccy] = &Row{Kind: "total", Currency: ccy}
		}
		return by[ccy]
	}
	for _, b := range append(append([]Row(nil), d.Batches...), d.Unmatched...) {
		t := get(b.Currency)
		t.Exported, t.Delivered, t.Acknowledged = t.Exported.Plus(b.Exported), t.Delivered.Plus(b.Delivered), t.Acknowledged.Plus(b.Acknowledged)
		t.Settled, t.Returned, t.Unanswered = t.Settled.Plus(b.Settled), t.Returned.Plus(b.Returned), t.Unanswered.Plus(b.Unanswered)
		t.NotBooked, t.Short, t.Duplicated = t.NotBooked.Plus(b.NotBooked), t.Short.Plus(b.Short), t.Duplicated.Plus(b.Duplicated)
		t.Conflict, t.Unmatched = t.Conflict.Plus(b.Conflict), t.Unmatched.Plus(b.Unmatched)
	}
	out := make([]Row, 0, len(by))
	for _, r := range by {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Currency < out[j].Currency })
	return out
}

// Problems says why the day is not balanced, per currency; none when it
// is. A day is balanced when every exported payment is answered (settled
// or returned), every settled one is booked by the bank, and no entry is
// unmatched, short, duplicated or in conflict.
func (d Day) Problems() []string {
	var out []string
	for _, i := range d.Issues() {
		out = append(out, i.String())
	}
	return out
}

// Issues are the day's problems as figures, per currency, for a page that
// words them in its own language.
func (d Day) Issues() []Issue {
	var out []Issue
	for _, t := range d.Totals() {
		out = append(out, t.issues()...)
	}
	return out
}

// Balanced reports whether the day has no problem.
func (d Day) Balanced() bool { return len(d.Issues()) == 0 }

// Verdict is the report's last line: balanced, or why not.
func (d Day) Verdict() string {
	if p := d.Problems(); len(p) > 0 {
		return fmt.Sprintf("%s NOT balanced: %s", d.Date.Format(time.DateOnly), strings.Join(p, ", "))
	}
	return fmt.Sprintf("%s balanced: every exported payment is answered and booked, every entry matched", d.Date.Format(time.DateOnly))
}

// csvHeader is the CSV report's first line.
var csvHeader = []string{"date", "kind", "batch", "file", "currency", "state",
	"exported_count", "exported_sum", "delivered_count", "delivered_sum", "acknowledged_count", "acknowledged_sum",
	"settled_count", "settled_sum", "returned_count", "returned_sum", "unanswered_count", "unanswered_sum",
	"not_booked_count", "not_booked_sum", "short_count", "short_sum", "duplicated_count", "duplicated_sum",
	"conflict_count", "conflict_sum", "unmatched_count", "unmatched_sum", "balanced"}

// WriteCSV writes the report as CSV: a row per batch, per currency's
// unmatched entries and per currency's total, sums as decimals in the
// currency (never floats). The balanced column is yes or no on each total
// row; delivered and acknowledged are empty when the batch table does not
// record delivery. Text cells that a spreadsheet would take for a formula
// are prefixed with a quote.
func WriteCSV(w io.Writer, d Day) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	rows := append(append(append([]Row(nil), d.Batches...), d.Unmatched...), d.Totals()...)
	for _, r := range rows {
		rec := []string{d.Date.Format(time.DateOnly), r.Kind, cell(r.BatchID), cell(r.FileName), r.Currency, cell(r.State)}
		for i, f := range []Figure{r.Exported, r.Delivered, r.Acknowledged, r.Settled, r.Returned, r.Unanswered,
			r.NotBooked, r.Short, r.Duplicated, r.Conflict, r.Unmatched} {
			if !d.DeliveryKnown && (i == 1 || i == 2) {
				rec = append(rec, "", "")
				continue
			}
			rec = append(rec, strconv.Itoa(f.Count), formatSum(f.SumMinor, r.Currency))
		}
		bal := ""
		if r.Kind == "total" {
			bal = "yes"
			if len(r.issues()) > 0 {
				bal = "no"
			}
		}
		if err := cw.Write(append(rec, bal)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// formatSum writes a sum in the currency's decimals ("0.00" for none).
func formatSum(minor int64, currency string) string {
	if minor == 0 {
		exp, _ := payment.CurrencyExponent(currency)
		if exp == 0 {
			return "0"
		}
		return "0." + strings.Repeat("0", exp)
	}
	return payment.FormatAmount(minor, currency)
}

// cell neutralises a text cell a spreadsheet would read as a formula.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteText writes the report for a terminal: a table of the batches and
// totals, then the verdict.
func WriteText(w io.Writer, d Day) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "end of day %s\n", d.Date.Format(time.DateOnly))
	fmt.Fprintln(tw, "kind\tbatch\tccy\tstate\texported\tdelivered\tacknowledged\tsettled\treturned\tunanswered\tnot booked\tshort\tduplicated\tconflict\tunmatched")
	rows := append(append(append([]Row(nil), d.Batches...), d.Unmatched...), d.Totals()...)
	for _, r := range rows {
		fig := func(f Figure) string {
			return fmt.Sprintf("%d / %s", f.Count, formatSum(f.SumMinor, r.Currency))
		}
		del, ack := "n/a", "n/a"
		if d.DeliveryKnown {
			del, ack = fig(r.Delivered), fig(r.Acknowledged)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Kind, r.BatchID, r.Currency, r.State,
			fig(r.Exported), del, ack, fig(r.Settled), fig(r.Returned), fig(r.Unanswered), fig(r.NotBooked),
			fig(r.Short), fig(r.Duplicated), fig(r.Conflict), fig(r.Unmatched))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, d.Verdict())
	return err
}
