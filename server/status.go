package server

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"github.com/b2bpay/b2bpay/payment"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show a payment's state and full timeline",
		ArgsUsage: "PAYMENT_ID | UPSTREAM/REQUEST_ID",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() != 1 {
				return fmt.Errorf("usage: b2bpay status PAYMENT_ID | UPSTREAM/REQUEST_ID")
			}
			arg := cmd.Args().First()
			return withDB(ctx, cmd, func(a *app) error {
				var p *payment.Payment
				var err error
				if up, req, ok := strings.Cut(arg, "/"); ok {
					p, err = a.store.PaymentGetByRequest(ctx, up, req)
				} else {
					p, err = a.store.PaymentGetByID(ctx, arg)
				}
				if err != nil {
					return err
				}
				tl, err := a.store.PaymentTimeline(ctx, p.ID)
				if err != nil {
					return err
				}
				printPayment(cmd.Root().Writer, p, tl, a.cfg)
				return nil
			})
		},
	}
}

// printPayment writes a payment and its timeline; each entry's code is the
// reason code of the change (a return's, e.g. AM04), "-" when it has none.
func printPayment(out io.Writer, p *payment.Payment, tl []payment.Entry, cfg config) {
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
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.At.In(cfg.Location).Format(layout), e.Actor, e.Action, from, e.To, code, e.Note)
	}
	_ = w.Flush()
}
