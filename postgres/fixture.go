package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/seal"
)

// fixtureChunk is how many payments ApproveFixture reads at a time.
const fixtureChunk = 5000

// ApproveFixture writes, for every authorized payment that has no applied
// decision yet, the decisions that authorize it, sealed with key as the
// store seals them: the applicant's confirmation, a review and as many
// authorizations as the payment needs, by people it creates per customer
// (reviewer and authorizers). A fixture for tests and the benchmark that
// set payments authorized with SQL: without it the export claim holds
// them. It returns how many payments it approved. The rows it writes are
// named pgtest-… (the test kit's name, where the fixture began), so that
// they stand out from real approvals.
func ApproveFixture(ctx context.Context, pool *pgxpool.Pool, key *seal.Key) (int, error) {
	total := 0
	for {
		rows, err := pool.Query(ctx, `SELECT p.id::text, p.order_ref, p.customer_id, p.applicant_id, p.bank_id, p.debtor_account,
				p.creditor_name, p.creditor_account, p.creditor_bank_id, p.amount_minor, p.currency, p.remittance,
				p.execution_date, p.required_authorizers, p.updated_at
			FROM payments p WHERE p.state = 'authorized'
			AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.payment_id = p.id AND d.outcome = 'applied')
			ORDER BY p.id LIMIT $1`, fixtureChunk)
		if err != nil {
			return total, err
		}
		type due struct {
			p  payment.Payment
			at time.Time
		}
		ps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (due, error) {
			var d due
			p := &d.p
			err := row.Scan(&p.ID, &p.OrderRef, &p.CustomerID, &p.ApplicantID, &p.BankID, &p.DebtorAccount,
				&p.Creditor.Name, &p.Creditor.Account, &p.Creditor.BankID, &p.AmountMinor, &p.Currency, &p.Remittance,
				&p.ExecutionDate, &p.RequiredAuthorizers, &d.at)
			return d, err
		})
		if err != nil || len(ps) == 0 {
			return total, err
		}
		var decisions [][]any
		users := map[[2]string]bool{} // (customer, user)
		for _, d := range ps {
			p := &d.p
			digest := p.Digest()
			people := fixtureApprovers(p.CustomerID, p.RequiredAuthorizers)
			for _, u := range people {
				users[[2]string{p.CustomerID, u}] = true
			}
			steps := []struct {
				stage payment.Stage
				actor string
				step  int64
			}{{payment.StageConfirmation, p.ApplicantID, 1}, {payment.StageReview, people[0], 0}}
			for i, a := range people[1:] {
				steps = append(steps, struct {
					stage payment.Stage
					actor string
					step  int64
				}{payment.StageAuthorization, a, int64(2 + i)})
			}
			var prev []byte
			for i, s := range steps {
				sd := seal.Decision{PaymentID: p.ID, Digest: digest, ActorID: s.actor, Stage: s.stage, Verdict: payment.VerdictApprove,
					OTPStep: s.step, RequiredAuthorizers: p.RequiredAuthorizers, Seq: i + 1, Prev: prev}
				mac := key.Decision(sd)
				var step any
				if s.step != 0 {
					step = s.step
				}
				decisions = append(decisions, []any{fmt.Sprintf("pgtest-%s-%d", p.ID, i+1), p.ID, string(s.stage), string(payment.VerdictApprove),
					s.actor, "applied", digest, step, "{}", d.at, i + 1, mac})
				prev = mac
			}
		}
		for cu := range users {
			customer, id := cu[0], cu[1]
			if _, err := pool.Exec(ctx, `INSERT INTO users (id, customer_id, name, roles) VALUES ($1, $2, $1, ARRAY['reviewer', 'authorizer'])
				ON CONFLICT (id) DO NOTHING`, id, customer); err != nil {
				return total, fmt.Errorf("fixture approver %s: %w", id, err)
			}
		}
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"decisions"},
			[]string{"id", "payment_id", "stage", "verdict", "actor_id", "outcome", "digest", "otp_step", "result", "decided_at", "seal_seq", "mac"},
			pgx.CopyFromRows(decisions)); err != nil {
			return total, fmt.Errorf("approve fixture: %w", err)
		}
		total += len(ps)
	}
}

// approvers names a customer's fixture reviewer and n authorizers.
func fixtureApprovers(customerID string, n int) []string {
	sum := sha256.Sum256([]byte(customerID))
	tag := hex.EncodeToString(sum[:4])
	out := []string{"pgtest-reviewer-" + tag}
	for i := range max(n, 1) {
		out = append(out, fmt.Sprintf("pgtest-authorizer-%s-%d", tag, i+1))
	}
	return out
}
