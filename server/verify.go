package server

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/b2bpay/b2bpay/seal"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name: "verify",
		Usage: "check every payment's timeline (hash chain and MACs) and its content against the decisions that approved it " +
			"(MACs with the key derived from the master key), and name what broke",
		ArgsUsage: "[PAYMENT_ID ...] (default: every payment)",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return withDB(ctx, cmd, func(a *app) error {
				key := a.store.Seal()
				if key == nil {
					return errors.New("verify checks MACs made with the master key: " + errNoKey.Error())
				}
				ids := cmd.Args().Slice()
				if len(ids) == 0 {
					var err error
					if ids, err = a.store.PaymentIDs(ctx); err != nil {
						return err
					}
				}
				broken := 0
				for _, id := range ids {
					problems, err := verifyPayment(ctx, a, key, id)
					if err != nil {
						return err
					}
					if len(problems) == 0 {
						continue
					}
					broken++
					fmt.Printf("BROKEN payment %s: %s\n", id, strings.Join(seal.Kinds(problems), ", "))
					for _, p := range problems {
						fmt.Printf("  %s\n", p)
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

// verifyPayment checks one payment's timeline and decisions against its
// content as it is now.
func verifyPayment(ctx context.Context, a *app, key *seal.Key, id string) ([]seal.Problem, error) {
	p, err := a.store.PaymentGetByID(ctx, id)
	if err != nil {
		return nil, err
	}
	tl, err := a.store.PaymentTimeline(ctx, id)
	if err != nil {
		return nil, err
	}
	ds, err := a.store.PaymentDecisions(ctx, id)
	if err != nil {
		return nil, err
	}
	return append(key.CheckApprovals(p, ds, seal.UserActors(tl)...), key.CheckTimeline(p, tl)...), nil
}
