package server

import (
	"context"
	"net/http"

	"github.com/b2bpay/b2bpay/auth"
	"github.com/b2bpay/b2bpay/console"
	"github.com/b2bpay/b2bpay/payment"
)

// consoleHandler builds the staff console over the API handler api (called
// in process), the broker connection for decisions, the export's
// schedule for "the cutoff it will make", the timeline check, and the
// operations and administration areas.
func (a *App) consoleHandler(api http.Handler, sess sessions, opt ServeOptions) (*console.Console, error) {
	cfg := console.Config{
		API: api, Broker: a.Conn, CookieKey: auth.DeriveKey(a.Sec.Master, "console-cookie"), Location: a.Config.Location,
		Insecure: opt.ConsoleInsecure, Logger: a.Log,
		People:     func(ctx context.Context, id string) (payment.User, error) { return a.Store.UserGet(ctx, id) },
		CheckToken: func(ctx context.Context, token string) error { _, err := sess.Verify(ctx, token); return err },
	}
	if opt.Export != nil {
		cfg.Plan = opt.Export.Plan
	}
	if opt.Ops != nil {
		cfg.Ops = opt.Ops
		cfg.Recon = a.Store.ReconDay
		if cfg.Plan == nil {
			cfg.Plan = opt.Ops.Plan
		}
	}
	cfg.Admin = a.Administration()
	if key := a.Store.Seal(); key != nil {
		cfg.Verify = func(ctx context.Context, id string) ([]string, error) {
			problems, err := a.verifyPayment(ctx, key, id)
			if err != nil {
				return nil, err
			}
			out := make([]string, len(problems))
			for i, p := range problems {
				out[i] = p.String()
			}
			return out, nil
		}
	}
	return console.New(cfg)
}
