package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/payment"
)

// PaymentExpireDue expires up to limit payments that have waited in state
// longer than ttl (by updated_at), each with its timeline entry and
// status event, in one transaction. Rows are claimed with SKIP
// LOCKED, so concurrent runs share the work and never expire one twice.
func (s *Store) PaymentExpireDue(ctx context.Context, state payment.State, ttl time.Duration, limit int) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		n = 0
		now := s.cfg.Now().UTC()
		rows, err := tx.Query(ctx, `SELECT `+paymentColumns+` FROM payments
			WHERE state = $1 AND updated_at < $2 ORDER BY updated_at LIMIT $3 FOR UPDATE SKIP LOCKED`,
			string(state), now.Add(-ttl), limit)
		if err != nil {
			return err
		}
		due, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*payment.Payment, error) { return scanPayment(row) })
		if err != nil {
			return err
		}
		for _, p := range due {
			before := *p
			e, err := p.Apply(payment.ActionExpire, payment.Actor{Kind: payment.ActorSystem, ID: "expiry"}, now,
				fmt.Sprintf("waited %s in %s, longer than %s", now.Sub(before.UpdatedAt).Round(time.Second), before.State, ttl))
			if err != nil {
				return err
			}
			if err := s.moveTx(ctx, tx, &before, p, e); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// PaymentCancelByUpstream cancels the payment an upstream's request became,
// until it is authorized.
func (s *Store) PaymentCancelByUpstream(ctx context.Context, upstreamID, requestID, reason string) (*payment.Payment, error) {
	var out *payment.Payment
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		p, err := scanPayment(tx.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE upstream_id = $1 AND request_id = $2 FOR UPDATE`,
			upstreamID, requestID))
		if err != nil {
			return notFound(err, "payment for request "+requestID)
		}
		before := *p
		e, err := p.Cancel(payment.Actor{Kind: payment.ActorUpstream, ID: upstreamID}, reason, s.cfg.Now())
		if err != nil {
			return err
		}
		out = p
		return s.moveTx(ctx, tx, &before, p, e)
	})
	return out, err
}

// IntakeCancel cancels, for an upstream, the payment its request became,
// and answers: the state change on success (its state_changed event), or
// a refusal with its reason (frozen after authorization, unknown request).
func (s *Store) IntakeCancel(ctx context.Context, up payment.Upstream, c payment.CancelRequest, messageID string) (payment.Event, error) {
	p, err := s.PaymentCancelByUpstream(ctx, up.ID, c.RequestID, c.Reason)
	if err == nil {
		return payment.Event{Kind: payment.EventStateChanged, UpstreamID: up.ID, RequestID: c.RequestID, PaymentID: p.ID, State: p.State}, nil
	}
	if !payment.IsRefusal(err) {
		return payment.Event{}, err
	}
	id := up.ID + "/" + c.RequestID + "/cancel"
	if messageID != "" {
		id += "/" + messageID
	}
	ev := payment.RefusedEvent(id, up.ID, payment.Request{RequestID: c.RequestID}, messageID, err, s.cfg.Now())
	ev.Reason = payment.Text(ev.Reason)
	return ev, s.inTx(ctx, func(tx pgx.Tx) error { return s.eventTx(ctx, tx, ev, s.cfg.Now().UTC()) })
}
