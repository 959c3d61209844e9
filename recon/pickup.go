package recon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

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
	for _, sub := range []string{"processed", "quarantine"} {
		if err := p.clear(ctx, sub); err != nil {
			return sum, fmt.Errorf("recon pickup: %w", err)
		}
	}
	entries, err := os.ReadDir(p.Dir)
	if err != nil {
		return sum, fmt.Errorf("recon pickup: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		sum.Files++
		s, err := p.Importer.ImportFile(ctx, filepath.Join(p.Dir, name))
		switch {
		case errors.Is(err, iso20022.ErrInvalidNotification):
			sum.Quarantined++
			to, merr := moveNoReplace(p.Dir, name, "quarantine")
			if merr == nil {
				merr = os.WriteFile(filepath.Join(p.Dir, "quarantine", to+".reason.txt"), []byte(err.Error()+"\n"), 0o640)
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
		_, merr := moveNoReplace(p.Dir, name, "processed")
		errs = append(errs, merr)
	}
	return sum, errors.Join(errs...)
}

// clear makes the directory sub, moving aside (under a free name, then
// read as a notification) whatever else holds its name, with an ERROR log
// alert=inbound_blocked: a file there cannot stop every pass.
func (p *Pickup) clear(ctx context.Context, sub string) error {
	path := filepath.Join(p.Dir, sub)
	if fi, err := os.Lstat(path); err == nil && !fi.IsDir() {
		to, err := moveNoReplace(p.Dir, sub, "")
		if err != nil {
			return fmt.Errorf("move aside %s, which is not a directory: %w", sub, err)
		}
		p.log().ErrorContext(ctx, "something that is not a directory was in the way of camt054/"+sub+"/; moved aside",
			"file", sub, "moved_as", to, "alert", "inbound_blocked")
	}
	if err := os.Mkdir(path, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

func (p *Pickup) log() *slog.Logger {
	if p.Log == nil {
		return slog.Default()
	}
	return p.Log
}

// moveNoReplace moves dir/name into dir/sub under name, or the first free
// name~N: a hard link claims the new name (it fails on an existing one),
// then the old name goes.
func moveNoReplace(dir, name, sub string) (string, error) {
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for i := range 10000 {
		to := name
		if i > 0 {
			to = fmt.Sprintf("%s~%d%s", base, i, ext)
		}
		err := os.Link(filepath.Join(dir, name), filepath.Join(dir, sub, to))
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		return to, os.Remove(filepath.Join(dir, name))
	}
	return "", fmt.Errorf("%s: too many files of that name in %s", name, sub)
}
