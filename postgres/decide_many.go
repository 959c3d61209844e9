package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
)

// DecisionApplyMany applies, in one transaction, the decisions of a batch
// that pass every check: each payment and person is read and locked once
// for the whole batch, payment.Decide and the OTP check run as in
// DecisionApply, and the decisions, audit entries, payments, timelines and
// messages are written set by set. Whatever DecisionApply would refuse or
// treat specially (a repeated decision id, a cancel, a failed check, a
// second decision on the same payment or by the same person in the batch)
// is left alone and its index returned in rest, in order, for
// DecisionApply to handle one at a time after this commits. results[i] is set for every i
// not in rest.
func (s *Store) DecisionApplyMany(ctx context.Context, rs []approval.Decision) (results []approval.Result, rest []int, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		results, rest, err = s.decisionApplyManyTx(ctx, tx, rs)
		return err
	})
	slices.Sort(rest)
	return results, rest, err
}

// decisionUser is a person as the batch read them: who, and their OTP row.
type decisionUser struct {
	user payment.User
	otp  otpRow
}

func (s *Store) decisionApplyManyTx(ctx context.Context, tx pgx.Tx, rs []approval.Decision) ([]approval.Result, []int, error) {
	now := s.cfg.Now().UTC()
	results := make([]approval.Result, len(rs))
	var rest, todo []int
	seenPay, seenUser, seenID := map[string]bool{}, map[string]bool{}, map[string]bool{}
	var payIDs, userIDs, decIDs []string
	for i, r := range rs {
		if r.Verdict == approval.Cancel || validUUIDOrEmpty(r.PaymentID) == "" || r.UserID == "" ||
			seenPay[r.PaymentID] || seenUser[r.UserID] || seenID[r.DecisionID] {
			rest = append(rest, i)
			continue
		}
		seenPay[r.PaymentID], seenUser[r.UserID], seenID[r.DecisionID] = true, true, true
		payIDs, userIDs, decIDs = append(payIDs, r.PaymentID), append(userIDs, r.UserID), append(decIDs, r.DecisionID)
		todo = append(todo, i)
	}
	if len(todo) == 0 {
		return results, rest, nil
	}

	// Payments first, then people, each in id order: the order every
	// decision transaction takes its locks in.
	known := map[string]bool{}
	pays := map[string]*payment.Payment{}
	users := map[string]*decisionUser{}
	acted := map[string][]string{}
	authorizations := map[string]int{}
	limits := map[[2]string]int64{}
	chains := map[string]decisionSeal{} // each payment's last applied decision in the chain
	if s.cfg.Seal == nil {
		return nil, nil, errNoSeal
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT id FROM decisions WHERE id = ANY($1)`, decIDs).Query(func(rows pgx.Rows) error {
		return collect(rows, "decisions", func(row pgx.CollectableRow) error {
			var id string
			err := row.Scan(&id)
			known[id] = true
			return err
		})
	})
	b.Queue(`SELECT `+paymentColumns+` FROM payments WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, payIDs).Query(func(rows pgx.Rows) error {
		return collect(rows, "payments", func(row pgx.CollectableRow) error {
			p, err := scanPayment(row)
			if err == nil {
				pays[p.ID] = p
			}
			return err
		})
	})
	b.Queue(`SELECT id, customer_id, name, roles, active, otp_sealed, otp_last_step, otp_failures, otp_locked_until
		FROM users WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, userIDs).Query(func(rows pgx.Rows) error {
		return collect(rows, "users", func(row pgx.CollectableRow) error {
			var u decisionUser
			var roles []string
			err := row.Scan(&u.user.ID, &u.user.CustomerID, &u.user.Name, &roles, &u.user.Active,
				&u.otp.sealed, &u.otp.lastStep, &u.otp.failures, &u.otp.lockedUntil)
			u.user.Roles = toRoles(roles)
			users[u.user.ID] = &u
			return err
		})
	})
	b.Queue(`SELECT payment_id::text, actor_id, stage, coalesce(seal_seq, 0), mac FROM decisions WHERE payment_id = ANY($1::uuid[]) AND outcome = 'applied'`, payIDs).Query(func(rows pgx.Rows) error {
		return collect(rows, "applied decisions", func(row pgx.CollectableRow) error {
			var pay, who, stage string
			var seq int
			var mac []byte
			err := row.Scan(&pay, &who, &stage, &seq, &mac)
			acted[pay] = append(acted[pay], who)
			if stage == string(payment.StageAuthorization) {
				authorizations[pay]++
			}
			if h := chains[pay]; seq > h.seq {
				chains[pay] = decisionSeal{seq: seq, mac: mac}
			}
			return err
		})
	})
	reviewOTP := map[string]bool{}
	b.Queue(`SELECT id, review_otp FROM customers WHERE id IN (SELECT customer_id FROM payments WHERE id = ANY($1::uuid[]))`, payIDs).Query(func(rows pgx.Rows) error {
		return collect(rows, "customers", func(row pgx.CollectableRow) error {
			var id string
			var on bool
			err := row.Scan(&id, &on)
			reviewOTP[id] = on
			return err
		})
	})
	b.Queue(`SELECT user_id, currency, max_minor FROM user_limits WHERE user_id = ANY($1)`, userIDs).Query(func(rows pgx.Rows) error {
		return collect(rows, "limits", func(row pgx.CollectableRow) error {
			var user, currency string
			var limit int64
			err := row.Scan(&user, &currency, &limit)
			limits[[2]string{user, currency}] = limit
			return err
		})
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, err
	}

	var (
		ids, fromStates, states []string
		fromVersions            []int32
		heads                   [][]byte
		entries                 []payment.Entry
		digests                 []string
		decisions               []decisionRow
		audits                  []AuditEntry
		msgs                    []outbox.Message
		otpUsers                []string
		otpSteps                []int64
	)
	for _, i := range todo {
		r := rs[i]
		p, u := pays[r.PaymentID], users[r.UserID]
		if known[r.DecisionID] || p == nil || u == nil || u.user.CustomerID != p.CustomerID {
			// A repeat, an unknown payment or person, another customer's
			// payment: answered one at a time, as DecisionApply answers them.
			rest = append(rest, i)
			continue
		}
		f := payment.ApprovalFacts{Acted: acted[p.ID], Authorizations: authorizations[p.ID], RequiredAuthorizers: p.RequiredAuthorizers}
		if limit, ok := limits[[2]string{u.user.ID, p.Currency}]; ok {
			f.Limit = &limit
		}
		before := *p
		entry, err := p.Decide(payment.DecisionInput{Stage: r.Stage, Verdict: r.Verdict, Actor: u.user, Reason: r.Reason, Digest: r.Digest}, f, now)
		if err != nil {
			if !payment.IsRefusal(err) {
				return nil, nil, err
			}
			rest = append(rest, i) // refused: recorded, audited and answered one at a time
			continue
		}
		var step *int64
		on, ok := reviewOTP[p.CustomerID]
		if !ok {
			return nil, nil, fmt.Errorf("review policy of customer %s not read", p.CustomerID)
		}
		if payment.NeedsOTPFor(r.Stage, r.Verdict, on) {
			st, refusal, _, _ := otpJudge(u.user.ID, u.otp, r.OTP, s.cfg.OTPOpener, s.cfg.OTPPolicy.withDefaults().Options, now)
			if refusal != nil { // refused, audited and counted one at a time
				*p = before
				rest = append(rest, i)
				continue
			}
			step = &st
			entry.OTPStep = st
			otpUsers, otpSteps = append(otpUsers, u.user.ID), append(otpSteps, st)
			audits = append(audits, AuditEntry{UserID: u.user.ID, Actor: "user:" + u.user.ID, Event: "otp_ok", PaymentID: p.ID,
				Detail: fmt.Sprintf("purpose=%s step=%d", r.Stage, st)})
		}
		res := approval.Result{Schema: approval.ResultSchema, DecisionID: r.DecisionID, PaymentID: p.ID,
			Outcome: approval.Applied, State: p.State, At: now}
		if p.State == payment.StateAuthorized && s.cfg.NextCutoff != nil {
			next := s.cfg.NextCutoff(now)
			res.NextCutoff = &next
		}
		raw, err := json.Marshal(res)
		if err != nil {
			return nil, nil, err
		}
		var session any
		if validUUIDOrEmpty(r.SessionID) != "" {
			session = r.SessionID
		}
		head := chains[p.ID]
		decisions = append(decisions, decisionRow{r: r, raw: raw, pay: p.ID, actor: u.user.ID, session: session,
			outcome: approval.Applied, step: step, at: now, seal: s.sealDecision(p, u.user.ID, r, entry.OTPStep, head.seq, head.mac)})
		digests = append(digests, p.Digest())
		audits = append(audits, AuditEntry{UserID: u.user.ID, Actor: "user:" + u.user.ID, Event: "decision_applied",
			PaymentID: p.ID, Detail: fmt.Sprintf("%s %s: %s -> %s", r.Stage, r.Verdict, entry.From, entry.To)})
		ids, fromVersions, fromStates = append(ids, p.ID), append(fromVersions, int32(before.Version)), append(fromStates, string(before.State))
		states, heads, entries = append(states, string(p.State)), append(heads, p.HeadHash), append(entries, entry)

		// What follows, in DecisionApply's order: the status event, the
		// next task (counting this authorization), the result.
		done := f.Authorizations
		if r.Stage == payment.StageAuthorization && r.Verdict == payment.VerdictApprove {
			done++
		}
		follow, err := s.changeMessages(p, entry, done)
		if err != nil {
			return nil, nil, err
		}
		result, err := s.resultMessages(res, r.ReplyTo)
		if err != nil {
			return nil, nil, err
		}
		msgs = append(append(msgs, follow...), result...)
		results[i] = res
	}
	if len(decisions) == 0 {
		return results, rest, nil
	}

	if len(otpUsers) > 0 {
		tag, err := tx.Exec(ctx, `UPDATE users SET otp_last_step = u.step, otp_failures = 0, otp_locked_until = NULL
			FROM unnest($1::text[], $2::bigint[]) AS u(id, step) WHERE users.id = u.id AND users.otp_last_step < u.step`, otpUsers, otpSteps)
		if err != nil {
			return nil, nil, fmt.Errorf("record OTP steps: %w", err)
		}
		if int(tag.RowsAffected()) != len(otpUsers) {
			// Impossible while the rows are locked; never guess.
			return nil, nil, fmt.Errorf("record OTP steps: %d of %d users updated", tag.RowsAffected(), len(otpUsers))
		}
	}
	if err := decisionCopyTx(ctx, tx, decisions); err != nil {
		return nil, nil, err
	}
	if err := s.auditCopyTx(ctx, tx, audits); err != nil {
		return nil, nil, err
	}
	if err := paymentsUpdateTx(ctx, tx, now, ids, fromVersions, fromStates, states, heads); err != nil {
		return nil, nil, err
	}
	if err := s.timelineCopyTx(ctx, tx, entries, digests); err != nil {
		return nil, nil, err
	}
	if err := outboxCopyTx(ctx, tx, msgs, now); err != nil {
		return nil, nil, err
	}
	return results, rest, nil
}
