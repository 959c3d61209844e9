package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/seal"
)

// Verify checks every payment's timeline (hash chain and MACs) and its
// content against the decisions that approved it (MACs with the key
// derived from the master key), ids or every payment, and writes what
// broke. It returns how many payments are broken.
func (a *App) Verify(ctx context.Context, w io.Writer, ids []string) (broken int, err error) {
	key := a.Store.Seal()
	if key == nil {
		return 0, errors.New("verify checks MACs made with the master key: " + ErrNoKey.Error())
	}
	if len(ids) == 0 {
		if ids, err = a.Store.PaymentIDs(ctx); err != nil {
			return 0, err
		}
	}
	for _, id := range ids {
		problems, err := a.verifyPayment(ctx, key, id)
		if err != nil {
			return broken, err
		}
		if len(problems) == 0 {
			continue
		}
		broken++
		fmt.Fprintf(w, "BROKEN payment %s: %s\n", id, strings.Join(seal.Kinds(problems), ", "))
		for _, p := range problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	fmt.Fprintf(w, "%d payments checked, %d broken\n", len(ids), broken)
	batches, err := a.verifyBatches(ctx, w, key, ids)
	return broken + batches, err
}

// verifyBatches checks the MAC of every batch decision the payments'
// decisions belong to (each item's own decision is checked with its
// payment), writes what broke and returns how many batches are broken.
func (a *App) verifyBatches(ctx context.Context, w io.Writer, key *seal.Key, paymentIDs []string) (broken int, err error) {
	ids, err := a.Store.DecisionBatchIDs(ctx, paymentIDs)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	for _, id := range ids {
		r, err := a.Store.BatchRecord(ctx, id)
		if err != nil {
			return broken, err
		}
		if r != nil && !key.BatchSealed(approval.BatchSeal(*r), r.MAC) {
			broken++
			fmt.Fprintf(w, "BROKEN batch %s: batch_mac_invalid\n  batch_mac_invalid: the record of batch %s (%s %s of %d payments by %s) does not match its MAC\n",
				id, id, r.Batch.Stage, r.Batch.Verdict, r.Batch.Count, r.ActorID)
		}
	}
	fmt.Fprintf(w, "%d batch decisions checked, %d broken\n", len(ids), broken)
	return broken, nil
}

// verifyPayment checks one payment's timeline and decisions against its
// content as it is now.
func (a *App) verifyPayment(ctx context.Context, key *seal.Key, id string) ([]seal.Problem, error) {
	p, err := a.Store.PaymentGetByID(ctx, id)
	if err != nil {
		return nil, err
	}
	tl, err := a.Store.PaymentTimeline(ctx, id)
	if err != nil {
		return nil, err
	}
	ds, err := a.Store.PaymentDecisions(ctx, id)
	if err != nil {
		return nil, err
	}
	return append(key.CheckApprovals(p, ds, seal.UserActors(tl)...), key.CheckTimeline(p, tl)...), nil
}
