package export

import (
	"context"
	"errors"
	"strings"

	"github.com/b2bpay/b2bpay/iso20022"
)

// acknowledge applies a report's group status to the file it answers
// (its original message id is the batch id): ACTC, ACCP, ACSP, ACSC, ACCC,
// ACWC or PART acknowledges it, RJCT rejects it (the payments stay
// exported until the file is re-issued: b2bpay batch reissue). It runs
// before the report's transaction statuses, and is idempotent, so a crash
// between the two is repaired by the next pass. done is true when the
// report was quarantined (refused by the store).
func (r *Reports) acknowledge(ctx context.Context, name, sha string, rep iso20022.StatusReport) (done bool, err error) {
	if !AckStatus(rep.GroupStatus) || rep.OriginalMessageID == "" {
		return false, nil
	}
	why := strings.Join(strings.Fields(strings.Join([]string{rep.GroupReasonCode, rep.GroupReasonProprietary, rep.GroupAdditionalInfo}, " ")), " ")
	out, err := r.Store.BatchAcknowledge(ctx, rep.OriginalMessageID, rep.GroupStatus, why)
	var refusal *ReportRefusal
	switch {
	case errors.As(err, &refusal):
		return true, r.quarantine(ctx, name, sha, rep.MessageID, "group status "+rep.GroupStatus+": "+refusal.Reason)
	case err != nil:
		return false, err
	}
	if out.Superseded {
		r.log().ErrorContext(ctx, "the clearing accepted a file that was re-issued: both files may settle; check with the clearing house",
			"alert", "superseded_batch_accepted", "batch_id", rep.OriginalMessageID, "group_status", rep.GroupStatus, "file", name)
	}
	if out.Changed {
		r.log().InfoContext(ctx, "interbank file "+out.State, "batch_id", rep.OriginalMessageID, "group_status", rep.GroupStatus,
			"reason", why, "file", name)
		if r.Acked != nil {
			r.Acked(out)
		}
	}
	return false, nil
}

// acknowledgeByTransactions acknowledges the file of an applied report
// that has transaction statuses and no group status of its own (many
// clearing houses send none): the clearing has the file
// (ack_status AckByTransactions). A file already acknowledged stays as it
// is; one rejected or superseded is left too, with a warning (the report
// itself is applied).
func (r *Reports) acknowledgeByTransactions(ctx context.Context, name string, rep iso20022.StatusReport) {
	if len(rep.Entries) == 0 || AckStatus(rep.GroupStatus) || rep.OriginalMessageID == "" {
		return
	}
	out, err := r.Store.BatchAcknowledge(ctx, rep.OriginalMessageID, AckByTransactions, "transaction statuses in report "+rep.MessageID)
	switch {
	case err != nil:
		r.log().WarnContext(ctx, "the file of an applied report was not acknowledged", "batch_id", rep.OriginalMessageID,
			"file", name, "error", err)
	case out.Changed:
		r.log().InfoContext(ctx, "interbank file acknowledged by its transaction statuses", "batch_id", rep.OriginalMessageID, "file", name)
		if r.Acked != nil {
			r.Acked(out)
		}
	}
}
