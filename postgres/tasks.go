package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/httpapi"
	"github.com/b2bpay/b2bpay/payment"
)

// taskPaymentColumns is paymentColumns of the payments row p.
var taskPaymentColumns = "p." + strings.Join(paymentColumnList, ", p.")

// taskSQL is the query of a stage's task list, after a cursor or not. The
// state is written into the text, never a parameter, so the planner matches
// the partial indexes of migration 0012 in every plan, generic ones too:
// payments_confirmation_tasks (applicant_id, execution_date, updated_at,
// id) for confirmation, payments_tasks (customer_id, state,
// execution_date, updated_at, id) for review and authorization. The index
// gives the order; the keyset condition starts the scan at the cursor; the
// exclusions filter the rows as they come; the LIMIT stops it.
//
// $1 the person, $2 their customer, $3 the page size, $4-$6 the cursor.
func taskSQL(s payment.Stage, after bool) string {
	var who string
	if s == payment.StageConfirmation {
		// The applicant's own payments.
		who = `p.applicant_id = $1`
	} else {
		// Nobody who applied for it or already acted on it (the reviewer at
		// authorization, an authorizer who gave the first of two).
		who = `p.applicant_id <> $1
			AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.payment_id = p.id AND d.actor_id = $1 AND d.outcome = 'applied')`
	}
	keyset := ""
	if after {
		keyset = `AND (p.execution_date, p.updated_at, p.id) > ($4::date, $5::timestamptz, $6::uuid)`
	}
	return `SELECT ` + taskPaymentColumns + `, l.max_minor,
			coalesce((SELECT jsonb_agg(jsonb_build_object('actor', d.actor_id, 'stage', d.stage, 'verdict', d.verdict, 'at', d.decided_at)
				ORDER BY d.decided_at, d.seal_seq)
				FROM decisions d WHERE d.payment_id = p.id AND d.outcome = 'applied'), '[]')
		FROM payments p
		LEFT JOIN user_limits l ON l.user_id = $1 AND l.currency = p.currency
		WHERE p.customer_id = $2 AND p.state = '` + string(s.State()) + `'
			AND ` + who + `
			AND EXISTS (SELECT 1 FROM users u WHERE u.id = $1 AND u.active AND u.customer_id = $2 AND '` + string(s.Role()) + `' = ANY (u.roles))
			AND (l.max_minor IS NULL OR p.amount_minor <= l.max_minor)
			` + keyset + `
		ORDER BY p.execution_date, p.updated_at, p.id
		LIMIT $3`
}

// taskPlanSetting is set for the task query's transaction: see
// TaskCandidates.
const taskPlanSetting = `SET LOCAL enable_sort = off`

// TaskCandidates returns the person and one page of the payments waiting
// for them at q.Stage that they may decide, most urgent first (see
// httpapi.TaskCursor), each with its applied decisions and the person's
// limit in its currency. The selection is the SQL form of
// payment.MayDecide for an approval; the API applies the rule itself to
// each row again.
func (s *Store) TaskCandidates(ctx context.Context, q httpapi.TaskQuery) (payment.User, []httpapi.TaskCandidate, error) {
	if !q.Stage.Valid() {
		return payment.User{}, nil, payment.FieldErrorf(payment.CodeInvalidInput, "stage", "%q is not a stage", payment.Clip(string(q.Stage), 64))
	}
	if q.Limit < 1 || q.Limit > httpapi.MaxPageSize {
		return payment.User{}, nil, payment.FieldErrorf(payment.CodeInvalidInput, "limit", "%d is not between 1 and %d", q.Limit, httpapi.MaxPageSize)
	}
	if q.After != nil && !canonicalUUID(q.After.ID) {
		return payment.User{}, nil, payment.FieldErrorf(payment.CodeInvalidInput, "after", "%q is not a payment id", payment.Clip(q.After.ID, 64))
	}
	var person payment.User
	var out []httpapi.TaskCandidate
	b := &pgx.Batch{}
	// The index gives the order: never sort. Without this the planner,
	// which misjudges how many rows the keyset condition and the
	// exclusions keep, may read every waiting payment of the stage with a
	// bitmap scan and sort them for one page (measured on 1,000,000
	// payments, 10,000 waiting at the stage: a page of 500 read 5,229
	// rows and sorted them; the index scan reads 972 and stops).
	b.Queue(taskPlanSetting)
	b.Queue(`SELECT id, customer_id, name, roles, active FROM users WHERE id = $1`, q.UserID).Query(func(rows pgx.Rows) error {
		return collect(rows, "person", func(row pgx.CollectableRow) error {
			var roles []string
			err := row.Scan(&person.ID, &person.CustomerID, &person.Name, &roles, &person.Active)
			person.Roles = toRoles(roles)
			return err
		})
	})
	args := []any{q.UserID, q.CustomerID, q.Limit}
	if q.After != nil {
		args = append(args, q.After.ExecutionDate, q.After.UpdatedAt.UTC(), q.After.ID)
	}
	b.Queue(taskSQL(q.Stage, q.After != nil), args...).Query(func(rows pgx.Rows) error {
		return collect(rows, "tasks", func(row pgx.CollectableRow) error {
			var c httpapi.TaskCandidate
			var applied []byte
			p, err := scanPaymentExtra(row, &c.Limit, &applied)
			if err != nil {
				return err
			}
			c.Payment = p
			if c.Applied, err = decodeApplied(applied); err != nil {
				return fmt.Errorf("decisions of payment %s: %w", p.ID, err)
			}
			out = append(out, c)
			return nil
		})
	})
	// One read-only transaction: one snapshot for the person and the
	// payments, and SET LOCAL ends with it.
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return payment.User{}, nil, fmt.Errorf("tasks of %s at %s: %w", q.UserID, q.Stage, err)
	}
	if out == nil {
		out = []httpapi.TaskCandidate{}
	}
	return person, out, nil
}

// decodeApplied reads the applied decisions the task query aggregates.
func decodeApplied(raw []byte) ([]httpapi.AppliedDecision, error) {
	var rows []struct {
		Actor   string    `json:"actor"`
		Stage   string    `json:"stage"`
		Verdict string    `json:"verdict"`
		At      time.Time `json:"at"`
	}
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, err
	}
	out := make([]httpapi.AppliedDecision, len(rows))
	for i, r := range rows {
		out[i] = httpapi.AppliedDecision{ActorID: r.Actor, Stage: payment.Stage(r.Stage), Verdict: payment.Verdict(r.Verdict), At: r.At.UTC()}
	}
	return out, nil
}
