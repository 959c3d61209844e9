package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/secret"
)

// The registry's administration: what `b2bpay customer/bank/account/
// upstream/user/tier` do beyond one store call, each writing what it did
// to w for the operator.

// CustomerAdd registers a customer and declares its task queues at once,
// so tasks are routable before any serve restarts (a broker that cannot be
// reached leaves a warning: `b2bpay topology` declares them later).
func (a *App) CustomerAdd(ctx context.Context, w io.Writer, c payment.Customer) error {
	if err := a.Store.CustomerCreate(ctx, c); err != nil {
		return err
	}
	fmt.Fprintf(w, "customer %s registered (online payment: %v)\n", c.ID, c.OnlinePayment)
	if err := a.OpenBroker(ctx, "b2bpay-admin", 10*time.Second); err != nil {
		fmt.Fprintf(w, "warning: %v; run `b2bpay topology` before its payments arrive\n", err)
		return nil
	}
	return route.CustomerTopology(c.ID).Declare(ctx, a.Conn)
}

// UpstreamAdd registers an upstream identified by its broker user, an
// HMAC key (generated here, sealed, shown once) or both, and declares its
// status queue at once; it prints the broker permissions its user needs.
func (a *App) UpstreamAdd(ctx context.Context, w io.Writer, u payment.Upstream, withHMAC bool) error {
	var sealed, key []byte
	version := 0
	if withHMAC {
		s, err := a.Sealer()
		if err != nil {
			return err
		}
		key = secret.NewKey()
		sealed, version = s.Seal(key, intake.KeyAD(u.ID)), int(s.Version())
	}
	if err := a.Store.UpstreamCreate(ctx, u, sealed, version); err != nil {
		return err
	}
	fmt.Fprintf(w, "upstream %s registered for customers %v\n", u.ID, u.Customers)
	if key != nil {
		fmt.Fprintf(w, "HMAC key (shown once; give it to the upstream, it signs %s): %x\n", route.HeaderSignature, key)
	}
	// Declare the status queue now, so the upstream's answers are
	// routable before any serve restarts.
	if err := a.OpenBroker(ctx, "b2bpay-admin", 10*time.Second); err != nil {
		fmt.Fprintf(w, "warning: %v; run `b2bpay topology` before this upstream submits\n", err)
		return nil
	}
	if err := route.UpstreamTopology(u.ID).Declare(ctx, a.Conn); err != nil {
		return fmt.Errorf("declare status queue of %s: %w", u.ID, err)
	}
	fmt.Fprintf(w, "status events go to queue %s\n", route.StatusQueue(u.ID))
	if u.AMQPUser != "" {
		p := route.UpstreamPermissions(u.ID)
		fmt.Fprintf(w, "broker permissions of %s (nothing more): rabbitmqctl set_permissions -p VHOST %s '%s' '%s' '%s'\n",
			u.AMQPUser, u.AMQPUser, p.Configure, p.Write, p.Read)
	}
	return nil
}

// Operator is who runs an administrative command, for the audit trail:
// name when given, else the operating system's user.
func Operator(name string) (string, error) {
	if s := strings.TrimSpace(name); s != "" {
		return s, nil
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username, nil
	}
	if s := os.Getenv("USER"); s != "" {
		return s, nil
	}
	return "", errors.New("cannot tell who you are: give --operator")
}

// CapsSet sets the caps on one batch decision of customer's people or of
// user (exactly one of them): items per batch (0: unchanged) and, with
// maxTotal, the largest total of a batch in currency. operator names who
// did it in the audit trail (default: the OS user).
func (a *App) CapsSet(ctx context.Context, w io.Writer, customer, user string, items int, currency, maxTotal, operator string) error {
	if (customer == "") == (user == "") {
		return fmt.Errorf("caps: give exactly one of --customer and --user")
	}
	c := postgres.BatchCaps{Items: items}
	if maxTotal != "" {
		minor, err := payment.ParseAmount(maxTotal, currency)
		if err != nil {
			return fmt.Errorf("--max-total: %w", err)
		}
		c.Currency, c.MaxMinor = currency, minor
	}
	who, err := Operator(operator)
	if err != nil {
		return err
	}
	kind, id := "user", user
	if customer != "" {
		kind, id = "customer", customer
	}
	if err := a.Store.BatchCapsSet(ctx, customer != "", id, c, "admin:"+who); err != nil {
		return err
	}
	if items != 0 {
		fmt.Fprintf(w, "%s %s: at most %d payments in one batch\n", kind, id, items)
	}
	if c.MaxMinor != 0 {
		fmt.Fprintf(w, "%s %s: at most %s %s in one batch\n", kind, id, payment.FormatAmount(c.MaxMinor, currency), currency)
	}
	return nil
}
