package console

import (
	"net/http"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

var timeZero time.Time

// Operations is the operations area's read side (ops.Service).
type Operations interface{}

// Administration is the administration area's side (admin.Service).
type Administration interface{}

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

func (c *Console) mayOps(r *http.Request) bool {
	return c.cfg.Ops != nil && c.person(r).Has("operator")
}
func (c *Console) mayAdmin(r *http.Request) bool {
	return c.cfg.Admin != nil && c.person(r).Has("admin")
}

func (c *Console) routesQuery() {}
func (c *Console) routesOps()   {}
func (c *Console) routesAdmin() {}
