package server

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"github.com/b2bpay/b2bpay/payment"
)

// heldCommand lists the payments the cutoff held (their approvals do not
// check) and lets an operator void one after investigation. Nothing
// releases a held payment into a file.
func heldCommand() *cli.Command {
	return &cli.Command{
		Name:  "held",
		Usage: "list payments held at a cutoff because their approvals do not check, or void one after investigation",
		Commands: []*cli.Command{{
			Name:  "list",
			Usage: "list held payments with what the cutoff found wrong",
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return withDB(ctx, cmd, func(a *app) error {
					held, err := a.store.PaymentsHeld(ctx)
					if err != nil {
						return err
					}
					w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "PAYMENT\tREQUEST\tAMOUNT\tHELD AT\tWHY")
					for _, h := range held {
						p := h.Payment
						fmt.Fprintf(w, "%s\t%s/%s\t%s %s\t%s\t%s\n", p.ID, p.UpstreamID, p.RequestID,
							payment.FormatAmount(p.AmountMinor, p.Currency), p.Currency,
							p.UpdatedAt.In(a.cfg.Location).Format("2006-01-02 15:04:05"), h.Reason)
					}
					return w.Flush()
				})
			},
		}, {
			Name:      "void",
			Usage:     "end a held payment (it becomes cancelled, its order free for a new request); audited with the operator's name",
			ArgsUsage: "PAYMENT_ID",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "operator", Required: true, Usage: "who voids it, for the timeline and the audit trail"},
				&cli.StringFlag{Name: "reason", Required: true, Usage: "why, for the timeline and the audit trail"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if cmd.Args().Len() != 1 {
					return fmt.Errorf("usage: b2bpay held void PAYMENT_ID --operator NAME --reason TEXT")
				}
				return withDB(ctx, cmd, func(a *app) error {
					p, err := a.store.PaymentVoid(ctx, cmd.Args().First(), cmd.String("operator"), cmd.String("reason"))
					if err != nil {
						return err
					}
					fmt.Printf("payment %s is %s\n", p.ID, p.State)
					return nil
				})
			},
		}},
	}
}
