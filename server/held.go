package server

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/b2bpay/b2bpay/payment"
)

// HeldList writes the payments the cutoff held (their approvals do not
// check) with what it found wrong. Nothing releases a held payment into a
// file; an operator voids it after investigation (HeldVoid).
func (a *App) HeldList(ctx context.Context, w io.Writer) error {
	held, err := a.Store.PaymentsHeld(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PAYMENT\tREQUEST\tAMOUNT\tHELD AT\tWHY")
	for _, h := range held {
		p := h.Payment
		fmt.Fprintf(tw, "%s\t%s/%s\t%s %s\t%s\t%s\n", p.ID, p.UpstreamID, p.RequestID,
			payment.FormatAmount(p.AmountMinor, p.Currency), p.Currency,
			p.UpdatedAt.In(a.Config.Location).Format("2006-01-02 15:04:05"), h.Reason)
	}
	return tw.Flush()
}

// HeldVoid ends a held payment (it becomes cancelled, its order free for
// a new request), audited with the operator's name and reason.
func (a *App) HeldVoid(ctx context.Context, w io.Writer, id, operator, reason string) error {
	p, err := a.Store.PaymentVoid(ctx, id, operator, reason)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "payment %s is %s\n", p.ID, p.State)
	return nil
}
