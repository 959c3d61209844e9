package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/b2bpay/b2bpay/payment"
)

// maxTxAttempts bounds how often a transaction that lost a race (unique
// violation, serialization failure, deadlock) is run again from the start.
const maxTxAttempts = 4

// inTx runs fn in one transaction and commits. If the transaction lost a
// race to a concurrent one, it is run again from the start: the next attempt
// sees the winner's rows and decides accordingly.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	var err error
	for attempt := 1; attempt <= maxTxAttempts; attempt++ {
		err = s.tryTx(ctx, fn)
		if err == nil || !retryable(err) {
			return err
		}
	}
	return fmt.Errorf("postgres: gave up after %d attempts: %w", maxTxAttempts, err)
}

func (s *Store) tryTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// retryable reports whether err is a lost race that a fresh attempt resolves.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "23505", "40001", "40P01": // unique_violation, serialization_failure, deadlock_detected
		return true
	}
	return false
}

// notFound turns pgx.ErrNoRows into the domain's not-found error.
func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, payment.ErrNotFound)
	}
	return err
}

// constraintError turns a violated constraint of an administrative insert
// into a clear domain error.
func constraintError(err error, what string) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case "23505":
		return payment.Errorf(payment.CodeConflict, "%s already exists", what)
	case "23503":
		return payment.Errorf(payment.CodeNotFound, "%s refers to something that does not exist (%s)", what, pe.ConstraintName)
	case "23514", "22001", "22P02":
		return payment.Errorf(payment.CodeInvalidInput, "%s is not valid (%s)", what, pe.ConstraintName)
	}
	return err
}
