package export

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Reissue writes a new file, with a new message id, for the payments of a
// rejected or lost (delivered, never acknowledged) batch still exported:
// the old batch is superseded by the new one, the payments move to it (a
// payment is live in one batch at most), the audit trail records who, why
// and both ids, and each payment's upstream is told (file_status
// reissued). The new file is written here; the delivery job delivers it
// like any other.
func (x *Exporter) Reissue(ctx context.Context, batchID, operator, reason string) (Batch, error) {
	operator, reason = strings.TrimSpace(operator), strings.TrimSpace(reason)
	if operator == "" || reason == "" {
		return Batch{}, errors.New("a re-issue needs the operator's name and a reason (--operator, --reason)")
	}
	old, err := x.store.BatchGet(ctx, batchID)
	if err != nil {
		return Batch{}, err
	}
	if err := x.ownDir(ctx, old); err != nil {
		return Batch{}, err
	}
	nb, err := x.store.BatchReissue(ctx, Reissue{BatchID: batchID, Operator: operator, Reason: reason, FileName: x.fileName})
	if err != nil {
		return Batch{}, err
	}
	x.cfg.Log.WarnContext(ctx, "interbank file re-issued", "batch_id", batchID, "new_batch_id", nb.ID, "file", nb.FileName,
		"payments", nb.Count, "operator", operator, "reason", reason)
	sum, err := x.writeBatch(ctx, nb, x.cfg.Dir, "")
	if err != nil {
		return nb, fmt.Errorf("batch %s re-issued as %s, its file not yet written (the next run writes it): %w", batchID, nb.ID, err)
	}
	if err := x.store.BatchMarkWritten(ctx, nb.ID, sum); err != nil {
		return nb, fmt.Errorf("batch %s re-issued as %s, written, not yet marked (the next run does): %w", batchID, nb.ID, err)
	}
	nb.State, nb.SHA256 = BatchWritten, sum
	return nb, nil
}
