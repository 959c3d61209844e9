package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2bpay/b2bpay/recon"
)

// ReconSubdir is the folder of the inbound directory where the bank's
// camt.054 notifications are dropped for the scheduled pickup.
const ReconSubdir = "camt054"

// reconMismatches is the counter of mismatched notification entries.
func reconMismatches() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "b2bpay_recon_mismatch_total",
		Help: "camt.054 entries that did not reconcile, by class (unmatched, short, duplicated, conflict); alert on any."}, []string{"class"})
}

// Reconciler is the camt.054 importer over the store; m, when not nil,
// counts the mismatches in b2bpay_recon_mismatch_total.
func (a *App) Reconciler(m *Metrics) *recon.Importer {
	im := &recon.Importer{Store: a.Store, Log: a.Log}
	if m != nil {
		im.Mismatch = func(c recon.Class) { m.recon.WithLabelValues(string(c)).Inc() }
	}
	return im
}

// ReconImport imports camt.054 files and writes what became of each: the
// classes of its entries and its mismatches. A file imported before is
// said so and changes nothing. Every file is tried; the error names those
// that failed.
func (a *App) ReconImport(ctx context.Context, w io.Writer, files []string) error {
	if len(files) == 0 {
		return errors.New("recon import: name at least one camt.054 file")
	}
	im := a.Reconciler(nil)
	var errs []error
	for _, path := range files {
		sum, err := im.ImportFile(ctx, path)
		switch {
		case err != nil:
			errs = append(errs, err)
			fmt.Fprintf(w, "%s: refused: %v\n", path, err)
		case sum.Repeated:
			fmt.Fprintf(w, "%s: %s imported before; nothing done\n", path, sum.MessageID)
		default:
			fmt.Fprintf(w, "%s: %s, %d entries:", path, sum.MessageID, sum.Entries)
			for _, c := range recon.Classes {
				if n := sum.Classes[c]; n > 0 {
					fmt.Fprintf(w, " %d %s", n, c)
				}
			}
			fmt.Fprintf(w, "; %d payments changed, %d mismatches\n", sum.Changed, sum.Mismatches)
		}
	}
	return errors.Join(errs...)
}

// ReconReport writes the end-of-day report of a settlement date
// (YYYY-MM-DD; "" is today in the configured zone), as CSV or as a table
// with its verdict.
func (a *App) ReconReport(ctx context.Context, w io.Writer, date string, asCSV bool) error {
	day, err := ParseReconDate(date, time.Now().In(a.Config.Location))
	if err != nil {
		return err
	}
	d, err := a.Store.ReconDay(ctx, day)
	if err != nil {
		return err
	}
	if asCSV {
		return recon.WriteCSV(w, d)
	}
	return recon.WriteText(w, d)
}

// ParseReconDate reads a report's date (YYYY-MM-DD); "" is now's date.
func ParseReconDate(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC), nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	return d, nil
}
