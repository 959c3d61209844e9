package console

import (
	"net/http"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

var timeZero time.Time

// person is who the signed-in person is, zero when unknown.
func (c *Console) person(r *http.Request) payment.User {
	if c.cfg.People == nil {
		return payment.User{}
	}
	u, err := c.cfg.People(r.Context(), sessionFrom(r.Context()).UserID)
	if err != nil {
		return payment.User{}
	}
	return u
}

// mayOps is whether the person may see the operations area: the bank's
// operations staff (role operator).
func (c *Console) mayOps(r *http.Request) bool {
	u := c.person(r)
	return c.cfg.Ops != nil && u.Active && u.Has(payment.RoleOperator)
}

// mayAdmin is whether the person may see the administration area: their
// customer's administrators (role admin). The admin service checks again
// on every call.
func (c *Console) mayAdmin(r *http.Request) bool {
	u := c.person(r)
	return c.cfg.Admin != nil && u.Active && u.Has(payment.RoleAdmin)
}
