package main

import (
	"context"
	"fmt"
	"os"
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
				printPayment(p, tl, a.cfg)
				return nil
			})
		},
	}
}

func printPayment(p *payment.Payment, tl []payment.Entry, cfg config) {
	const layout = "2006-01-02 15:04:05 MST"
	fmt.Printf("payment   %s\nstate     %s\nrequest   %s/%s\norder     %s\ncustomer  %s (applicant %s)\n",
		p.ID, p.State, p.UpstreamID, p.RequestID, p.OrderRef, p.CustomerID, p.ApplicantID)
	fmt.Printf("amount    %s %s\ndebtor    %s at %s\ncreditor  %s, %s at %s\nexecution %s\n\n",
		payment.FormatAmount(p.AmountMinor, p.Currency), p.Currency, p.DebtorAccount, p.BankID,
		p.Creditor.Name, p.Creditor.Account, p.Creditor.BankID, p.ExecutionDate.Format(payment.DateLayout))
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "#\tWHEN\tWHO\tACTION\tFROM\tTO\tNOTE")
	for _, e := range tl {
		from := string(e.From)
		if from == "" {
			from = "-"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.At.In(cfg.Location).Format(layout), e.Actor, e.Action, from, e.To, e.Note)
	}
	_ = w.Flush()
}
