package recon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/b2bpay/b2bpay/inbound"

	"github.com/b2bpay/b2bpay/iso20022"
)

// Pickup imports the camt.054 notifications dropped in a directory, as
// export.Reports does for pacs.002: each file, oldest name first, is
// imported and moved to processed/ (also when imported before), or, when
// it does not read, moved to quarantine/ beside a .reason.txt. A database
// error leaves the file for the next pass. No move replaces a file.
type Pickup struct {
	Importer *Importer
	Dir      string
	Log      *slog.Logger
}

// PickupSummary says what one pass did.
type PickupSummary struct {
	Files, Imported, Repeated, Quarantined, Mismatches int
}

// RunOnce processes every file waiting in the directory (made if missing).
func (p *Pickup) RunOnce(ctx context.Context) (PickupSummary, error) {
	var sum PickupSummary
	if err := os.MkdirAll(p.Dir, 0o750); err != nil {
		return sum, fmt.Errorf("recon pickup: %w", err)
	}
	if err := inbound.Prepare(ctx, p.Dir, "camt054", p.log()); err != nil {
		return sum, fmt.Errorf("recon pickup: %w", err)
	}
	names, err := inbound.Waiting(p.Dir)
	if err != nil {
		return sum, fmt.Errorf("recon pickup: %w", err)
	}
	var errs []error
	for _, name := range names {
		sum.Files++
		s, err := p.Importer.ImportFile(ctx, filepath.Join(p.Dir, name))
		switch {
		case errors.Is(err, iso20022.ErrInvalidNotification):
			sum.Quarantined++
			to, merr := inbound.Move(p.Dir, name, inbound.Quarantine)
			if merr == nil {
				merr = os.WriteFile(filepath.Join(p.Dir, inbound.Quarantine, to+".reason.txt"), []byte(err.Error()+"\n"), 0o640)
			}
			errs = append(errs, merr)
			continue
		case err != nil:
			errs = append(errs, err) // the database: the file waits for the next pass
			continue
		case s.Repeated:
			sum.Repeated++
		default:
			sum.Imported++
			sum.Mismatches += s.Mismatches
		}
		_, merr := inbound.Move(p.Dir, name, inbound.Processed)
		errs = append(errs, merr)
	}
	return sum, errors.Join(errs...)
}

// clear makes the directory sub, moving aside (under a free name, then
// read as a notification) whatever else holds its name, with an ERROR log

func (p *Pickup) log() *slog.Logger {
	if p.Log == nil {
		return slog.Default()
	}
	return p.Log
}
