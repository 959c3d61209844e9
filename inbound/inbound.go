// Package inbound is the mechanism of b2bpay's inbound directories (the
// pacs.002 status reports, the camt.054 notifications): the files waiting
// in name order, the processed/ and quarantine/ folders kept beside them,
// and moves that never replace a file.
package inbound

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
)

// The folders kept in an inbound directory.
const (
	Processed  = "processed"
	Quarantine = "quarantine"
)

// Prepare makes dir's processed/ and quarantine/ folders, moving aside
// whatever else holds their names (an ERROR log with alert=inbound_blocked
// names what was moved, as label/sub). dir itself must exist.
func Prepare(ctx context.Context, dir, label string, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	for _, sub := range []string{Processed, Quarantine} {
		p := filepath.Join(dir, sub)
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			continue
		}
		if _, err := os.Lstat(p); err == nil {
			to, err := Move(dir, sub, "")
			if err != nil {
				return fmt.Errorf("move aside %s, which is not a directory: %w", sub, err)
			}
			log.ErrorContext(ctx, "something that is not a directory was in the way of "+label+"/"+sub+"/; moved aside",
				"file", sub, "moved_as", to, "alert", "inbound_blocked")
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := os.Mkdir(p, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return nil
}

// Waiting lists the regular files waiting in dir, oldest name first;
// hidden files (a writer's temporary ones) are left out.
func Waiting(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// maxSameName bounds the names tried for one file.
const maxSameName = 10000

// Move moves dir/name into dir/sub ("" for dir itself) as name, or, if
// that name is taken, as the first free name~N (before the extension),
// and returns the name it took. A hard link claims the new name (it fails
// on an existing one, where a rename would replace it), then the old name
// goes.
func Move(dir, name, sub string) (string, error) {
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	if base == "" { // ".xml": no extension to keep
		base, ext = name, ""
	}
	from := filepath.Join(dir, name)
	for i := 0; i < maxSameName; i++ {
		to := name
		if i > 0 {
			to = fmt.Sprintf("%s~%d%s", base, i, ext)
		}
		err := os.Link(from, filepath.Join(dir, sub, to))
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		return to, os.Remove(from)
	}
	return "", fmt.Errorf("%s: %d files of that name are already in %s", name, maxSameName, filepath.Join(dir, sub))
}
