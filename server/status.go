package server

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// Status writes a payment, found by its id or as UPSTREAM/REQUEST_ID,
// and its full timeline.
func (a *App) Status(ctx context.Context, w io.Writer, arg string) error {
	var p *payment.Payment
	var err error
	if up, req, ok := strings.Cut(arg, "/"); ok {
		p, err = a.Store.PaymentGetByRequest(ctx, up, req)
	} else {
		p, err = a.Store.PaymentGetByID(ctx, arg)
	}
	if err != nil {
		return err
	}
	tl, err := a.Store.PaymentTimeline(ctx, p.ID)
	if err != nil {
		return err
	}
	PrintPayment(w, p, tl, a.Config.Location)
	return nil
}

// PrintPayment writes a payment and its timeline; each entry's code is the
// reason code of the change (a return's, e.g. AM04), "-" when it has none.
func PrintPayment(out io.Writer, p *payment.Payment, tl []payment.Entry, loc *time.Location) {
	const layout = "2006-01-02 15:04:05 MST"
	fmt.Fprintf(out, "payment   %s\nstate     %s\nrequest   %s/%s\norder     %s\ncustomer  %s (applicant %s)\n",
		p.ID, p.State, p.UpstreamID, p.RequestID, p.OrderRef, p.CustomerID, p.ApplicantID)
	fmt.Fprintf(out, "amount    %s %s\ndebtor    %s at %s\ncreditor  %s, %s at %s\nexecution %s\n\n",
		payment.FormatAmount(p.AmountMinor, p.Currency), p.Currency, p.DebtorAccount, p.BankID,
		p.Creditor.Name, p.Creditor.Account, p.Creditor.BankID, p.ExecutionDate.Format(payment.DateLayout))
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "#\tWHEN\tWHO\tACTION\tFROM\tTO\tCODE\tNOTE")
	for _, e := range tl {
		from, code := string(e.From), string(e.Code)
		if from == "" {
			from = "-"
		}
		if code == "" {
			code = "-"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.At.In(loc).Format(layout), e.Actor, e.Action, from, e.To, code, e.Note)
	}
	_ = w.Flush()
}
