package console

import (
	"context"

	"github.com/b2bpay/b2bpay/admin"
)

// Administration is the administration area's side; *admin.Service
// implements it.
type Administration interface {
	Users(ctx context.Context, actor string) ([]admin.UserView, error)
	Tiers(ctx context.Context, actor string) ([]admin.TierView, error)
	Changes(ctx context.Context, actor string, limit int) ([]admin.Change, error)
	Propose(ctx context.Context, actor string, p admin.Proposal, reason string) (admin.Change, error)
	Decide(ctx context.Context, actor, changeID string, approve bool, reason string) (admin.Change, error)
	EnrollOTP(ctx context.Context, actor, userID, issuer string) (uri string, qrPNG []byte, err error)
}

var _ Administration = (*admin.Service)(nil)

// routesAdmin serves the administration area (to be built).
func (c *Console) routesAdmin() {}
