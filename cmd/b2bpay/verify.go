package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/b2bpay/b2bpay/payment"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check the tamper-evident hash chain of payments' timelines and name the first broken entry",
		ArgsUsage: "[PAYMENT_ID ...] (default: every payment)",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return withDB(ctx, cmd, func(a *app) error {
				ids := cmd.Args().Slice()
				if len(ids) == 0 {
					var err error
					if ids, err = a.store.PaymentIDs(ctx); err != nil {
						return err
					}
				}
				broken := 0
				for _, id := range ids {
					p, err := a.store.PaymentGetByID(ctx, id)
					if err != nil {
						return err
					}
					tl, err := a.store.PaymentTimeline(ctx, id)
					if err != nil {
						return err
					}
					if seq, why := payment.VerifyChain(tl, p.HeadHash); seq != 0 {
						broken++
						fmt.Printf("BROKEN payment %s: entry %d: %s\n", id, seq, why)
					}
				}
				fmt.Printf("%d payments checked, %d broken\n", len(ids), broken)
				if broken > 0 {
					return cli.Exit("", 4)
				}
				return nil
			})
		},
	}
}
