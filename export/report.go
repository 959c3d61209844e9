package export

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/postgres"
)

// ReportStore applies interbank status reports.
type ReportStore interface {
	StatusReportApply(ctx context.Context, sha256, fileName, messageID string, entries []postgres.ReportEntry) (int, error)
	StatusReportQuarantine(ctx context.Context, sha256, fileName, messageID, reason string) error
}

// MaxReportBytes bounds a status report file.
const MaxReportBytes = 64 << 20

// Reports reads pacs.002 status reports dropped in an inbound directory:
// each is applied whole (payments settled or returned, with timeline and
// status events) and moved to processed/, or refused whole and moved to
// quarantine/ beside a .reason.txt that says why.
type Reports struct {
	Store ReportStore
	Dir   string
	Log   *slog.Logger
}

// ImportSummary says what one pass over the inbound directory did.
type ImportSummary struct {
	Files, Applied, Quarantined, Repeated, Payments int
}

// RunOnce processes every file waiting in the inbound directory, oldest
// name first.
func (r *Reports) RunOnce(ctx context.Context) (ImportSummary, error) {
	var sum ImportSummary
	entries, err := os.ReadDir(r.Dir)
	if err != nil {
		return sum, fmt.Errorf("inbound directory: %w", err)
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
		n, outcome, err := r.importFile(ctx, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		switch outcome {
		case "applied":
			sum.Applied++
			sum.Payments += n
		case "quarantined":
			sum.Quarantined++
		case "repeated":
			sum.Repeated++
		}
	}
	return sum, errors.Join(errs...)
}

func (r *Reports) importFile(ctx context.Context, name string) (int, string, error) {
	path := filepath.Join(r.Dir, name)
	data, err := readLimited(path, MaxReportBytes)
	sha := ""
	if err == nil {
		h := sha256.Sum256(data)
		sha = hex.EncodeToString(h[:])
	}
	if err != nil {
		return 0, "quarantined", r.quarantine(ctx, name, sha, "", err.Error())
	}
	rep, err := iso20022.ReadStatusReport(bytes.NewReader(data))
	if err != nil {
		return 0, "quarantined", r.quarantine(ctx, name, sha, "", "not a readable pacs.002 report: "+err.Error())
	}
	if len(rep.Entries) == 0 && groupFinal[rep.GroupStatus] {
		// A status for the whole file and none per payment: b2bpay applies
		// per-payment statuses only, so a person must decide.
		return 0, "quarantined", r.quarantine(ctx, name, sha, rep.MessageID, groupOnlyReason(rep))
	}
	entries := make([]postgres.ReportEntry, len(rep.Entries))
	for i, e := range rep.Entries {
		entries[i] = postgres.ReportEntry{BatchID: rep.OriginalMessageID, PaymentID: e.OriginalTransactionID,
			Status: e.Status, ReasonCode: e.ReasonCode, Info: e.AdditionalInfo}
	}
	n, err := r.Store.StatusReportApply(ctx, sha, name, rep.MessageID, entries)
	var refusal *postgres.ReportRefusal
	switch {
	case errors.Is(err, postgres.ErrReportSeen):
		return 0, "repeated", r.move(name, "processed")
	case errors.As(err, &refusal):
		return 0, "quarantined", r.quarantine(ctx, name, sha, rep.MessageID, refusal.Reason)
	case err != nil:
		return 0, "", err // the database: leave the file for the next pass
	}
	r.log().InfoContext(ctx, "status report applied", "file", name, "message_id", rep.MessageID, "entries", len(entries), "payments_changed", n)
	return n, "applied", r.move(name, "processed")
}

// groupFinal are the group statuses that settle or reject a whole file (or
// part of it, PART): a report with one of them and no transaction statuses
// cannot be applied payment by payment.
var groupFinal = map[string]bool{"ACSC": true, "ACCC": true, "RJCT": true, "PART": true}

func groupOnlyReason(rep iso20022.StatusReport) string {
	what := "settled"
	switch rep.GroupStatus {
	case "RJCT":
		what = "rejected"
	case "PART":
		what = "partly rejected"
	}
	why := strings.TrimSpace(strings.Join([]string{rep.GroupReasonCode, rep.GroupReasonProprietary, rep.GroupAdditionalInfo}, " "))
	if why != "" {
		why = " (" + why + ")"
	}
	return fmt.Sprintf("the clearing house %s the whole file %s with group status %s%s and no transaction status: "+
		"no payment was changed; an operator must decide", what, rep.OriginalMessageID, rep.GroupStatus, why)
}

// quarantine records the refusal and moves the file aside with its reason.
func (r *Reports) quarantine(ctx context.Context, name, sha, messageID, reason string) error {
	r.log().WarnContext(ctx, "status report quarantined", "file", name, "reason", reason)
	if sha != "" {
		if err := r.Store.StatusReportQuarantine(ctx, sha, name, messageID, reason); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(r.Dir, "quarantine"), 0o750); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "quarantine", name+".reason.txt"), []byte(reason+"\n"), 0o640); err != nil {
		return err
	}
	return r.move(name, "quarantine")
}

func (r *Reports) move(name, sub string) error {
	if err := os.MkdirAll(filepath.Join(r.Dir, sub), 0o750); err != nil {
		return err
	}
	return os.Rename(filepath.Join(r.Dir, name), filepath.Join(r.Dir, sub, name))
}

func (r *Reports) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("file is larger than %d bytes", limit)
	}
	return data, nil
}
