package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/payment"
)

// CustomerCreate registers a customer.
func (s *Store) CustomerCreate(ctx context.Context, c payment.Customer) error {
	if err := payment.ValidID("customer id", c.ID); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO customers (id, name, online_payment_enabled, active, created_at)
		VALUES ($1, $2, $3, $4, $5)`, c.ID, c.Name, c.OnlinePayment, c.Active, s.cfg.Now().UTC())
	return constraintError(err, "customer "+c.ID)
}

// CustomerSetOnline turns a customer's online-payment eligibility on or off.
func (s *Store) CustomerSetOnline(ctx context.Context, id string, enabled bool) error {
	tag, err := s.pool.Exec(ctx, `UPDATE customers SET online_payment_enabled = $2 WHERE id = $1`, id, enabled)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("customer %s: %w", id, payment.ErrNotFound)
	}
	return nil
}

// BankCreate registers a bank.
func (s *Store) BankCreate(ctx context.Context, b payment.Bank) error {
	if err := payment.ValidBankID("bank id", b.ID); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO banks (id, name, b2b, created_at) VALUES ($1, $2, $3, $4)`,
		b.ID, b.Name, b.B2B, s.cfg.Now().UTC())
	return constraintError(err, "bank "+b.ID)
}

// AccountCreate registers a customer's account at a bank.
func (s *Store) AccountCreate(ctx context.Context, a payment.Account) error {
	if err := payment.ValidAccountNumber("account", a.Number); err != nil {
		return err
	}
	if err := payment.ValidCurrency(a.Currency); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO accounts (bank_id, number, customer_id, currency, active, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, a.BankID, a.Number, a.CustomerID, a.Currency, a.Active, s.cfg.Now().UTC())
	return constraintError(err, "account "+a.Number)
}

// UserCreate registers a person of a customer with their roles.
func (s *Store) UserCreate(ctx context.Context, u payment.User) error {
	if err := payment.ValidID("user id", u.ID); err != nil {
		return err
	}
	if len(u.Roles) == 0 {
		return payment.Errorf(payment.CodeInvalidInput, "user %s needs at least one role", u.ID)
	}
	for _, r := range u.Roles {
		if !r.Valid() {
			return payment.Errorf(payment.CodeInvalidInput, "role %q is not one of applicant, reviewer, authorizer, operator, admin", r)
		}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO users (id, customer_id, name, roles, active, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, u.ID, u.CustomerID, u.Name, roleStrings(u.Roles), u.Active, s.cfg.Now().UTC())
	return constraintError(err, "user "+u.ID)
}

// UpstreamCreate registers an upstream system: its RabbitMQ user, its HMAC
// key already sealed (or nil), and the customers it may submit for.
func (s *Store) UpstreamCreate(ctx context.Context, u payment.Upstream, sealedKey []byte, keyVersion int) error {
	if err := payment.ValidUpstreamID("upstream id", u.ID); err != nil {
		return err
	}
	var user, version any
	if u.AMQPUser != "" {
		user = u.AMQPUser
	}
	if sealedKey != nil {
		version = keyVersion
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO upstreams (id, name, amqp_user, hmac_key_sealed, key_version, active, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, u.ID, u.Name, user, sealedKey, version, u.Active, s.cfg.Now().UTC())
		if err != nil {
			return constraintError(err, "upstream "+u.ID)
		}
		for _, c := range u.Customers {
			if _, err := tx.Exec(ctx, `INSERT INTO upstream_customers (upstream_id, customer_id) VALUES ($1, $2)`, u.ID, c); err != nil {
				return constraintError(err, "upstream "+u.ID+" for customer "+c)
			}
		}
		return nil
	})
}

// UpstreamCredential is intake.Credential.
type UpstreamCredential = intake.Credential

// UpstreamGetByAMQPUser finds the upstream that publishes as a RabbitMQ user.
func (s *Store) UpstreamGetByAMQPUser(ctx context.Context, user string) (UpstreamCredential, error) {
	return s.upstreamGet(ctx, `amqp_user = $1`, user)
}

// UpstreamGetByID finds an upstream by id.
func (s *Store) UpstreamGetByID(ctx context.Context, id string) (UpstreamCredential, error) {
	return s.upstreamGet(ctx, `id = $1`, id)
}

func (s *Store) upstreamGet(ctx context.Context, where string, arg string) (UpstreamCredential, error) {
	var c UpstreamCredential
	var user *string
	var version *int
	err := s.pool.QueryRow(ctx, `SELECT id, name, amqp_user, hmac_key_sealed, key_version, active,
			ARRAY(SELECT customer_id FROM upstream_customers uc WHERE uc.upstream_id = u.id ORDER BY customer_id)
		FROM upstreams u WHERE `+where, arg).
		Scan(&c.Upstream.ID, &c.Upstream.Name, &user, &c.SealedKey, &version, &c.Upstream.Active, &c.Upstream.Customers)
	if err != nil {
		return c, notFound(err, "upstream "+arg)
	}
	if user != nil {
		c.Upstream.AMQPUser = *user
	}
	if version != nil {
		c.KeyVersion = *version
	}
	return c, nil
}

func roleStrings(rs []payment.Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

// UpstreamIDs lists every registered upstream's id.
func (s *Store) UpstreamIDs(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM upstreams ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// CustomerIDs lists every customer's id.
func (s *Store) CustomerIDs(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM customers ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// CustomerSetReviewOTP sets a customer's review policy: with on (the
// default), an approval at review needs the reviewer's one-time password,
// as confirmation and authorization do.
func (s *Store) CustomerSetReviewOTP(ctx context.Context, customerID string, on bool, actor string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE customers SET review_otp = $2 WHERE id = $1`, customerID, on)
		if err != nil {
			return fmt.Errorf("review policy of customer %s: %w", customerID, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("customer %s: %w", customerID, payment.ErrNotFound)
		}
		return s.auditTx(ctx, tx, AuditEntry{Actor: actor, Event: "review_otp_set", Detail: fmt.Sprintf("customer %s review_otp=%v", customerID, on)})
	})
}
