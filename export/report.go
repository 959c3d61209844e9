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
	"strings"

	"github.com/b2bpay/b2bpay/inbound"

	"github.com/b2bpay/b2bpay/iso20022"
)

// ReportStore applies interbank status reports.
type ReportStore interface {
	StatusReportApply(ctx context.Context, sha256, fileName, messageID string, entries []ReportEntry) (int, error)
	StatusReportQuarantine(ctx context.Context, sha256, fileName, messageID, reason string) error
	// BatchAcknowledge applies a report's group status to the file it
	// answers (see ack.go).
	BatchAcknowledge(ctx context.Context, batchID, status, reason string) (AckOutcome, error)
}

// MaxReportBytes bounds a status report file.
const MaxReportBytes = 64 << 20

// Reports reads pacs.002 status reports dropped in an inbound directory:
// each is applied whole (payments settled or returned, with timeline and
// status events) and moved to processed/, or refused whole and moved to
// quarantine/ beside a .reason.txt that says why. A move never replaces a
// file: a name already taken there gets a suffix (r.xml, r~1.xml, …). A
// file or anything else that is not a directory in the way of processed/
// or quarantine/ is moved aside under a free name (and read as a report),
// with an ERROR log alert=inbound_blocked, so it cannot stop every pass.
type Reports struct {
	Store ReportStore
	Dir   string
	Log   *slog.Logger
	// Acked, when set, is told each file acknowledged or rejected.
	Acked func(AckOutcome)
}

// ImportSummary says what one pass over the inbound directory did.
type ImportSummary struct {
	Files, Applied, Quarantined, Repeated, Payments int
}

// RunOnce processes every file waiting in the inbound directory, oldest
// name first.
func (r *Reports) RunOnce(ctx context.Context) (ImportSummary, error) {
	var sum ImportSummary
	if _, err := os.Stat(r.Dir); err != nil {
		return sum, fmt.Errorf("inbound directory: %w", err)
	}
	if err := inbound.Prepare(ctx, r.Dir, "the inbound directory", r.log()); err != nil {
		return sum, fmt.Errorf("inbound directory: %w", err)
	}
	names, err := inbound.Waiting(r.Dir)
	if err != nil {
		return sum, fmt.Errorf("inbound directory: %w", err)
	}
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
	if done, err := r.acknowledge(ctx, name, sha, rep); done || err != nil {
		return 0, "quarantined", err
	}
	if len(rep.Entries) == 0 && groupFinal[rep.GroupStatus] {
		// A status for the whole file and none per payment: b2bpay applies
		// per-payment statuses only, so a person must decide.
		return 0, "quarantined", r.quarantine(ctx, name, sha, rep.MessageID, groupOnlyReason(rep))
	}
	entries := make([]ReportEntry, len(rep.Entries))
	for i, e := range rep.Entries {
		entries[i] = ReportEntry{BatchID: rep.OriginalMessageID, PaymentID: e.OriginalTransactionID,
			Status: e.Status, ReasonCode: e.ReasonCode, Info: e.AdditionalInfo}
	}
	n, err := r.Store.StatusReportApply(ctx, sha, name, rep.MessageID, entries)
	var refusal *ReportRefusal
	switch {
	case errors.Is(err, ErrReportSeen):
		return 0, "repeated", r.move(ctx, name, "processed")
	case errors.As(err, &refusal):
		return 0, "quarantined", r.quarantine(ctx, name, sha, rep.MessageID, refusal.Reason)
	case err != nil:
		return 0, "", err // the database: leave the file for the next pass
	}
	r.log().InfoContext(ctx, "status report applied", "file", name, "message_id", rep.MessageID, "entries", len(entries), "payments_changed", n)
	r.acknowledgeByTransactions(ctx, name, rep)
	return n, "applied", r.move(ctx, name, "processed")
}

// groupFinal are the group statuses that settle or reject a whole file (or
// part of it, PART): a report with one of them and no transaction statuses
// cannot be applied payment by payment.
// A group RJCT alone rejects the file (ack.go): its payments stay
// exported until it is re-issued.
var groupFinal = map[string]bool{"ACSC": true, "ACCC": true, "PART": true}

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
	to, err := r.moveTo(ctx, name, "quarantine")
	if err != nil {
		return err
	}
	// The reason of the file just placed under a name of its own.
	return os.WriteFile(filepath.Join(r.Dir, "quarantine", to+".reason.txt"), []byte(reason+"\n"), 0o640)
}

func (r *Reports) move(ctx context.Context, name, sub string) error {
	_, err := r.moveTo(ctx, name, sub)
	return err
}

// moveTo moves the inbound file name into sub/ without replacing a file
// there, and returns the name it got.
func (r *Reports) moveTo(ctx context.Context, name, sub string) (string, error) {
	if err := os.MkdirAll(filepath.Join(r.Dir, sub), 0o750); err != nil {
		return "", err
	}
	to, err := inbound.Move(r.Dir, name, sub)
	if err != nil {
		return "", err
	}
	if to != name {
		r.log().WarnContext(ctx, "a file of that name is already there; kept both", "file", name, "dir", sub, "moved_as", to)
	}
	return to, nil
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
